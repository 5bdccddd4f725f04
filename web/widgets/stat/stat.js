// web/widgets/stat/stat.js: the `stat` widget — one big number with unit, optional "/ total", threshold colour and sparkline.

import { colour, drawSparkline, hiDpiCanvas } from '../../chart.js';
import { fmtNum, getPath, topKey } from '../../format.js';

const SERIES_COLOURS = { allowed: '--c-allowed', denied: '--c-denied', neutral: '--c-neutral' };

/** Threshold level for a value: '' | 'warn' | 'crit'. warn > crit means "lower is worse". */
export function level(v, th) {
  if (typeof v !== 'number' || !th || typeof th !== 'object') return '';
  const warn = Number(th.warn);
  const crit = Number(th.crit);
  const hasW = Number.isFinite(warn);
  const hasC = Number.isFinite(crit);
  const lowerIsWorse = hasW && hasC && warn > crit;
  if (lowerIsWorse) {
    if (v <= crit) return 'crit';
    if (v <= warn) return 'warn';
    return '';
  }
  if (hasC && v >= crit) return 'crit';
  if (hasW && v >= warn) return 'warn';
  return '';
}

export function create(el, spec) {
  const tile = el.closest('.tile');
  const root = document.createElement('div');
  root.className = 'stat';
  const value = document.createElement('div');
  value.className = 'stat-value';
  const num = document.createElement('span');
  num.className = 'stat-num';
  num.textContent = '—';
  const unit = document.createElement('span');
  unit.className = 'stat-unit';
  unit.textContent = typeof spec.unit === 'string' ? spec.unit : '';
  const total = document.createElement('span');
  total.className = 'stat-total';
  const badge = document.createElement('span');
  badge.className = 'stat-badge';
  value.append(num, unit, total);
  root.append(badge, value);
  el.appendChild(root);

  const points = Math.max(10, Math.min(899, Number(spec.sparkline_points) || 300));
  const stroke = SERIES_COLOURS[spec.colour] || SERIES_COLOURS.neutral;
  let sparkValues = null;
  let chart = null;
  if (!spec.sparkline) root.classList.add('stat-nospark');
  if (typeof spec.sparkline === 'string' && spec.sparkline) {
    const host = document.createElement('div');
    host.className = 'stat-spark';
    root.appendChild(host);
    chart = hiDpiCanvas(host, (ctx, w, h) => drawSparkline(ctx, w, h, sparkValues, colour(stroke)));
  }

  const keys = [...new Set([topKey(spec.metric), topKey(spec.sparkline), topKey(spec.total)].filter(Boolean))];

  return {
    keys,
    update(state) {
      const v = getPath(state, spec.metric);
      num.textContent = fmtNum(v);
      if (typeof spec.total === 'string') {
        const t = getPath(state, spec.total);
        total.textContent = typeof t === 'number' ? ' / ' + fmtNum(t) : '';
      }
      const lv = level(v, spec.thresholds);
      if ((tile.dataset.level || '') !== lv) {
        tile.dataset.level = lv;
        // The level is spelled out too, so colour is never the only signal.
        badge.textContent = lv === 'crit' ? 'CRITICAL' : lv === 'warn' ? 'WARN' : '';
      }
      if (chart) {
        const arr = getPath(state, spec.sparkline);
        // Drop the last, still-filling bucket so the line does not dip at "now".
        sparkValues = Array.isArray(arr) ? arr.slice(Math.max(0, arr.length - 1 - points), arr.length - 1) : null;
        chart.redraw();
      }
    },
    destroy() {
      if (chart) chart.destroy();
      root.remove();
    },
  };
}
