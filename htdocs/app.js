// The upload page, with JavaScript: an op-chain builder, drag and drop,
// upload progress, live tile progress, a preview and a download button.
// Without JavaScript the form posts as it is and the server answers with
// the job page.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $('upload'), ops = $('ops'), file = $('image');
  document.querySelectorAll('.js-only').forEach((e) => { e.hidden = false; });

  // ---- op chain builder: edits the same text field the form sends ----
  const chainList = $('chain');
  function chainItems() { return ops.value.split(',').map((s) => s.trim()).filter(Boolean); }
  function renderChain() {
    chainList.textContent = '';
    chainItems().forEach((item, i) => {
      const li = document.createElement('li');
      li.textContent = item;
      const rm = document.createElement('button');
      rm.type = 'button';
      rm.textContent = 'Remove';
      rm.addEventListener('click', () => {
        const items = chainItems();
        items.splice(i, 1);
        ops.value = items.join(',');
        renderChain();
      });
      li.appendChild(rm);
      chainList.appendChild(li);
    });
  }
  // Each op's parameter: label, range, step, default (sharpen also has
  // its amount). The fields belong to a form of their own, so a value the
  // browser finds out of step never blocks the upload.
  const params = {
    blur: ['sigma', 0.1, 64, 'any', 3], sharpen: ['sigma', 0.1, 16, 'any', 1],
    brightness: ['delta', -255, 255, 1, 20], contrast: ['factor', 0, 10, 'any', 1.5],
    gamma: ['gamma', 0.1, 10, 'any', 2.2], threshold: ['threshold', 0, 255, 1, 128],
  };
  // The geometry ops take one of a few values: label and the values.
  const choices = { flip: ['way', 'h', 'v'], rotate: ['degrees', '90', '180', '270'], downscale: ['factor', '2', '4', '8'] };
  const kindSel = $('op-kind'), param = $('sigma'), paramLabel = $('param-label');
  const amount = $('amount'), amountLabel = $('amount-label');
  const choice = $('choice'), choiceLabel = $('choice-label');
  function showParams() {
    const p = params[kindSel.value], c = choices[kindSel.value];
    param.hidden = paramLabel.hidden = !p;
    amount.hidden = amountLabel.hidden = kindSel.value !== 'sharpen';
    choice.hidden = choiceLabel.hidden = !c;
    if (p) [paramLabel.textContent, param.min, param.max, param.step, param.value] = p;
    if (c) {
      choiceLabel.textContent = c[0];
      choice.replaceChildren(...c.slice(1).map((v) => { const o = document.createElement('option'); o.value = o.textContent = v; return o; }));
    }
  }
  kindSel.addEventListener('change', showParams);
  showParams();
  $('add-op').addEventListener('click', () => {
    const kind = kindSel.value;
    let item = params[kind] ? kind + ':' + Number(param.value) : choices[kind] ? kind + ':' + choice.value : kind;
    if (kind === 'sharpen') item += ':' + Number(amount.value);
    ops.value = chainItems().concat([item]).join(',');
    renderChain();
  });
  ops.addEventListener('input', renderChain);
  renderChain();

  // ---- drag and drop onto the file field ----
  const drop = $('drop');
  ['dragenter', 'dragover'].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add('over'); }));
  ['dragleave', 'drop'].forEach((t) => drop.addEventListener(t, () => drop.classList.remove('over')));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) file.files = e.dataTransfer.files;
  });

  // ---- upload with progress, then follow the job ----
  function showError(text) { const e = $('error'); e.textContent = text; e.hidden = false; }
  function setTiles(job) {
    $('tile-progress').max = job.tiles_total || 1;
    $('tile-progress').value = job.tiles_done;
    $('tile-pct').textContent = Math.floor(100 * job.tiles_done / (job.tiles_total || 1)) + '%';
    $('job-state').textContent = job.state;
  }
  function done(job) {
    setTiles(job);
    if (job.state === 'failed') { showError('The job failed: ' + (job.error || 'no reason given')); return; }
    // ?preview: the result itself, or above TilerPreviewAbovePixels a thumbnail
    // made from it, so that the browser never decodes a gigapixel image.
    $('preview').src = job.result_url + '?preview';
    $('download').href = job.result_url;
    $('download').setAttribute('download', job.id + ({ jpeg: '.jpg', tiff: '.tif' }[job.format] || '.png'));
    $('result').hidden = false;
  }
  function follow(job) {
    let finished = false;
    const finish = (j) => { if (!finished) { finished = true; done(j); } };
    const poll = () => fetch(job.status_url, { headers: { Accept: 'application/json' } })
      .then((r) => r.json()).then((j) => {
        setTiles(j);
        if (j.state === 'done' || j.state === 'failed') finish(j); else setTimeout(poll, 500);
      }).catch(() => setTimeout(poll, 1000));
    if (!window.EventSource) { poll(); return; }
    const es = new EventSource('api/events?job=' + job.id);
    es.addEventListener('job', (ev) => {
      const j = JSON.parse(ev.data);
      setTiles(j);
      if (j.state === 'done' || j.state === 'failed') { es.close(); finish(j); }
    });
    // The stream may be refused (too many open) or drop: fall back to polling.
    es.onerror = () => { if (es.readyState === EventSource.CLOSED && !finished) poll(); };
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    $('status').hidden = false;
    $('result').hidden = true;
    $('error').hidden = true;
    const xhr = new XMLHttpRequest();
    xhr.open('POST', form.getAttribute('action'));
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (ev) => {
      if (!ev.lengthComputable) return;
      const pct = Math.floor(100 * ev.loaded / ev.total);
      $('upload-progress').value = pct;
      $('upload-pct').textContent = pct + '%';
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { /* not JSON */ }
      if (xhr.status !== 202) { showError(body.message || ('The server answered ' + xhr.status)); return; }
      $('upload-progress').value = 100;
      $('upload-pct').textContent = '100%';
      const link = document.createElement('a');
      link.href = 'jobs/' + body.id;
      link.textContent = 'Job page';
      $('job-link').replaceChildren(link);
      follow(body);
    };
    xhr.onerror = () => showError('The upload failed: the server cannot be reached.');
    xhr.send(new FormData(form));
  });
})();
