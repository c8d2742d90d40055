// The dashboard: workers and jobs, live from the Server-Sent Events stream
// ({loc}/api/events), or by polling the JSON endpoints when the stream is
// refused or unavailable.
'use strict';
(function () {
  const jobs = new Map();            // id -> job
  const workers = new Map();         // id -> worker
  // Rates are tiler-monitor's (its snapshot, in the workers event and at
  // api/workers): each worker's tiles/s over about the last 10 s of heartbeats, and
  // their sum. Counting only what this page saw since it opened would show
  // 0.0 for a page opened in the middle of a job.
  let clusterRate = null;            // tiles/s; null: no monitor data

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function seconds(a, b) { return ((b - a) / 1000).toFixed(1) + ' s'; }

  function onJob(j) { jobs.set(j.id, j); }
  function onWorkers(snapshot) {
    workers.clear();
    (snapshot.workers || []).forEach((w) => workers.set(w.id, w));
    clusterRate = snapshot.totals ? snapshot.totals.tiles_per_second : null;
  }
  // Megapixels per second: the monitor counts tiles, not pixels, so the
  // tiles/s are spread over the running jobs by the tiles each has left,
  // at each job's pixels per tile. With no job running there is nothing to
  // spread them over (the monitor's rate trails the last tiles): null.
  function megapixelRate(tilesPerSecond) {
    let left = 0, px = 0;
    jobs.forEach((j) => {
      if (j.state !== 'running' || !j.tiles_total) return;
      const n = j.tiles_total - j.tiles_done;
      left += n;
      px += n * j.width * j.height / j.tiles_total;
    });
    return left ? tilesPerSecond * px / left / 1e6 : null;
  }
  function render() {
    const now = Date.now();
    document.getElementById('tiles-rate').textContent = clusterRate === null ? '–' : clusterRate.toFixed(1);
    const mp = clusterRate === null ? null : megapixelRate(clusterRate);
    document.getElementById('mp-rate').textContent = mp === null ? '–' : mp.toFixed(2);

    const wb = document.querySelector('#workers tbody');
    wb.textContent = '';
    [...workers.values()].sort((a, b) => a.id.localeCompare(b.id)).forEach((w) => {
      const rate = w.state === 'alive' && w.tiles_per_second ? w.tiles_per_second : 0;
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

  const live = document.getElementById('live');
  let polling = false;
  function poll() {
    polling = true;
    live.textContent = 'Polling every 2 s.';
    Promise.all([
      fetch('api/jobs').then((r) => r.json()).then((d) => d.jobs.forEach(onJob)),
      fetch('api/workers').then((r) => (r.ok ? r.json() : { workers: [] })).then(onWorkers),
    ]).catch(() => {}).finally(() => { render(); setTimeout(poll, 2000); });
  }
  if (window.EventSource) {
    const es = new EventSource('api/events');
    es.onopen = () => { live.textContent = 'Live.'; };
    es.addEventListener('job', (ev) => { onJob(JSON.parse(ev.data)); render(); });
    es.addEventListener('workers', (ev) => { onWorkers(JSON.parse(ev.data)); render(); });
    es.onerror = () => { if (es.readyState === EventSource.CLOSED && !polling) poll(); };
    setInterval(render, 1000);
  } else {
    poll();
  }
})();
