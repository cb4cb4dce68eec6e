// The YoloFleet operators' dashboard (docs/dashboard.md): one page, views by URL hash, live figures from the fleet
// feed (GET /api/stream) and the rest from the cloud's JSON API. Plain ES modules; no build step.
import { apiKey, getImageUrl, getJson, getRows, readStream, Unauthorized } from './api.js';
import { barChart, formatNumber, lineChart } from './charts.js';

const view = document.getElementById('view');
const feedState = document.getElementById('feed-state');

/** What the page exposes for tests and the time-to-first-render bench. */
const status = (window.yolofleetDashboard = { firstRenderMs: null, devices: 0, events: 0, snapshots: 0 });

// ---- the live fleet, kept from the feed's snapshot and deltas ----

const fleet = { columns: [], rows: new Map(), rollouts: [], at: 0, listeners: new Set() };

function applyEvent(name, data) {
  status.events++;
  if (name === 'snapshot') {
    status.snapshots++;
    fleet.columns = data.columns;
    fleet.rows.clear();
  }
  for (const values of data.rows ?? []) {
    const row = Object.fromEntries(fleet.columns.map((c, i) => [c, values[i]]));
    fleet.rows.set(row.id, row);
  }
  for (const id of data.removed ?? []) fleet.rows.delete(id);
  if (data.rollouts) fleet.rollouts = data.rollouts;
  fleet.at = data.at;
  status.devices = fleet.rows.size;
  const changed = name === 'snapshot' ? null : new Set((data.rows ?? []).map((r) => r[0]));
  for (const listener of fleet.listeners) listener(name, changed, data);
}

let feedAbort = null;

async function runFeed() {
  feedAbort?.abort();
  const abort = (feedAbort = new AbortController());
  for (let attempt = 0; !abort.signal.aborted; attempt++) {
    try {
      feedState.textContent = 'connecting';
      await readStream((name, data) => {
        feedState.textContent = 'live';
        feedState.classList.add('live');
        applyEvent(name, data);
      }, abort.signal);
    } catch (error) {
      if (error instanceof Unauthorized) {
        showLogin(error.message);
        return;
      }
      if (abort.signal.aborted) return;
      console.warn('fleet feed:', error);
    }
    feedState.textContent = 'reconnecting';
    feedState.classList.remove('live');
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000 * 2 ** Math.min(attempt, 4), 15000)));
  }
}

// ---- helpers ----

function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.flat().filter((c) => c != null).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

function ago(ms) {
  if (ms == null) return 'never';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : s < 86400 ? `${Math.round(s / 3600)} h ago` : new Date(ms).toLocaleString();
}

function statusBadge(row) {
  if (row.status === 'disabled') return h('span', { class: 'badge disabled' }, 'disabled');
  return h('span', { class: `badge ${row.online ? 'online' : 'offline'}` }, row.online ? 'online' : 'offline');
}

function card(label, value, figure) {
  return h('div', { class: 'card' }, h('div', { class: 'value', dataset: figure ? { figure } : {} }, value), h('div', { class: 'label' }, label));
}

function errorBox(error) {
  return h('p', { class: 'error' }, error.status === 404 ? `Not available on this silo: ${error.message}` : String(error.message ?? error));
}

async function guarded(target, work) {
  try {
    await work();
  } catch (error) {
    if (error instanceof Unauthorized) showLogin(error.message);
    else target.replaceChildren(errorBox(error));
  }
}

// ---- views ----

const views = {
  fleet: fleetView,
  device: deviceView,
  rollouts: rolloutsView,
  rollout: rolloutView,
  charts: chartsView,
  gallery: galleryView,
};

let cleanup = () => {};

function route() {
  cleanup();
  const [name = 'fleet', ...args] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const render = views[name] ?? fleetView;
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === name || (name === 'device' && a.dataset.nav === 'fleet') || (name === 'rollout' && a.dataset.nav === 'rollouts'));
  view.replaceChildren();
  view.dataset.view = name;
  cleanup = render(...args) ?? (() => {});
}

function onFleet(listener) {
  fleet.listeners.add(listener);
  return () => fleet.listeners.delete(listener);
}

function fleetView() {
  const filter = h('input', { type: 'search', placeholder: 'filter by id, group or model', 'aria-label': 'filter' });
  const summary = h('div', { class: 'cards' });
  const body = h('tbody');
  const table = h('table', { id: 'fleet-table' },
    h('thead', {}, h('tr', {}, ['Device', 'Group', 'Status', 'Last seen', 'Model', 'Frames/s', 'Inference p50 (ms)', 'Throttled', 'Backlog', 'Frames', 'Detections'].map((c) => h('th', {}, c)))),
    body);
  const empty = h('p', { class: 'muted' }, 'Waiting for the fleet feed…');
  view.append(h('h2', {}, 'Fleet'), summary, h('div', { class: 'toolbar' }, filter, empty), table);
  const trs = new Map();

  const cells = (row) => [
    h('td', {}, h('a', { href: `#/device/${encodeURIComponent(row.id)}` }, row.id)),
    h('td', {}, row.group),
    h('td', {}, statusBadge(row)),
    h('td', { dataset: { lastSeen: row.lastSeen ?? '' } }, ago(row.lastSeen)),
    h('td', {}, row.model || '–'),
    h('td', { class: 'num' }, formatNumber(row.fps)),
    h('td', { class: 'num' }, formatNumber(row.inferenceP50Ms)),
    h('td', {}, row.throttled ? h('span', { class: 'badge throttled' }, 'throttled') : 'no'),
    h('td', { class: 'num' }, String(row.backlog)),
    h('td', { class: 'num' }, String(row.frames)),
    h('td', { class: 'num' }, String(row.detections)),
  ];
  const matches = (row) => {
    const q = filter.value.trim().toLowerCase();
    return !q || row.id.toLowerCase().includes(q) || row.group.toLowerCase().includes(q) || row.model.toLowerCase().includes(q);
  };

  function renderSummary() {
    const rows = [...fleet.rows.values()];
    const online = rows.filter((r) => r.online).length;
    summary.replaceChildren(
      card('devices', rows.length, 'devices'),
      card('online', online, 'online'),
      card('offline', rows.length - online, 'offline'),
      card('throttled', rows.filter((r) => r.throttled).length, 'throttled'),
      card('outbox backlog', rows.reduce((s, r) => s + r.backlog, 0), 'backlog'),
      card('frames/s (fleet)', formatNumber(rows.reduce((s, r) => s + (r.online ? r.fps : 0), 0)), 'fleet-fps'));
  }

  function renderAll() {
    const rows = [...fleet.rows.values()].filter(matches).sort((a, b) => a.id.localeCompare(b.id));
    trs.clear();
    body.replaceChildren(...rows.map((row) => {
      const tr = h('tr', { dataset: { device: row.id } }, cells(row));
      trs.set(row.id, tr);
      return tr;
    }));
    empty.textContent = fleet.rows.size === 0 ? (status.snapshots > 0 ? 'No devices are registered.' : 'Waiting for the fleet feed…') : `${rows.length} of ${fleet.rows.size} devices`;
    renderSummary();
  }

  function update(name, changed) {
    if (name === 'snapshot' || changed === null) {
      renderAll();
    } else {
      let added = false;
      for (const id of changed) {
        const row = fleet.rows.get(id);
        const tr = trs.get(id);
        if (row && tr) tr.replaceChildren(...cells(row));
        else if (row && matches(row)) added = true;
      }
      if (added || trs.size !== [...fleet.rows.values()].filter(matches).length) renderAll();
      else renderSummary();
    }
    if (status.firstRenderMs === null && status.snapshots > 0) {
      status.firstRenderMs = performance.now();
      view.dataset.ready = 'true';
    }
  }

  filter.addEventListener('input', renderAll);
  if (status.snapshots > 0) update('snapshot', null);
  const off = onFleet(update);
  const timer = setInterval(() => {
    for (const td of body.querySelectorAll('td[data-last-seen]')) td.textContent = ago(td.dataset.lastSeen ? Number(td.dataset.lastSeen) : null);
  }, 5000);
  return () => { off(); clearInterval(timer); };
}

function deviceView(id) {
  const figures = h('div', { class: 'cards', id: 'device-figures' });
  const fpsChart = h('div', { id: 'device-fps-chart' });
  const latencyChart = h('div', { id: 'device-latency-chart' });
  const events = h('div', { id: 'device-events' });
  const frames = h('div', { id: 'device-hard-frames' });
  const twin = h('div', { id: 'device-twin' });
  view.append(
    h('p', {}, h('a', { href: '#/fleet' }, '← fleet')),
    h('h2', {}, 'Device ', h('code', {}, id)),
    figures,
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' }, h('h3', {}, 'Frames per second (telemetry)'), fpsChart),
      h('div', { class: 'panel' }, h('h3', {}, 'Latency per stage, p50 (ms, telemetry)'), latencyChart),
      h('div', { class: 'panel' }, h('h3', {}, 'Model twin'), twin),
      h('div', { class: 'panel' }, h('h3', {}, 'Recent model events'), events),
      h('div', { class: 'panel' }, h('h3', {}, 'Recent hard frames'), frames)));

  function renderFigures() {
    const row = fleet.rows.get(id);
    if (!row) {
      figures.replaceChildren(h('p', { class: 'muted' }, status.snapshots > 0 ? 'This device is not registered.' : 'Waiting for the fleet feed…'));
      return;
    }
    figures.replaceChildren(
      card('status', statusBadge(row), 'status'),
      card('last seen', ago(row.lastSeen), 'last-seen'),
      card('model', row.model || '–', 'model'),
      card('frames/s', formatNumber(row.fps), 'fps'),
      card('inference p50 (ms)', formatNumber(row.inferenceP50Ms), 'latency'),
      card('frames', row.frames, 'frames'),
      card('detections', row.detections, 'detections'),
      card('outbox backlog', row.backlog, 'backlog'),
      card('throttled', row.throttled ? 'yes' : 'no', 'throttled'),
      card('CPU %', formatNumber(row.cpu), 'cpu'),
      card('temperature °C', formatNumber(row.tempC), 'temperature'));
    figures.dataset.updated = String(fleet.at);
  }

  async function refresh() {
    await guarded(fpsChart, async () => {
      const points = await getRows(`/api/dashboard/devices/${encodeURIComponent(id)}/telemetry?limit=120`);
      lineChart(fpsChart, 'frames per second', [{ name: 'frames/s', points: points.map((p) => [Date.parse(p.receivedAt), p.framesPerSecond]) }], { yLabel: 'frames/s' });
      const stages = new Map();
      for (const p of points) {
        for (const s of JSON.parse(p.stagesJson || '[]')) {
          if (!stages.has(s.stage)) stages.set(s.stage, []);
          stages.get(s.stage).push([Date.parse(p.receivedAt), s.p50 ?? s.p50Ms ?? 0]);
        }
      }
      lineChart(latencyChart, 'latency per stage', [...stages].map(([name, pts]) => ({ name, points: pts })), { yLabel: 'ms' });
    });
    await guarded(twin, async () => {
      const t = await getJson(`/api/devices/${encodeURIComponent(id)}/twin`);
      twin.replaceChildren(h('pre', {}, JSON.stringify(t, null, 1).slice(0, 1500)));
    });
    await guarded(events, async () => {
      const rows = (await getRows(`/api/devices/${encodeURIComponent(id)}/model-events?limit=10`));
      events.replaceChildren(rows.length === 0 ? h('p', { class: 'muted' }, 'No model events.') : h('table', {},
        h('tr', {}, ['received', 'stage', 'accepted', 'reason'].map((c) => h('th', {}, c))),
        rows.map((e) => h('tr', {}, h('td', {}, new Date(e.receivedAt).toLocaleString()), h('td', {}, e.stage), h('td', {}, e.accepted ? 'yes' : 'no'), h('td', {}, e.reasonCode || e.error || '')))));
    });
    await guarded(frames, async () => {
      const rows = await getRows(`/api/hard-frames?device=${encodeURIComponent(id)}&limit=10`);
      frames.replaceChildren(rows.length === 0 ? h('p', { class: 'muted' }, 'No hard frames.') : h('table', {},
        h('tr', {}, ['captured', 'reason', 'edge boxes', 'precision', 'recall'].map((c) => h('th', {}, c))),
        rows.map((f) => h('tr', {}, h('td', {}, h('a', { href: `#/gallery/${encodeURIComponent(f.deviceId)}` }, new Date(f.capturedAt).toLocaleTimeString())), h('td', {}, f.reason), h('td', { class: 'num' }, f.edgeBoxes), h('td', { class: 'num' }, formatNumber(f.precision)), h('td', { class: 'num' }, formatNumber(f.recall))))));
    });
  }

  renderFigures();
  const off = onFleet((name, changed) => { if (changed === null || changed.has(id)) renderFigures(); });
  refresh();
  const timer = setInterval(refresh, 5000);
  return () => { off(); clearInterval(timer); };
}

function rolloutsView() {
  const list = h('div', { id: 'rollout-list' });
  view.append(h('h2', {}, 'Rollouts'), list);
  const render = (rows) => {
    list.replaceChildren(rows.length === 0 ? h('p', { class: 'muted' }, 'No rollouts.') : h('table', {},
      h('tr', {}, ['rollout', 'model', 'candidate', 'state', 'stage', 'created'].map((c) => h('th', {}, c))),
      rows.map((r) => h('tr', { dataset: { rollout: r.id } }, h('td', {}, h('a', { href: `#/rollout/${r.id}` }, r.id)), h('td', {}, r.model), h('td', {}, `v${r.candidateVersion}`), h('td', {}, r.state), h('td', { class: 'num' }, r.stage), h('td', {}, new Date(r.createdAt).toLocaleString())))));
  };
  guarded(list, async () => render(await getRows('/api/rollouts?limit=50')));
  const off = onFleet((name, changed, data) => { if (data.rollouts) render(data.rollouts); });
  return off;
}

function rolloutView(id) {
  const body = h('div', { id: 'rollout-detail' }, h('p', { class: 'muted' }, 'Loading…'));
  view.append(h('p', {}, h('a', { href: '#/rollouts' }, '← rollouts')), h('h2', {}, 'Rollout ', h('code', {}, id)), body);

  async function refresh() {
    await guarded(body, async () => {
      const r = await getJson(`/api/rollouts/${encodeURIComponent(id)}`);
      const finished = ['completed', 'promoted', 'rolled-back', 'aborted'].includes(r.state);
      const stages = h('div', { class: 'stages', id: 'rollout-stages' }, r.stages.map((s, i) => h('div', {
        class: `stage ${i < r.stageIndex || (finished && r.state !== 'rolled-back' && r.state !== 'aborted') ? 'done' : ''} ${i === r.stageIndex && !finished ? 'current' : ''} ${i === r.stageIndex && (r.state === 'rolled-back' || r.state === 'aborted') ? 'failed' : ''}`,
        dataset: { stage: i + 1 },
      }, h('strong', {}, `Stage ${i + 1}`), h('div', {}, `${s.percent} % of devices`), h('div', { class: 'muted' }, `soak ${s.minSoak}`))));
      const g = r.lastGate;
      const gate = g ? h('dl', { class: 'kv', id: 'rollout-gate' },
        h('dt', {}, 'verdict'), h('dd', {}, `${g.verdict}: ${g.reason}`),
        h('dt', {}, 'agreement (control)'), h('dd', {}, `${formatNumber(g.agreement.controlMean)} over ${g.agreement.controlSamples} frames`),
        h('dt', {}, 'agreement (candidate)'), h('dd', {}, `${formatNumber(g.agreement.candidateMean)} over ${g.agreement.candidateSamples} frames`),
        h('dt', {}, 'sequential test'), h('dd', {}, `${g.agreement.decision} (log LR ${formatNumber(g.agreement.logLikelihoodRatio)}, bounds ${formatNumber(g.agreement.lowerBound)} … ${formatNumber(g.agreement.upperBound)})`),
        h('dt', {}, 'latency p95 (ms)'), h('dd', {}, `control ${formatNumber(g.latency.controlP95Ms)} (${g.latency.controlSamples}), candidate ${formatNumber(g.latency.candidateP95Ms)} (${g.latency.candidateSamples})`),
        h('dt', {}, 'refusals'), h('dd', {}, `${g.refusals.refusedDevices} of ${g.refusals.stageDevices} devices ${g.refusals.reasonCodes.join(', ')}`),
        h('dt', {}, 'soaked'), h('dd', {}, g.soaked),
        h('dt', {}, 'shadow'), h('dd', {}, g.shadow || '–'))
        : h('p', { class: 'muted' }, 'No gate evaluated yet.');
      body.replaceChildren(
        h('div', { class: 'cards' },
          card('state', r.state, 'state'), card('model', `${r.model} v${r.baselineVersion} → v${r.candidateVersion}`, 'model'),
          card('stage', `${r.stageIndex + 1} of ${r.stages.length}`, 'stage'), card('devices in stage', `${r.stageDevices.length} of ${r.targetDevices.length}`, 'stage-devices')),
        stages,
        h('div', { class: 'grid2' },
          h('div', { class: 'panel' }, h('h3', {}, 'Gates (last evaluation)'), gate),
          h('div', { class: 'panel' }, h('h3', {}, 'Audit trail'), h('table', {},
            h('tr', {}, ['at', 'actor', 'event', 'state', 'reason'].map((c) => h('th', {}, c))),
            r.events.slice(-15).reverse().map((e) => h('tr', {}, h('td', {}, new Date(e.at).toLocaleTimeString()), h('td', {}, e.actor), h('td', {}, e.kind), h('td', {}, `${e.fromState} → ${e.toState}`), h('td', {}, e.reason)))))),
        h('h3', {}, 'Devices'),
        h('p', {}, (r.variants ?? []).map((v) => `${v.deviceId}: ${v.precision ?? 'benchmarking'}`).join(' · ') || r.stageDevices.join(', ')));
    });
  }

  refresh();
  const off = onFleet((name, changed, data) => { if (data.rollouts?.some((x) => x.id === id)) refresh(); });
  const timer = setInterval(refresh, 3000);
  return () => { off(); clearInterval(timer); };
}

const RANGES = { '1h': ['minute', 3600e3], '24h': ['hour', 86400e3], '7d': ['day', 7 * 86400e3] };

function chartsView() {
  const range = h('select', { 'aria-label': 'range' }, Object.keys(RANGES).map((k) => h('option', { value: k, selected: k === '24h' }, `last ${k}`)));
  const agreement = h('div', { id: 'chart-agreement' });
  const latency = h('div', { id: 'chart-latency' });
  const latencyDevices = h('div', { id: 'chart-latency-devices' });
  const classes = h('div', { id: 'chart-classes' });
  const hardRate = h('div', { id: 'chart-hard-frames' });
  view.append(h('h2', {}, 'Charts'), h('div', { class: 'toolbar' }, range, h('span', { class: 'muted' }, 'from the analytics API (GET /api/analytics/…)')),
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' }, h('h3', {}, 'Agreement with FP32 per model version (precision, recall)'), agreement),
      h('div', { class: 'panel' }, h('h3', {}, 'Latency per model version (p50 / p95, ms)'), latency),
      h('div', { class: 'panel' }, h('h3', {}, 'Latency p95 per device (ms, slowest 20)'), latencyDevices),
      h('div', { class: 'panel' }, h('h3', {}, 'Detections per class'), classes),
      h('div', { class: 'panel' }, h('h3', {}, 'Hard-frame rate'), hardRate)));

  async function refresh() {
    const [bucket, span] = RANGES[range.value];
    const to = new Date();
    const q = `from=${new Date(to - span).toISOString()}&to=${to.toISOString()}`;
    await guarded(agreement, async () => {
      const rows = await getRows(`/api/analytics/agreement?bucket=${bucket}&${q}`);
      const byModel = new Map();
      for (const r of rows) {
        for (const [metric, value] of [['precision', r.precision], ['recall', r.recall]]) {
          const key = `${r.model} ${metric}`;
          if (!byModel.has(key)) byModel.set(key, []);
          byModel.get(key).push([Date.parse(r.bucket), value]);
        }
      }
      lineChart(agreement, 'agreement', [...byModel].map(([name, points]) => ({ name, points })), { yLabel: 'agreement', yMax: 1 });
    });
    await guarded(latency, async () => {
      const rows = await getRows(`/api/analytics/latency?by=model&${q}`);
      barChart(latency, 'latency per model', rows.flatMap((r) => [{ label: `${r.key} p50`, value: r.p50Ms, group: 0 }, { label: `${r.key} p95`, value: r.p95Ms, group: 1 }]), { yLabel: 'ms' });
    });
    await guarded(latencyDevices, async () => {
      const rows = await getRows(`/api/analytics/latency?by=device&${q}`);
      barChart(latencyDevices, 'latency per device', rows.sort((a, b) => b.p95Ms - a.p95Ms).slice(0, 20).map((r) => ({ label: r.key, value: r.p95Ms })), { yLabel: 'ms' });
    });
    await guarded(classes, async () => {
      const rows = await getRows(`/api/analytics/detections?bucket=${bucket}&${q}`);
      const totals = new Map();
      for (const r of rows) totals.set(r.className || `class ${r.classId}`, (totals.get(r.className || `class ${r.classId}`) ?? 0) + r.count);
      barChart(classes, 'detections per class', [...totals].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([label, value], i) => ({ label, value, group: i })), { yLabel: 'detections' });
    });
    await guarded(hardRate, async () => {
      const rows = await getRows(`/api/analytics/hard-frames?bucket=${bucket}&${q}`);
      const byBucket = new Map();
      for (const r of rows) {
        const t = Date.parse(r.bucket);
        const [f, hf] = byBucket.get(t) ?? [0, 0];
        byBucket.set(t, [f + r.frames, hf + r.hardFrames]);
      }
      lineChart(hardRate, 'hard-frame rate', [{ name: 'hard frames per frame (fleet)', points: [...byBucket].map(([t, [f, hf]]) => [t, f > 0 ? hf / f : 0]) }], { yLabel: 'rate' });
    });
    view.dataset.chartsDrawn = String(Date.now());
  }

  range.addEventListener('change', refresh);
  refresh();
  const timer = setInterval(refresh, 30000);
  return () => clearInterval(timer);
}

function galleryView(device) {
  const grid = h('div', { class: 'gallery', id: 'gallery' }, h('p', { class: 'muted' }, 'Loading…'));
  view.append(h('h2', {}, 'Hard frames', device ? [' of ', h('code', {}, device)] : ''),
    h('p', { class: 'legend' }, h('span', {}, h('i', { style: 'background: var(--edge)' }), "edge model's boxes"), h('span', {}, h('i', { style: 'background: var(--ref)' }), "FP32 model's boxes (dashed)"), h('span', {}, h('i', { style: 'background: var(--shadow)' }), 'shadow candidate')),
    grid);
  const urls = [];

  guarded(grid, async () => {
    const frames = await getRows(`/api/hard-frames?limit=12${device ? `&device=${encodeURIComponent(device)}` : ''}`);
    if (frames.length === 0) {
      grid.replaceChildren(h('p', { class: 'muted' }, 'No hard frames are stored.'));
      return;
    }
    grid.replaceChildren(...frames.map((f) => frameCard(f, urls)));
  });
  return () => urls.forEach((u) => URL.revokeObjectURL(u));
}

function frameCard(f, urls) {
  const path = `/api/hard-frames/${encodeURIComponent(f.deviceId)}/${f.sequence}`;
  const img = h('img', { alt: `hard frame ${f.sequence} of ${f.deviceId}` });
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'boxes');
  const meta = h('div', { class: 'meta' },
    h('strong', {}, f.deviceId), ` #${f.sequence} · ${f.reason} · ${new Date(f.capturedAt).toLocaleString()}`, h('br'),
    `edge ${f.modelVersion}: ${f.edgeBoxes} boxes`, f.precision != null ? ` · precision ${formatNumber(f.precision)}, recall ${formatNumber(f.recall)} vs ${f.verifierModel}` : ' · not verified yet');
  const node = h('div', { class: 'frame', dataset: { frame: `${f.deviceId}/${f.sequence}` } }, h('div', { class: 'canvas' }, img, svg), meta);

  (async () => {
    try {
      const [url, detail] = await Promise.all([getImageUrl(`${path}/jpeg`), getJson(path)]);
      urls.push(url);
      img.addEventListener('load', () => {
        svg.setAttribute('viewBox', `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
        svg.setAttribute('preserveAspectRatio', 'none');
        const names = detail.classNames ?? [];
        drawBoxes(svg, detail.edge ?? [], 'edge', 'var(--edge)', names, '');
        drawBoxes(svg, detail.reference ?? [], 'reference', 'var(--ref)', names, '6 4');
        drawBoxes(svg, detail.shadow ?? [], 'shadow', 'var(--shadow)', names, '2 3');
        node.dataset.edgeBoxes = String((detail.edge ?? []).length);
        node.dataset.referenceBoxes = String((detail.reference ?? []).length);
        node.dataset.drawn = 'true';
      }, { once: true });
      img.src = url;
      if (detail.reference == null) meta.append(h('br'), h('span', { class: 'muted' }, 'No FP32 model on this silo (Cloud:Verifier:ModelPath).'));
    } catch (error) {
      meta.append(h('br'), errorBox(error));
    }
  })();
  return node;
}

function drawBoxes(svg, boxes, role, color, names, dash) {
  for (const b of boxes) {
    const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    for (const [k, v] of Object.entries({ x: b.x1, y: b.y1, width: Math.max(b.x2 - b.x1, 1), height: Math.max(b.y2 - b.y1, 1), fill: 'none', stroke: color, 'stroke-width': 2, 'stroke-dasharray': dash, 'vector-effect': 'non-scaling-stroke', class: `box ${role}` })) rect.setAttribute(k, v);
    const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
    title.textContent = `${role}: ${names[b.c] ?? `class ${b.c}`} ${formatNumber(b.s)}`;
    rect.appendChild(title);
    svg.appendChild(rect);
  }
}

// ---- start ----

function showLogin(message = '') {
  feedAbort?.abort();
  apiKey.clear();
  document.getElementById('login').hidden = false;
  document.getElementById('logout').hidden = true;
  document.getElementById('login-error').textContent = message;
  view.hidden = true;
}

function start() {
  document.getElementById('login').hidden = true;
  document.getElementById('logout').hidden = false;
  view.hidden = false;
  runFeed();
  route();
}

document.getElementById('login').addEventListener('submit', (event) => {
  event.preventDefault();
  apiKey.set(document.getElementById('api-key').value.trim());
  start();
});
document.getElementById('logout').addEventListener('click', () => showLogin());
window.addEventListener('hashchange', () => { if (apiKey.get()) route(); });

if (apiKey.get()) start();
else showLogin();
