// A result over TilerPreviewAbovePixels is never loaded by the browser: the
// upload page and the job page show a 2048-pixel preview made from it; one
// under the threshold is shown itself.
// Usage: node preview.mjs BASE_URL BIG_IMAGE SMALL_JOB_ID ARTIFACT_DIR
// Prints "ok - ..." / "not ok - ..." lines, then "RESULT <json>" with the
// number of checks made, so that a run that stopped early cannot pass.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, bigImage, smallJob, artifacts] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
let failed = 0, checks = 0;
function check(cond, what) {
  checks++;
  console.log(`${cond ? 'ok' : 'not ok'} - ${what}`);
  if (!cond) failed++;
}
const natural = (page, sel) => page.$eval(sel, (i) => [i.naturalWidth, i.naturalHeight, i.getAttribute('src')]);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
         '--no-first-run', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 1200, height: 860 } })).newPage();
  const errors = [], fetched = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('request', (req) => fetched.push(req.url()));
  const wholeResults = () => fetched.filter((u) => /\/api\/jobs\/[0-9a-f]{32}\/result$/.test(u));

  // ---- the upload page, over the threshold ----
  await page.goto(base, { waitUntil: 'load' });
  await page.setInputFiles('#image', bigImage);
  await page.fill('#ops', 'grayscale');
  await page.click('#process');
  await page.waitForSelector('#result:not([hidden])', { timeout: 120000 });
  await page.waitForFunction(() => { const i = document.getElementById('preview'); return i.complete && i.naturalWidth > 0; });
  let [w, h, src] = await natural(page, '#preview');
  check(w === 2048 && h === 819, `the upload page shows a 2048-pixel preview of the 2500 x 1000 result (${w} x ${h}, ${src})`);
  const href = await page.getAttribute('#download', 'href');
  const job = (href.match(/jobs\/([0-9a-f]{32})\/result$/) || [])[1];
  check(!!job, `the download link is the result itself (${href})`);
  await page.screenshot({ path: `${artifacts}/preview-upload.png`, fullPage: true });

  // ---- its job page ----
  await page.goto(`${base}jobs/${job}`, { waitUntil: 'load' });
  await page.waitForFunction(() => { const i = document.getElementById('result'); return i.complete && i.naturalWidth > 0; });
  [w, h, src] = await natural(page, '#result');
  check(w === 2048 && h === 819, `the job page shows the preview too (${w} x ${h}, ${src})`);
  check(await page.isVisible('#preview-note'), 'and says it is a preview');
  await page.screenshot({ path: `${artifacts}/preview-job.png`, fullPage: true });
  check(wholeResults().length === 0, `the browser never fetched the whole result (${wholeResults().join(' ')})`);

  // ---- a job page under the threshold: the result itself ----
  await page.goto(`${base}jobs/${smallJob}`, { waitUntil: 'load' });
  await page.waitForFunction(() => { const i = document.getElementById('result'); return i.complete && i.naturalWidth > 0; });
  [w, h, src] = await natural(page, '#result');
  check(w === 400 && h === 300 && /\/result$/.test(src), `under the threshold the page shows the result (${w} x ${h}, ${src})`);
  check(!(await page.isVisible('#preview-note')), 'with no preview note');
  check(errors.length === 0, `no script errors (${errors.join('; ')})`);
} finally {
  await browser.close();
}
console.log('RESULT ' + JSON.stringify({ checks }));
process.exit(failed ? 1 : 0);
