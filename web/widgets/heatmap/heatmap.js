// web/widgets/heatmap/heatmap.js: the `heatmap` widget — denied traffic as a grid of cells: destination port × minute over the last hour (`port_heat`), or hour of day × day over 7 days (per-minute history, wall-local time).

import { colour, hiDpiCanvas } from '../../chart.js';
import { fmtNum } from '../../format.js';
import { HISTORY_REFRESH_MS, historyAt, localMidnight, sumRange, subscribe } from '../../history.js';

const TONE = { denied: '--c-denied', allowed: '--c-allowed', events: '--c-neutral', bytes: '--c-neutral' };

export function create(el, spec, ctx) {
  const mode = spec.mode === 'hour-day' ? 'hour-day' : 'port-time';
  const series = TONE[spec.series] ? spec.series : 'denied';
  const root = document.createElement('div');
  root.className = 'heat';
  const legend = document.createElement('div');
  legend.className = 'heat-legend';
  const scaleLabel = document.createElement('span');
  scaleLabel.className = 'heat-scale-label';
  const ramp = document.createElement('span');
  ramp.className = 'heat-ramp heat-ramp-' + (mode === 'port-time' ? 'denied' : series);
  const maxLabel = document.createElement('span');
  maxLabel.className = 'heat-max';
  legend.append(scaleLabel, ramp, maxLabel);
  const host = document.createElement('div');
  host.className = 'heat-plot';
  const empty = document.createElement('p');
  empty.className = 'heat-empty';
  empty.hidden = true;
  root.append(host, legend, empty);
  el.appendChild(root);

  let rows = []; // row labels (text only)
  let cols = []; // column labels: [index, text]
  let cells = []; // rows × columns of numbers
  let max = 0;
  let hist = null;

  function draw(c, w, h) {
    if (!rows.length) return;
    const fontPx = parseFloat(getComputedStyle(root).fontSize) || 16;
    c.font = Math.round(fontPx * 0.9) + 'px ' + getComputedStyle(root).fontFamily;
    let labelW = 0;
    for (const r of rows) labelW = Math.max(labelW, c.measureText(r).width);
    const left = Math.ceil(labelW + fontPx * 0.6);
    const bottom = Math.ceil(fontPx * 1.5);
    const nCols = cells[0] ? cells[0].length : 0;
    const cw = (w - left) / Math.max(1, nCols);
    const ch = (h - bottom) / rows.length;
    const base = colour(mode === 'port-time' ? '--c-denied' : TONE[series]);
    const faint = colour('--c-tile-edge');
    const muted = colour('--c-muted');
    const gap = Math.max(1, Math.min(cw, ch) * 0.08);
    for (let r = 0; r < rows.length; r++) {
      c.fillStyle = muted;
      c.textAlign = 'right';
      c.textBaseline = 'middle';
      c.fillText(rows[r], left - fontPx * 0.4, r * ch + ch / 2);
      for (let k = 0; k < nCols; k++) {
        const v = cells[r][k] || 0;
        const x = left + k * cw;
        const y = r * ch;
        if (v <= 0) {
          c.fillStyle = faint;
          c.globalAlpha = 0.5;
        } else {
          // Square-root scale: one burst must not flatten every other cell to nothing.
          c.fillStyle = base;
          c.globalAlpha = 0.15 + 0.85 * Math.sqrt(v / max);
        }
        c.fillRect(x + gap / 2, y + gap / 2, Math.max(1, cw - gap), Math.max(1, ch - gap));
      }
    }
    c.globalAlpha = 1;
    c.fillStyle = muted;
    c.textBaseline = 'top';
    for (const [k, text] of cols) {
      const x = left + k * cw + cw / 2;
      c.textAlign = k === 0 ? 'left' : k >= nCols - 1 ? 'right' : 'center';
      c.fillText(text, k === 0 ? left : k >= nCols - 1 ? w : x, h - bottom + fontPx * 0.3);
    }
  }

  const chart = hiDpiCanvas(host, draw);

  function finish(emptyText) {
    max = 0;
    for (const r of cells) for (const v of r) if (v > max) max = v;
    empty.textContent = emptyText;
    empty.hidden = rows.length > 0;
    maxLabel.textContent = max > 0 ? fmtNum(max) : '0';
    chart.redraw();
  }

  function fromPortHeat(ph) {
    if (!ph || !Array.isArray(ph.ports) || !Array.isArray(ph.counts)) return;
    rows = ph.ports.map((p) => String(p)); // log-derived: drawn as canvas text only
    // The last column is the current minute so far: a burst shows at once, not a minute late.
    cells = ph.counts.map((r) => (Array.isArray(r) ? r.map(Number) : []));
    const n = cells[0] ? cells[0].length : 0;
    cols = [];
    for (let m = 60; m >= 0; m -= 15) {
      const k = n - m;
      if (k >= 0 && k < n) cols.push([k, m === 0 ? 'now' : '−' + m + ' min']);
      else if (m === 0 && n) cols.push([n - 1, 'now']);
    }
    scaleLabel.textContent = 'denied / min';
    finish('no denied traffic in the last hour');
  }

  function fromHistory() {
    if (!hist) return;
    const now = ctx ? ctx.serverNow() : Date.now();
    const today = localMidnight(now);
    let fmt;
    try {
      fmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
    } catch (e) {
      fmt = { format: (x) => x.toDateString().slice(0, 3) };
    }
    rows = [];
    cells = [];
    for (let d = 6; d >= 0; d--) {
      const day = new Date(today);
      day.setDate(day.getDate() - d);
      const start = day.getTime();
      rows.push(d === 0 ? 'today' : fmt.format(day));
      const row = [];
      for (let hr = 0; hr < 24; hr++) {
        const from = start + hr * 3600000;
        row.push(from > now ? 0 : sumRange(hist, series, from, from + 3600000) || 0);
      }
      cells.push(row);
    }
    cols = [[0, '00:00'], [6, '06:00'], [12, '12:00'], [18, '18:00'], [23, '23:00']];
    scaleLabel.textContent = series + ' / hour';
    finish('no history yet');
  }

  const unsubscribe = mode === 'hour-day' ? subscribe((d) => {
    hist = d;
    fromHistory();
  }) : null;

  return {
    keys: mode === 'port-time' ? ['port_heat'] : [],
    update(state) {
      if (mode === 'port-time') fromPortHeat(state.port_heat);
    },
    dataAt() {
      return mode === 'hour-day' ? historyAt() || null : null;
    },
    maxAgeMs() {
      return 3 * HISTORY_REFRESH_MS;
    },
    /** For tests and curious operators: row labels, columns and the largest cell. */
    describe() {
      return { rows: rows.slice(), columns: cells[0] ? cells[0].length : 0, max };
    },
    destroy() {
      if (unsubscribe) unsubscribe();
      chart.destroy();
      root.remove();
    },
  };
}
