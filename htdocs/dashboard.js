// The dashboard: workers and jobs, live from the Server-Sent Events stream
// ({loc}/api/events), or by polling the JSON endpoints when the stream is
// refused or unavailable.
'use strict';
(function () {
  const jobs = new Map();            // id -> job
  const workers = new Map();         // id -> worker
  const workerHistory = new Map();   // id -> [{t, tiles}]
  const progress = [];               // [{t, tiles, px}] increments seen on this page
  const WINDOW = 60000;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function seconds(a, b) { return ((b - a) / 1000).toFixed(1) + ' s'; }

  function onJob(j) {
    const old = jobs.get(j.id);
    if (old && j.tiles_done > old.tiles_done) {
      const tiles = j.tiles_done - old.tiles_done;
      progress.push({ t: Date.now(), tiles, px: j.width * j.height * tiles / j.tiles_total });
    }
    jobs.set(j.id, j);
  }
  function onWorkers(list) {
    const now = Date.now();
    workers.clear();
    list.forEach((w) => {
      workers.set(w.id, w);
      const h = workerHistory.get(w.id) || [];
      h.push({ t: now, tiles: w.tiles_done });
      while (h.length > 1 && now - h[0].t > WINDOW) h.shift();
      workerHistory.set(w.id, h);
    });
  }
  function render() {
    const now = Date.now();
    while (progress.length && now - progress[0].t > WINDOW) progress.shift();
    const span = Math.min(WINDOW, now - started) / 1000 || 1;
    const tiles = progress.reduce((s, p) => s + p.tiles, 0), px = progress.reduce((s, p) => s + p.px, 0);
    document.getElementById('tiles-rate').textContent = (tiles / span).toFixed(1);
    document.getElementById('mp-rate').textContent = (px / 1e6 / span).toFixed(2);

    const wb = document.querySelector('#workers tbody');
    wb.textContent = '';
    [...workers.values()].sort((a, b) => a.id.localeCompare(b.id)).forEach((w) => {
      const h = workerHistory.get(w.id) || [];
      const rate = h.length > 1 ? (h[h.length - 1].tiles - h[0].tiles) / ((h[h.length - 1].t - h[0].t) / 1000 || 1) : 0;
      const tr = el('tr');
      tr.dataset.worker = w.id;
      tr.append(el('td', w.id), el('td', w.host), el('td', w.state, 'state-' + w.state),
                el('td', w.last_heartbeat_age_s.toFixed(1) + ' s ago'), el('td', String(w.tiles_done)),
                el('td', rate.toFixed(1)));
      wb.appendChild(tr);
    });

    const jb = document.querySelector('#jobs tbody');
    jb.textContent = '';
    [...jobs.values()].sort((a, b) => (a.created < b.created ? 1 : -1)).forEach((j) => {
      const tr = el('tr');
      tr.dataset.job = j.id;
      const thumb = el('td');
      if (j.state === 'done') {
        const img = el('img');
        img.src = j.result_url + '?thumb=96';
        img.alt = 'thumbnail';
        thumb.appendChild(img);
      }
      const link = el('a', j.id.slice(0, 8));
      link.href = 'jobs/' + j.id;
      const bar = el('progress');
      bar.max = j.tiles_total;
      bar.value = j.tiles_done;
      const prog = el('td');
      prog.append(bar, el('span', ' ' + j.tiles_done + '/' + j.tiles_total));
      const end = j.finished ? Date.parse(j.finished) : now;
      const id = el('td');
      id.appendChild(link);
      tr.append(thumb, id, el('td', j.state, 'state-' + j.state), prog, el('td', j.width + '×' + j.height),
                el('td', j.ops), el('td', seconds(Date.parse(j.created), end)));
      jb.appendChild(tr);
    });
  }

  const started = Date.now();
  const live = document.getElementById('live');
  let polling = false;
  function poll() {
    polling = true;
    live.textContent = 'Polling every 2 s.';
    Promise.all([
      fetch('api/jobs').then((r) => r.json()).then((d) => d.jobs.forEach(onJob)),
      fetch('api/workers').then((r) => (r.ok ? r.json() : { workers: [] })).then((d) => onWorkers(d.workers)),
    ]).catch(() => {}).finally(() => { render(); setTimeout(poll, 2000); });
  }
  if (window.EventSource) {
    const es = new EventSource('api/events');
    es.onopen = () => { live.textContent = 'Live.'; };
    es.addEventListener('job', (ev) => { onJob(JSON.parse(ev.data)); render(); });
    es.addEventListener('workers', (ev) => { onWorkers(JSON.parse(ev.data).workers); render(); });
    es.onerror = () => { if (es.readyState === EventSource.CLOSED && !polling) poll(); };
    setInterval(render, 1000);
  } else {
    poll();
  }
})();
