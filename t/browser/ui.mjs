// Drives Debian's Chromium through the upload page and the dashboard.
// Usage: node ui.mjs BASE_URL IMAGE DOWNLOAD_TO ARTIFACT_DIR BIG_IMAGE
// Prints "ok - ..." / "not ok - ..." lines, then "RESULT <json>".
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';

const [base, image, downloadTo, artifacts, bigImage] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
let failed = 0;
const result = {};
function check(cond, what) {
  console.log(`${cond ? 'ok' : 'not ok'} - ${what}`);
  if (!cond) failed++;
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
         '--no-first-run', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 860 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  // ---- upload page ----
  await page.goto(base, { waitUntil: 'load' });
  check(await page.isVisible('#builder'), 'the op-chain builder shows with JavaScript');
  await page.fill('#ops', '');
  check(!(await page.isVisible('#sigma')), 'grayscale, selected at first, shows no parameter');
  await page.selectOption('#op-kind', 'sharpen');
  await page.fill('#sigma', '1.5');
  await page.fill('#amount', '2.25');
  await page.click('#add-op');
  await page.selectOption('#op-kind', 'brightness');
  await page.fill('#sigma', '-20');
  await page.click('#add-op');
  check((await page.inputValue('#ops')) === 'sharpen:1.5:2.25,brightness:-20', `the builder writes sharpen and brightness (${await page.inputValue('#ops')})`);
  await page.fill('#ops', '');
  await page.selectOption('#op-kind', 'grayscale');
  await page.click('#add-op');
  await page.selectOption('#op-kind', 'blur');
  await page.fill('#sigma', '2');
  await page.click('#add-op');
  await page.selectOption('#op-kind', 'invert');
  await page.click('#add-op');
  await page.selectOption('#op-kind', 'rotate');
  check((await page.isVisible('#choice')) && !(await page.isVisible('#sigma'))
        && (await page.textContent('#choice-label')) === 'degrees', 'rotate: a choice of degrees, no number field');
  await page.selectOption('#choice', '270');
  await page.click('#add-op');
  await page.selectOption('#op-kind', 'flip');
  const ways = await page.$$eval('#choice option', (os) => os.map((o) => o.value).join(' '));
  check(ways === 'h v', `flip offers h and v (${ways})`);
  await page.selectOption('#op-kind', 'edges');
  check(!(await page.isVisible('#choice')), 'edges: the choice hides too');
  check(!(await page.isVisible('#sigma')), 'edges takes no parameter: its field hides');
  await page.selectOption('#op-kind', 'threshold');
  check((await page.isVisible('#sigma')) && (await page.textContent('#param-label')) === 'threshold'
        && (await page.inputValue('#sigma')) === '128', 'threshold: its parameter, named, with its default');
  const ops = await page.inputValue('#ops');
  check(ops === 'grayscale,blur:2,invert,rotate:270', `the builder made the chain (${ops})`);
  check((await page.locator('#chain li').count()) === 4, 'the chain lists four ops');
  await page.check('input[name=format][value=png]');
  // Drag and drop: a drop event carrying the file fills the file field.
  const bytes = readFileSync(image).toString('base64');
  await page.evaluate((b64) => {
    const raw = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([raw], 'dropped.png', { type: 'image/png' }));
    const drop = document.getElementById('drop');
    drop.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    drop.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, bytes);
  const dropped = await page.evaluate(() => { const f = document.getElementById('image').files; return f.length ? f[0].name : ''; });
  check(dropped === 'dropped.png', `a dropped file lands in the form (${dropped})`);
  await page.screenshot({ path: `${artifacts}/upload.png`, fullPage: true });
  await page.click('#process');
  await page.waitForFunction(() => document.getElementById('upload-pct').textContent === '100%', null, { timeout: 60000 });
  check(true, 'upload progress reached 100%');
  await page.waitForSelector('#result:not([hidden])', { timeout: 120000 });
  const tilePct = await page.textContent('#tile-pct');
  check(tilePct === '100%', `tile progress reached 100% (${tilePct})`);
  const jobState = await page.textContent('#job-state');
  check(jobState === 'done', `the page says done (${jobState})`);
  await page.waitForFunction(() => { const i = document.getElementById('preview'); return i.complete && i.naturalWidth > 0; });
  check(true, 'the result preview loaded');
  const href = await page.getAttribute('#download', 'href');
  result.job = (href.match(/jobs\/([0-9a-f]{32})\/result/) || [])[1];
  check(!!result.job, `the download link names the job (${href})`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  await download.saveAs(downloadTo);
  check(true, `downloaded the result as ${download.suggestedFilename()}`);
  await page.screenshot({ path: `${artifacts}/upload-done.png`, fullPage: true });

  // ---- the job page ----
  await page.goto(`${base}jobs/${result.job}`, { waitUntil: 'load' });
  check((await page.textContent('#state')) === 'Done', 'the job page says Done');
  await page.screenshot({ path: `${artifacts}/job.png`, fullPage: true });

  // ---- the dashboard ----
  await page.goto(`${base}dashboard.html`, { waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelectorAll('#workers tbody td.state-alive').length >= 2, null, { timeout: 30000 });
  check(true, 'the dashboard shows two live workers');
  await page.waitForSelector(`#jobs tr[data-job="${result.job}"] td.state-done`, { timeout: 30000 });
  check(true, 'the dashboard lists the job as done');
  await page.waitForFunction((id) => {
    const img = document.querySelector(`#jobs tr[data-job="${id}"] img`);
    return img && img.complete && img.naturalWidth > 0;
  }, result.job, { timeout: 30000 });
  check(true, 'the job has a thumbnail');
  check((await page.textContent('#live')) === 'Live.', 'the dashboard is live on the event stream');
  await page.screenshot({ path: `${artifacts}/dashboard.png`, fullPage: true });

  // ---- the dashboard opened fresh in the middle of a job ----
  // Its rates are the monitor's, so they show at once, not after the page
  // has watched for a while. First make sure the monitor has measured the
  // workers busy (its rates come from their heartbeats). The job is long
  // enough to be still running by then on a fast system (it is deleted once
  // seen, so its length costs nothing).
  const started = await fetch(`${base}api/jobs?ops=blur:24,blur:24,blur:24,blur:24,blur:24,blur:24`, {
    method: 'POST', body: readFileSync(bigImage), headers: { 'Content-Type': 'image/png' },
  });
  const long = (await started.json()).id;
  let busy = null;
  for (let i = 0; i < 600 && !busy; i++) {
    const w = await (await fetch(`${base}api/workers`)).json();
    const j = await (await fetch(`${base}api/jobs/${long}`)).json();
    if (j.state === 'running' && w.totals && w.totals.tiles_per_second > 0) busy = w.totals.tiles_per_second;
    else await new Promise((r) => setTimeout(r, 100));
  }
  check(busy !== null, `a long job runs and the monitor measures the workers busy (${busy} tiles/s)`);
  const fresh = await context.newPage();
  fresh.on('pageerror', (e) => errors.push(String(e)));
  await fresh.goto(`${base}dashboard.html`, { waitUntil: 'load' });
  // The first moment it shows the workers and the job, before it could have
  // counted anything itself.
  const seen = await (await fresh.waitForFunction((id) => {
    const rows = [...document.querySelectorAll('#workers tbody tr')];
    const job = document.querySelector(`#jobs tr[data-job="${id}"] td.state-running`);
    if (!rows.length || !job) return false;
    return { tiles: document.getElementById('tiles-rate').textContent, mp: document.getElementById('mp-rate').textContent,
             workers: rows.map((tr) => tr.lastChild.textContent) };
  }, long, { timeout: 30000, polling: 'raf' })).jsonValue();
  check(parseFloat(seen.tiles) > 0, `opened mid-job, the dashboard shows the cluster's tiles/s at once (${seen.tiles})`);
  check(parseFloat(seen.mp) > 0, `and megapixels/s (${seen.mp})`);
  check(seen.workers.some((r) => parseFloat(r) > 0), `and the workers' own tiles/s (${seen.workers.join(', ')})`);
  await fresh.screenshot({ path: `${artifacts}/dashboard-mid-job.png`, fullPage: true });
  await fetch(`${base}api/jobs/${long}`, { method: 'DELETE' });
  check(errors.length === 0, `no JavaScript errors (${errors.join('; ')})`);
} catch (e) {
  check(false, `browser run: ${e.message.split('\n')[0]}`);
} finally {
  await browser.close();
}
console.log('RESULT ' + JSON.stringify(result));
process.exit(failed ? 1 : 0);
