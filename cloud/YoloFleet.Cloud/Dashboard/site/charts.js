// Small SVG charts, drawn by hand: a handful of line and bar charts do not justify a vendored library, and SVG elements
// can be counted by the browser test (each chart carries data-points, the number of values it drew).

const NS = 'http://www.w3.org/2000/svg';
export const PALETTE = ['#0099d6', '#ff7a00', '#1a8f4a', '#9b51e0', '#c0392b', '#c77c02', '#2c3e50', '#e84393', '#16a085', '#7f8c8d'];

function el(name, attributes = {}, parent = null) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  parent?.appendChild(node);
  return node;
}

function frame(container, title) {
  container.replaceChildren();
  const svg = el('svg', { class: 'chart', viewBox: '0 0 600 220', preserveAspectRatio: 'none', role: 'img', 'aria-label': title });
  container.appendChild(svg);
  return svg;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / power) * power;
}

function axes(svg, yMax, yLabel, left = 44, bottom = 196) {
  el('line', { x1: left, y1: 10, x2: left, y2: bottom, stroke: '#999' }, svg);
  el('line', { x1: left, y1: bottom, x2: 590, y2: bottom, stroke: '#999' }, svg);
  for (let i = 0; i <= 4; i++) {
    const y = bottom - (i / 4) * (bottom - 10);
    el('line', { x1: left, y1: y, x2: 590, y2: y, stroke: '#eee' }, svg);
    el('text', { x: left - 4, y: y + 3, 'text-anchor': 'end' }, svg).textContent = formatNumber((yMax * i) / 4);
  }
  el('text', { x: 4, y: 8 }, svg).textContent = yLabel;
}

export function formatNumber(v) {
  if (v == null || Number.isNaN(v)) return '–';
  if (v === 0) return '0';
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(0) + 'k';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 1) return v.toFixed(1);
  return v.toFixed(2);
}

/**
 * Lines over time. series: [{ name, points: [[timeMs, value], ...] }]. Returns the number of points drawn.
 */
export function lineChart(container, title, series, { yLabel = '', yMax = null } = {}) {
  const svg = frame(container, title);
  const all = series.flatMap((s) => s.points);
  svg.dataset.points = String(all.length);
  if (all.length === 0) {
    el('text', { x: 300, y: 110, 'text-anchor': 'middle' }, svg).textContent = 'no data in this range';
    return 0;
  }
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]));
  const top = yMax ?? niceMax(Math.max(...all.map((p) => p[1])));
  axes(svg, top, yLabel);
  const x = (t) => 44 + (t1 === t0 ? 273 : ((t - t0) / (t1 - t0)) * 546);
  const y = (v) => 196 - (Math.min(v, top) / top) * 186;
  el('text', { x: 44, y: 212 }, svg).textContent = new Date(t0).toLocaleTimeString();
  el('text', { x: 590, y: 212, 'text-anchor': 'end' }, svg).textContent = new Date(t1).toLocaleTimeString();
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const points = [...s.points].sort((a, b) => a[0] - b[0]);
    if (points.length > 1) {
      el('polyline', { fill: 'none', stroke: color, 'stroke-width': 1.5, points: points.map((p) => `${x(p[0])},${y(p[1])}`).join(' ') }, svg);
    }
    for (const p of points) {
      el('circle', { cx: x(p[0]), cy: y(p[1]), r: 2.5, fill: color, class: 'point' }, svg).appendChild(el('title')).textContent =
        `${s.name}: ${formatNumber(p[1])} at ${new Date(p[0]).toLocaleString()}`;
    }
  });
  legend(container, series.map((s) => s.name));
  return all.length;
}

/** Bars: items [{ label, value, group? }]; returns the number of bars drawn. */
export function barChart(container, title, items, { yLabel = '' } = {}) {
  const svg = frame(container, title);
  svg.dataset.points = String(items.length);
  if (items.length === 0) {
    el('text', { x: 300, y: 110, 'text-anchor': 'middle' }, svg).textContent = 'no data in this range';
    return 0;
  }
  const top = niceMax(Math.max(...items.map((i) => i.value)));
  axes(svg, top, yLabel);
  const width = 546 / items.length;
  items.forEach((item, i) => {
    const h = (item.value / top) * 186;
    const rect = el('rect', { x: 44 + i * width + width * 0.1, y: 196 - h, width: width * 0.8, height: Math.max(h, 0.5), fill: PALETTE[(item.group ?? 0) % PALETTE.length], class: 'point' }, svg);
    el('title', {}, rect).textContent = `${item.label}: ${formatNumber(item.value)}`;
    if (items.length <= 24) {
      el('text', { x: 44 + i * width + width / 2, y: 208, 'text-anchor': 'middle' }, svg).textContent = item.label.slice(0, Math.max(4, Math.floor(width / 6)));
    }
  });
  return items.length;
}

function legend(container, names) {
  const box = document.createElement('div');
  box.className = 'legend';
  names.forEach((name, i) => {
    const span = document.createElement('span');
    const swatch = document.createElement('i');
    swatch.style.background = PALETTE[i % PALETTE.length];
    span.append(swatch, name);
    box.appendChild(span);
  });
  container.appendChild(box);
}
