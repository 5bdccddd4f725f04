// web/widgets/parallel/parallel.js: the `parallel` widget — parallel coordinates of the top flows (source → destination → destination port) from `flows[window]`; line width by events, flows touching an open anomaly's entity drawn on top in the critical colour.

import { colour, hiDpiCanvas } from '../../chart.js';

const WINDOWS = new Set(['1m', '5m', '15m', '1h']);
const AXES = [['src', 'Source'], ['dst', 'Destination'], ['service', 'Port']];

/** Sort addresses and services the way people read them: numbers numerically. */
function naturalSort(a, b) {
  return a.localeCompare(b, undefined, { numeric: true });
}

export function create(el, spec) {
  const win = WINDOWS.has(spec.window) ? spec.window : '15m';
  const n = Math.max(2, Math.min(50, Math.trunc(Number(spec.n)) || 30));
  const root = document.createElement('div');
  root.className = 'par';
  const head = document.createElement('div');
  head.className = 'par-head';
  for (const [, label] of AXES) {
    const s = document.createElement('span');
    s.textContent = label;
    head.appendChild(s);
  }
  const host = document.createElement('div');
  host.className = 'par-plot';
  const empty = document.createElement('p');
  empty.className = 'par-empty';
  empty.textContent = 'no flows in this window';
  empty.hidden = true;
  root.append(head, host, empty);
  el.appendChild(root);

  let flows = [];
  let hot = new Set();

  function draw(c, w, h) {
    if (!flows.length) return;
    const fontPx = parseFloat(getComputedStyle(root).fontSize) || 16;
    c.font = Math.round(fontPx * 0.78) + 'px ' + getComputedStyle(root).fontFamily;
    const values = AXES.map(([k]) => [...new Set(flows.map((f) => String(f[k])))].sort(naturalSort));
    const pad = fontPx * 0.7;
    const xs = [w * 0.17, w * 0.55, w * 0.9];
    const y = (axis, v) => {
      const list = values[axis];
      const i = list.indexOf(v);
      return list.length === 1 ? h / 2 : pad + (i / (list.length - 1)) * (h - 2 * pad);
    };
    let maxC = 1;
    for (const f of flows) maxC = Math.max(maxC, Number(f.count) || 0);
    const line = Math.max(1, fontPx / 12);
    const cNeutral = colour('--c-neutral');
    const cCrit = colour('--c-crit');
    const isHot = (f) => hot.has(f.src) || hot.has(f.dst);
    // Calm lines first, anomalies on top.
    for (const pass of [false, true]) {
      for (const f of flows) {
        if (isHot(f) !== pass) continue;
        const pts = AXES.map(([k], i) => [xs[i], y(i, String(f[k]))]);
        c.beginPath();
        c.moveTo(pts[0][0], pts[0][1]);
        for (let i = 1; i < pts.length; i++) {
          const mx = (pts[i - 1][0] + pts[i][0]) / 2;
          c.bezierCurveTo(mx, pts[i - 1][1], mx, pts[i][1], pts[i][0], pts[i][1]);
        }
        c.strokeStyle = pass ? cCrit : cNeutral;
        c.globalAlpha = pass ? 0.95 : 0.25 + 0.5 * Math.sqrt((Number(f.count) || 0) / maxC);
        c.lineWidth = line * (pass ? 2.5 : 1 + 3 * Math.sqrt((Number(f.count) || 0) / maxC));
        c.stroke();
      }
    }
    c.globalAlpha = 1;
    const cFaint = colour('--c-faint');
    const cText = colour('--c-text');
    const cMuted = colour('--c-muted');
    const cTile = colour('--c-tile');
    const maxLabels = Math.max(2, Math.floor((h - 2 * pad) / (fontPx * 0.95)));
    for (let i = 0; i < AXES.length; i++) {
      c.strokeStyle = cFaint;
      c.lineWidth = line * 2;
      c.beginPath();
      c.moveTo(xs[i], pad * 0.5);
      c.lineTo(xs[i], h - pad * 0.5);
      c.stroke();
      const list = values[i];
      const every = Math.ceil(list.length / maxLabels);
      c.textBaseline = 'middle';
      c.textAlign = i === 0 ? 'right' : 'left';
      for (let j = 0; j < list.length; j += every) {
        const v = list[j]; // log-derived: canvas text only
        const t = v.length > 24 ? v.slice(0, 11) + '…' + v.slice(-11) : v;
        const lx = xs[i] + (i === 0 ? -fontPx * 0.4 : fontPx * 0.4);
        // A halo in the tile colour keeps labels legible over the lines.
        c.lineWidth = fontPx * 0.3;
        c.lineJoin = 'round';
        c.strokeStyle = cTile;
        c.strokeText(t, lx, y(i, v));
        c.fillStyle = hot.has(v) ? cCrit : i === 2 ? cText : cMuted;
        c.fillText(t, lx, y(i, v));
      }
    }
  }

  const chart = hiDpiCanvas(host, draw);

  return {
    keys: ['flows', 'anomalies'],
    update(state) {
      const list = state.flows && Array.isArray(state.flows[win]) ? state.flows[win] : [];
      flows = list.filter((f) => f && typeof f.src === 'string' && typeof f.dst === 'string').slice(0, n);
      hot = new Set(Array.isArray(state.anomalies) ? state.anomalies.map((a) => a && String(a.entity)) : []);
      empty.hidden = flows.length > 0;
      chart.redraw();
    },
    /** For tests and curious operators: what is drawn. */
    describe() {
      return { flows: flows.length, hot: flows.filter((f) => hot.has(f.src) || hot.has(f.dst)).length };
    },
    destroy() {
      chart.destroy();
      root.remove();
    },
  };
}
