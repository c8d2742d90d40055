// The job page of a result over TilerPreviewAbovePixels shows an
// OpenSeadragon view of its zoom pyramid; zoomed to the highest level at
// 1:1 (an image pixel on a canvas pixel), the canvas holds the result's own
// pixels: read back (same origin, so the canvas is not tainted) and
// compared exactly with the result decoded by the same browser.
// Usage: node zoom.mjs BASE_URL JOB_ID WIDTH HEIGHT ARTIFACT_DIR
// Prints "ok - ..." / "not ok - ..." lines, then "RESULT <json>" with the
// number of checks made, so that a run that stopped early cannot pass.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, job, width, height, artifacts] = process.argv.slice(2);
const W = Number(width), H = Number(height);
mkdirSync(artifacts, { recursive: true });
let failed = 0, checks = 0;
function check(cond, what) {
  checks++;
  console.log(`${cond ? 'ok' : 'not ok'} - ${what}`);
  if (!cond) failed++;
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
         '--no-first-run', '--disable-component-update', '--disable-sync', '--force-device-scale-factor=1'],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 1200, height: 900 }, deviceScaleFactor: 1 })).newPage();
  const errors = [], outside = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('request', (req) => { if (!req.url().startsWith(new URL(base).origin)) outside.push(req.url()); });

  await page.goto(`${base}jobs/${job}`, { waitUntil: 'load' });
  // Drawn: the viewer exists, its image is open and every tile it wants is loaded and drawn.
  const settled = () => page.waitForFunction(() => {
    const v = window.tilerZoom, item = v && v.world.getItemAt(0);
    return !!item && item.getFullyLoaded() && !v.world.needsDraw();
  }, null, { timeout: 60000 });
  await settled();
  check(await page.isVisible('#zoom'), 'the job page shows the zoomable view');
  check(!(await page.isVisible('#result')), 'in place of the preview');
  const size = await page.evaluate(() => {
    const item = window.tilerZoom.world.getItemAt(0).getContentSize();
    return [item.x, item.y];
  });
  check(size[0] === W && size[1] === H, `of the whole result (${size.join(' x ')})`);
  await page.screenshot({ path: `${artifacts}/zoom-fit.png`, fullPage: true });

  // 1:1 on a region that crosses tile boundaries (256, 512, 768).
  const region = await page.evaluate(([W, H]) => {
    const v = window.tilerZoom, c = v.drawer.canvas;
    const cw = c.width, ch = c.height;
    const x0 = Math.max(0, Math.min(230, W - cw)), y0 = Math.max(0, Math.min(150, H - ch));
    v.viewport.fitBounds(v.viewport.imageToViewportRectangle(x0, y0, cw, ch), true);
    v.forceRedraw();
    return { x0, y0, cw, ch, css: [v.container.clientWidth, v.container.clientHeight] };
  }, [W, H]);
  await settled();
  // Two frames more: the last draw has reached the canvas.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const scale = await page.evaluate(() => window.tilerZoom.viewport.viewportToImageZoom(window.tilerZoom.viewport.getZoom(true)));
  check(Math.abs(scale - 1) < 1e-9, `zoomed to 1:1 (image zoom ${scale}; canvas ${region.cw} x ${region.ch} at ${region.x0}, ${region.y0})`);
  check(region.cw >= 256 && region.ch >= 256, `over more than a tile (${region.cw} x ${region.ch})`);
  const level = await page.evaluate(() => {
    const item = window.tilerZoom.world.getItemAt(0);
    return Math.max(...item.getTilesToDraw().map((t) => t.tile.level));
  });
  check(level === Math.ceil(Math.log2(Math.max(W, H))), `drawn from the highest level (${level})`);
  await page.screenshot({ path: `${artifacts}/zoom-1to1.png`, fullPage: true });

  // The canvas against the result decoded here, pixel by pixel, RGBA.
  const cmp = await page.evaluate(async ([b, job, r]) => {
    const drawn = window.tilerZoom.drawer.canvas.getContext('2d').getImageData(0, 0, r.cw, r.ch).data;
    const blob = await (await fetch(`${b}api/jobs/${job}/result`)).blob();
    const bmp = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const oc = new OffscreenCanvas(r.cw, r.ch), ctx = oc.getContext('2d');
    ctx.drawImage(bmp, r.x0, r.y0, r.cw, r.ch, 0, 0, r.cw, r.ch);
    const want = ctx.getImageData(0, 0, r.cw, r.ch).data;
    let diff = 0, worst = 0, first = -1;
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(want[i] - drawn[i]);
      if (d) { diff++; if (first < 0) first = i; }
      if (d > worst) worst = d;
    }
    // Diagnosis, for a failure: the shift under which the two agree best.
    let best = null;
    if (diff) for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
      let n = 0;
      for (let y = 4; y < r.ch - 4; y += 3) for (let x = 4; x < r.cw - 4; x += 3) {
        const i = (y * r.cw + x) * 4, k = ((y + dy) * r.cw + x + dx) * 4;
        if (drawn[i] !== want[k]) n++;
      }
      if (!best || n < best.n) best = { dx, dy, n };
    }
    const at = first < 0 ? null : [((first >> 2) % r.cw) + r.x0, Math.floor((first >> 2) / r.cw) + r.y0];
    return { n: want.length / 4, diff, worst, at, best };
  }, [base, job, region]);
  check(cmp.diff === 0, `all ${cmp.n} pixels drawn equal the result's (${cmp.diff} samples differ, ` +
        `worst by ${cmp.worst}${cmp.at ? ', first at ' + cmp.at.join(', ') + ', best shift ' + JSON.stringify(cmp.best) : ''})`);
  check(outside.length === 0, `nothing was fetched from outside the server (${outside.join(' ')})`);
  check(errors.length === 0, `no script errors (${errors.join('; ')})`);
} finally {
  await browser.close();
}
console.log('RESULT ' + JSON.stringify({ checks }));
process.exit(failed ? 1 : 0);
