// The job page, with JavaScript: live progress instead of the refresh the
// page does without it; when the job ends the page reloads to show it.
'use strict';
(function () {
  const body = document.body, base = body.dataset.base, id = body.dataset.job;
  if (body.dataset.state === 'done' || body.dataset.state === 'failed') return;
  const update = (j) => {
    document.getElementById('progress').max = j.tiles_total;
    document.getElementById('progress').value = j.tiles_done;
    document.getElementById('tiles').textContent = j.tiles_done + ' of ' + j.tiles_total;
    const st = document.getElementById('state');
    st.textContent = j.state === 'running' ? 'Running' : j.state;
    st.className = 'state-' + j.state;
    if (j.state === 'done' || j.state === 'failed') location.reload();
  };
  const poll = () => fetch(base + '/api/jobs/' + id).then((r) => r.json()).then((j) => {
    update(j);
    if (j.state !== 'done' && j.state !== 'failed') setTimeout(poll, 1000);
  }).catch(() => setTimeout(poll, 2000));
  if (!window.EventSource) { poll(); return; }
  const es = new EventSource(base + '/api/events?job=' + id);
  es.addEventListener('job', (ev) => update(JSON.parse(ev.data)));
  es.onerror = () => { if (es.readyState === EventSource.CLOSED) poll(); };
})();
