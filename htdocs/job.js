// The job page, with JavaScript: live progress instead of the refresh the
// page does without it; when the job ends the page reloads to show it. A
// big result's zoomable view (OpenSeadragon on the job's DZI pyramid)
// replaces its preview once the pyramid is built.
'use strict';
(function () {
  const body = document.body, base = body.dataset.base, id = body.dataset.job;

  // Image pixels are drawn as they are: no smoothing, tiles placed on whole
  // canvas pixels, so at 1:1 the canvas holds the result's own pixels.
  const showZoom = (el) => {
    if (!window.OpenSeadragon) return;   // the preview stays
    el.hidden = false;
    document.getElementById('zoom-note').hidden = false;
    document.getElementById('preview-box').hidden = true;
    document.getElementById('preview-note').hidden = true;
    window.tilerZoom = OpenSeadragon({
      element: el,
      tileSources: el.dataset.dzi,
      drawer: 'canvas',
      imageSmoothingEnabled: false,
      subPixelRoundingForTransparency: OpenSeadragon.SUBPIXEL_ROUNDING_OCCURRENCES.ALWAYS,
      showNavigationControl: false,   // its buttons are images fetched from prefixUrl
      maxZoomPixelRatio: 4,
      blendTime: 0,
    });
    // The canvas drawer stretches each tile by a pixel, against seams
    // between tiles that do not overlap. At 1:1 the tiles meet on whole
    // pixels already (rounded, above) and the stretch would resample every
    // one of them: there it is off, so the view shows the result's pixels.
    const v = window.tilerZoom, d = v.drawer, stretch = d.minimumOverlapRequired.bind(d);
    d.minimumOverlapRequired = (item) =>
      Math.abs(v.viewport.viewportToImageZoom(v.viewport.getZoom(true)) - 1) > 1e-6 && stretch(item);
  };
  const zoom = document.getElementById('zoom');
  if (zoom && zoom.dataset.zoom === 'ready') {
    window.addEventListener('load', () => showZoom(zoom));
  } else if (zoom) {
    // Being built (409): look again until it is there (200); a view that
    // could not be built (404) leaves the preview for good; a server that
    // cannot answer now (5xx, or no answer) is asked again later.
    const look = () => fetch(zoom.dataset.dzi, { method: 'HEAD' }).then((r) => {
      if (r.ok) showZoom(zoom);
      else if (r.status === 409) setTimeout(look, 2000);
      else if (r.status >= 500) setTimeout(look, 5000);
    }).catch(() => setTimeout(look, 5000));
    look();
  }

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
