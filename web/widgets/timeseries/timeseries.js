// web/widgets/timeseries/timeseries.js: the `timeseries` widget — one or more series over 15 min (live, per second) to 7 days (per-minute history), allowed vs denied by default, optional dashed comparison with yesterday / last week, "now" at the right.

import { colour, hiDpiCanvas, niceTicks } from '../../chart.js';
import { fmtBytes, fmtNum } from '../../format.js';
import { HISTORY_REFRESH_MS, historyAt, slice, subscribe } from '../../history.js';

const RANGES = { '15m': 15, '1h': 60, '6h': 360, '24h': 1440, '7d': 10080 };
const NAMES = { events: 'Events', allowed: 'Allowed', denied: 'Denied', bytes: 'Bytes', distinct_src: 'Distinct sources' };
const COLOURS = { allowed: '--c-allowed', denied: '--c-denied', events: '--c-neutral', bytes: '--c-neutral', distinct_src: '--c-neutral' };
const COMPARE = { yesterday: { ms: 86400000, label: 'yesterday' }, last_week: { ms: 7 * 86400000, label: 'last week' } };
const SPAN_POINTS = 900; // 15 min of 1 s buckets

function legendItem(name, label) {
  const item = document.createElement('span');
  item.className = 'ts-legend-item ts-' + name;
  const sw = document.createElement('span');
  sw.className = 'ts-swatch';
  sw.style.background = 'var(' + (COLOURS[name] || '--c-neutral') + ')';
  const lab = document.createElement('span');
  lab.className = 'ts-name';
  lab.textContent = label;
  const val = document.createElement('span');
  val.className = 'ts-val';
  val.style.color = 'var(' + (COLOURS[name] || '--c-neutral') + ')';
  val.textContent = '—';
  item.append(sw, lab, val);
  return { item, val };
}

/** X-axis labels: [fraction of the width from the right (0 = now), text]. */
function xLabels(minutes, nowMs) {
  const out = [];
  if (minutes <= 60) {
    const every = minutes <= 15 ? 5 : 15;
    for (let m = 0; m <= minutes; m += every) out.push([m / minutes, m === 0 ? 'now' : '−' + m + ' min']);
    return out;
  }
  const p = (n) => (n < 10 ? '0' : '') + n;
  if (minutes <= 1440) {
    const everyH = minutes <= 360 ? 1 : 4;
    const d = new Date(nowMs);
    d.setMinutes(0, 0, 0);
    for (let t = d.getTime(); t >= nowMs - minutes * 60000; t -= 3600000) {
      const h = new Date(t).getHours();
      if (h % everyH === 0) out.push([(nowMs - t) / (minutes * 60000), p(h) + ':00']);
    }
    return out;
  }
  const d = new Date(nowMs);
  d.setHours(0, 0, 0, 0);
  let fmt;
  try {
    fmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
  } catch (e) {
    fmt = { format: (x) => x.toDateString().slice(0, 3) };
  }
  for (let t = d.getTime(); t >= nowMs - minutes * 60000; t -= 86400000) out.push([(nowMs - t) / (minutes * 60000), fmt.format(new Date(t))]);
  return out;
}

export function create(el, spec, ctx) {
  const minutes = RANGES[spec.range] || 15;
  const live = minutes <= 15;
  const names = Array.isArray(spec.series) && spec.series.length ? spec.series.filter((n) => NAMES[n]).slice(0, 4) : ['allowed', 'denied'];
  const stackable = names.length === 2 && names.includes('allowed') && names.includes('denied');
  const mode = spec.mode === 'lines' || !stackable ? 'lines' : 'stacked';
  const cmp = COMPARE[spec.compare] || null;
  const unitText = live ? '/s' : '/min';

  const root = document.createElement('div');
  root.className = 'ts';
  const legend = document.createElement('div');
  legend.className = 'ts-legend';
  const items = names.map((n) => legendItem(n, NAMES[n]));
  for (const it of items) legend.appendChild(it.item);
  if (cmp) {
    const c = document.createElement('span');
    c.className = 'ts-legend-item ts-compare';
    const sw = document.createElement('span');
    sw.className = 'ts-swatch ts-swatch-dashed';
    const lab = document.createElement('span');
    lab.className = 'ts-name';
    lab.textContent = cmp.label + ' (dashed)';
    c.append(sw, lab);
    legend.appendChild(c);
  }
  const note = document.createElement('span');
  note.className = 'ts-note';
  note.textContent = (mode === 'stacked' ? 'stacked · ' : '') + (live ? 'per second' : 'per minute');
  legend.appendChild(note);
  const host = document.createElement('div');
  host.className = 'ts-plot';
  root.append(legend, host);
  el.appendChild(root);

  let data = names.map(() => []); // values, oldest first, last = newest complete bucket
  let prev = null; // comparison values per series (lines mode), same length
  let nowMs = Date.now();
  let hist = null;

  function draw(ctx2, w, h) {
    const fontPx = parseFloat(getComputedStyle(root).fontSize) || 16;
    const axisFont = Math.round(fontPx * 0.95) + 'px ' + getComputedStyle(root).fontFamily;
    const cMuted = colour('--c-muted');
    const cFaint = colour('--c-faint');
    const span = live ? SPAN_POINTS : minutes;
    const n = Math.min(...data.map((a) => a.length));
    const stackTop = (i) => data.reduce((s, a) => s + (a[i] || 0), 0);
    let max = 0;
    for (let i = 0; i < n; i++) {
      const v = mode === 'stacked' ? stackTop(i) : Math.max(...data.map((a) => a[i] || 0));
      if (v > max) max = v;
    }
    if (prev) for (const a of prev) for (const v of a) if (v > max) max = v;
    const fmt = names.length === 1 && names[0] === 'bytes' ? fmtBytes : fmtNum;
    const { top, ticks } = niceTicks(max * 1.05, 4);
    ctx2.font = axisFont;
    let labelW = 0;
    for (const t of ticks) labelW = Math.max(labelW, ctx2.measureText(fmt(t)).width);
    const left = Math.ceil(labelW + fontPx * 0.6);
    const right = Math.ceil(fontPx * 0.4);
    const bottom = Math.ceil(fontPx * 1.7);
    const topPad = Math.ceil(fontPx * 0.6);
    const pw = Math.max(1, w - left - right);
    const ph = Math.max(1, h - topPad - bottom);
    const X = (i, len) => left + pw - ((len - 1 - i) / (span - 1)) * pw;
    const Y = (v) => topPad + ph - (v / top) * ph;

    ctx2.textAlign = 'right';
    ctx2.textBaseline = 'middle';
    ctx2.lineWidth = Math.max(1, fontPx / 16);
    for (const t of ticks) {
      const y = Math.round(Y(t)) + 0.5;
      ctx2.strokeStyle = cFaint;
      ctx2.beginPath();
      ctx2.moveTo(left, y);
      ctx2.lineTo(left + pw, y);
      ctx2.stroke();
      ctx2.fillStyle = cMuted;
      ctx2.fillText(fmt(t), left - fontPx * 0.4, y);
    }
    ctx2.textBaseline = 'top';
    for (const [f, text] of xLabels(minutes, nowMs)) {
      const x = left + pw - f * pw;
      ctx2.textAlign = f <= 0.02 ? 'right' : f >= 0.98 ? 'left' : 'center';
      ctx2.fillStyle = cMuted;
      ctx2.fillText(text, x, topPad + ph + fontPx * 0.45);
      ctx2.strokeStyle = cFaint;
      ctx2.beginPath();
      ctx2.moveTo(Math.round(x) + 0.5, topPad + ph);
      ctx2.lineTo(Math.round(x) + 0.5, topPad + ph + fontPx * 0.3);
      ctx2.stroke();
    }
    if (n < 2) return;
    const line = Math.max(1.5, fontPx / 9);
    ctx2.lineJoin = 'round';
    function path(fn, len) {
      ctx2.beginPath();
      for (let i = 0; i < len; i++) ctx2.lineTo(X(i, len), Y(fn(i)));
    }
    if (prev) {
      ctx2.setLineDash([line * 3, line * 2]);
      for (let k = 0; k < prev.length; k++) {
        path((i) => prev[k][i] || 0, prev[k].length);
        ctx2.strokeStyle = colour(COLOURS[names[k]]);
        ctx2.globalAlpha = 0.55;
        ctx2.lineWidth = line * 0.8;
        ctx2.stroke();
      }
      ctx2.globalAlpha = 1;
      ctx2.setLineDash([]);
    }
    if (mode === 'stacked') {
      // Denied at the bottom, allowed on top.
      const d = data[names.indexOf('denied')];
      const a = data[names.indexOf('allowed')];
      const cA = colour('--c-allowed');
      const cD = colour('--c-denied');
      const area = (lower, upper, fill, alpha) => {
        ctx2.beginPath();
        for (let i = 0; i < n; i++) ctx2.lineTo(X(i, n), Y(upper(i)));
        for (let i = n - 1; i >= 0; i--) ctx2.lineTo(X(i, n), Y(lower(i)));
        ctx2.closePath();
        ctx2.globalAlpha = alpha;
        ctx2.fillStyle = fill;
        ctx2.fill();
        ctx2.globalAlpha = 1;
      };
      const dv = (i) => d[i] || 0;
      const sum = (i) => dv(i) + (a[i] || 0);
      area(dv, sum, cA, 0.35);
      area(() => 0, dv, cD, 0.55);
      ctx2.lineWidth = line;
      path(sum, n);
      ctx2.strokeStyle = cA;
      ctx2.stroke();
      path(dv, n);
      ctx2.strokeStyle = cD;
      ctx2.stroke();
    } else {
      for (let k = 0; k < names.length; k++) {
        const c = colour(COLOURS[names[k]]);
        const arr = data[k];
        ctx2.beginPath();
        ctx2.moveTo(X(0, n), Y(0));
        for (let i = 0; i < n; i++) ctx2.lineTo(X(i, n), Y(arr[i] || 0));
        ctx2.lineTo(X(n - 1, n), Y(0));
        ctx2.closePath();
        ctx2.globalAlpha = 0.15;
        ctx2.fillStyle = c;
        ctx2.fill();
        ctx2.globalAlpha = 1;
        path((i) => arr[i] || 0, n);
        ctx2.strokeStyle = c;
        ctx2.lineWidth = line;
        ctx2.stroke();
      }
    }
  }

  const chart = hiDpiCanvas(host, draw);

  function showLegend() {
    const fmt = names.length === 1 && names[0] === 'bytes' ? fmtBytes : fmtNum;
    for (let k = 0; k < names.length; k++) {
      const a = data[k];
      items[k].val.textContent = a.length ? fmt(a[a.length - 1]) + unitText : '—';
    }
  }

  function fromHistory() {
    if (!hist) return;
    nowMs = ctx ? ctx.serverNow() : Date.now();
    const end = Math.floor(nowMs / 60000) * 60000; // the filling minute is left out
    const from = end - minutes * 60000;
    data = names.map((nm) => slice(hist, nm, from, end));
    prev = cmp ? names.map((nm) => slice(hist, nm, from - cmp.ms, end - cmp.ms)) : null;
    showLegend();
    chart.redraw();
  }

  const unsubscribe = live && !cmp ? null : subscribe((d) => {
    hist = d;
    if (!live) fromHistory();
  });

  return {
    keys: live ? ['series'] : [],
    update(state) {
      if (!live) return;
      const s = state.series;
      if (!s || !names.every((nm) => Array.isArray(s[nm]))) return;
      nowMs = ctx ? ctx.serverNow() : Date.now();
      // The last bucket is still filling: leave it out so the chart does not dip at "now".
      data = names.map((nm) => s[nm].slice(Math.max(0, s[nm].length - SPAN_POINTS), -1));
      if (cmp && hist) {
        // Per-second "then" from per-minute history: each minute's average spread over its seconds.
        const end = Math.floor(nowMs / 1000) * 1000;
        prev = names.map((nm) => {
          const mins = slice(hist, nm, end - 15 * 60000 - cmp.ms, end - cmp.ms);
          const out = new Array(SPAN_POINTS);
          for (let i = 0; i < SPAN_POINTS; i++) out[i] = (mins[Math.floor(i / 60)] || 0) / 60;
          return out;
        });
      }
      showLegend();
      chart.redraw();
    },
    tick() {},
    dataAt() {
      return live ? null : historyAt() || null;
    },
    maxAgeMs() {
      return 3 * HISTORY_REFRESH_MS;
    },
    destroy() {
      if (unsubscribe) unsubscribe();
      chart.destroy();
      root.remove();
    },
  };
}
