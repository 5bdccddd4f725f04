// web/widgets/timeseries/timeseries.js: the `timeseries` widget — allowed vs denied per second over 15 min, "now" at the right.

import { colour, hiDpiCanvas, niceTicks } from '../../chart.js';
import { fmtNum } from '../../format.js';

const SPAN_POINTS = 900; // 15 min of 1 s buckets: the x axis always spans this, newest at the right

function legendItem(cls, label) {
  const item = document.createElement('span');
  item.className = 'ts-legend-item ' + cls;
  const sw = document.createElement('span');
  sw.className = 'ts-swatch';
  const name = document.createElement('span');
  name.className = 'ts-name';
  name.textContent = label;
  const val = document.createElement('span');
  val.className = 'ts-val';
  val.textContent = '—';
  item.append(sw, name, val);
  return { item, val };
}

export function create(el, spec) {
  const mode = spec.mode === 'lines' ? 'lines' : 'stacked';
  const root = document.createElement('div');
  root.className = 'ts';
  const legend = document.createElement('div');
  legend.className = 'ts-legend';
  const allowed = legendItem('ts-allowed', 'Allowed');
  const denied = legendItem('ts-denied', 'Denied');
  const note = document.createElement('span');
  note.className = 'ts-note';
  note.textContent = mode === 'stacked' ? 'stacked · per second' : 'per second';
  legend.append(allowed.item, denied.item, note);
  const host = document.createElement('div');
  host.className = 'ts-plot';
  root.append(legend, host);
  el.appendChild(root);

  let a = [];
  let d = [];
  let step = 1;

  function draw(ctx, w, h) {
    const fontPx = parseFloat(getComputedStyle(root).fontSize) || 16;
    const axisFont = Math.round(fontPx * 0.95) + 'px ' + getComputedStyle(root).fontFamily;
    const cAllowed = colour('--c-allowed');
    const cDenied = colour('--c-denied');
    const cMuted = colour('--c-muted');
    const cFaint = colour('--c-faint');
    const n = Math.min(a.length, d.length);
    let max = 0;
    for (let i = 0; i < n; i++) {
      const v = mode === 'stacked' ? (a[i] || 0) + (d[i] || 0) : Math.max(a[i] || 0, d[i] || 0);
      if (v > max) max = v;
    }
    const { top, ticks } = niceTicks(max * 1.05, 4);
    ctx.font = axisFont;
    let labelW = 0;
    for (const t of ticks) labelW = Math.max(labelW, ctx.measureText(fmtNum(t)).width);
    const left = Math.ceil(labelW + fontPx * 0.6);
    const right = Math.ceil(fontPx * 0.4);
    const bottom = Math.ceil(fontPx * 1.7);
    const topPad = Math.ceil(fontPx * 0.6);
    const pw = Math.max(1, w - left - right);
    const ph = Math.max(1, h - topPad - bottom);
    const X = (i) => left + pw - ((n - 1 - i) / (SPAN_POINTS - 1)) * pw;
    const Y = (v) => topPad + ph - (v / top) * ph;

    // Horizontal gridlines + y labels.
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ctx.lineWidth = 1;
    for (const t of ticks) {
      const y = Math.round(Y(t)) + 0.5;
      ctx.strokeStyle = cFaint;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + pw, y);
      ctx.stroke();
      ctx.fillStyle = cMuted;
      ctx.fillText(fmtNum(t), left - fontPx * 0.4, y);
    }
    // X labels: minutes before now, "now" at the right edge.
    ctx.textBaseline = 'top';
    const spanMin = (SPAN_POINTS * step) / 60;
    for (let m = 0; m <= spanMin; m += 5) {
      const x = left + pw - (m / spanMin) * pw;
      ctx.textAlign = m === 0 ? 'right' : m >= spanMin ? 'left' : 'center';
      ctx.fillStyle = cMuted;
      ctx.fillText(m === 0 ? 'now' : '−' + m + ' min', x, topPad + ph + fontPx * 0.45);
      ctx.strokeStyle = cFaint;
      ctx.beginPath();
      ctx.moveTo(Math.round(x) + 0.5, topPad + ph);
      ctx.lineTo(Math.round(x) + 0.5, topPad + ph + fontPx * 0.3);
      ctx.stroke();
    }
    if (n < 2) return;

    const line = Math.max(1.5, fontPx / 9);
    ctx.lineJoin = 'round';
    function area(lower, upper, fill, alpha) {
      ctx.beginPath();
      for (let i = 0; i < n; i++) ctx.lineTo(X(i), Y(upper(i)));
      for (let i = n - 1; i >= 0; i--) ctx.lineTo(X(i), Y(lower(i)));
      ctx.closePath();
      ctx.globalAlpha = alpha;
      ctx.fillStyle = fill;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
    function stroke(fn, col) {
      ctx.beginPath();
      for (let i = 0; i < n; i++) ctx.lineTo(X(i), Y(fn(i)));
      ctx.strokeStyle = col;
      ctx.lineWidth = line;
      ctx.stroke();
    }
    const dv = (i) => d[i] || 0;
    const av = (i) => a[i] || 0;
    if (mode === 'stacked') {
      const sum = (i) => dv(i) + av(i);
      area(dv, sum, cAllowed, 0.35);
      area(() => 0, dv, cDenied, 0.55);
      stroke(sum, cAllowed);
      stroke(dv, cDenied);
    } else {
      area(() => 0, av, cAllowed, 0.15);
      area(() => 0, dv, cDenied, 0.2);
      stroke(av, cAllowed);
      stroke(dv, cDenied);
    }
  }

  const chart = hiDpiCanvas(host, draw);

  return {
    keys: ['series'],
    update(state) {
      const s = state.series;
      if (!s || !Array.isArray(s.allowed) || !Array.isArray(s.denied)) return;
      step = Number(s.step_s) || 1;
      // The last bucket is still filling: leave it out so the chart does not dip at "now".
      a = s.allowed.slice(Math.max(0, s.allowed.length - SPAN_POINTS), -1);
      d = s.denied.slice(Math.max(0, s.denied.length - SPAN_POINTS), -1);
      allowed.val.textContent = a.length ? fmtNum(a[a.length - 1]) + '/s' : '—';
      denied.val.textContent = d.length ? fmtNum(d[d.length - 1]) + '/s' : '—';
      chart.redraw();
    },
    destroy() {
      chart.destroy();
      root.remove();
    },
  };
}
