// The job page of a result whose pyramid is still being built shows the
// preview, and replaces it with the zoomable view once the pyramid is there,
// without a reload. Usage: node zoom-wait.mjs BASE_URL JOB_ID ARTIFACT_DIR
// Prints "WAITING" once the page is seen waiting (the test then lets the
// pyramid be built), "ok - ..." / "not ok - ..." lines, then "RESULT <json>".
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, job, artifacts] = process.argv.slice(2);
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
         '--no-first-run', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
  const errors = [], asked = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (req) => { if (/zoom\.dzi$/.test(req.url()) && req.method() === 'HEAD') asked.push(req.url()); });
  await page.goto(`${base}jobs/${job}`, { waitUntil: 'load' });
  await page.waitForFunction(() => { const i = document.getElementById('result'); return i.complete && i.naturalWidth > 0; });
  // Asked once and answered 409: the page is waiting.
  await page.waitForFunction(() => performance.getEntriesByType('resource').some((e) => /zoom\.dzi$/.test(e.name)),
                             null, { timeout: 30000 });
  check(await page.isVisible('#result'), 'while the pyramid is built the page shows the preview');
  check(!(await page.isVisible('#zoom')), 'and no zoomable view yet');
  console.log('WAITING');
  await page.waitForFunction(() => {
    const v = window.tilerZoom, item = v && v.world.getItemAt(0);
    return !!item && item.getFullyLoaded() && !v.world.needsDraw();
  }, null, { timeout: 90000 });
  check(await page.isVisible('#zoom') && !(await page.isVisible('#result')),
        `once built, the view replaces the preview without a reload (after ${asked.length} looks at zoom.dzi)`);
  await page.screenshot({ path: `${artifacts}/zoom-waited.png`, fullPage: true });
  check(errors.length === 0, `no script errors (${errors.join('; ')})`);
} finally {
  await browser.close();
}
console.log('RESULT ' + JSON.stringify({ checks }));
process.exit(failed ? 1 : 0);
