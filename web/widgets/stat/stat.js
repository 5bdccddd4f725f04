// web/widgets/stat/stat.js: the `stat` widget — one big number (a state path, a sum since midnight, or a count of list entries) with unit, "/ total", threshold colour, sparkline and delta vs yesterday / last week.

import { colour, drawSparkline, hiDpiCanvas } from '../../chart.js';
import { fmtBytes, fmtNum, getPath, topKey } from '../../format.js';
import { HISTORY_REFRESH_MS, historyAt, localMidnight, slice, subscribe, sumRange } from '../../history.js';

const DAY_MS = 86400000;
const COMPARE = { yesterday: { ms: DAY_MS, label: 'yesterday' }, last_week: { ms: 7 * DAY_MS, label: 'last week' } };

/** Entries of the list at `path` whose `field` lies in [min, max] (both optional). */
export function countWhere(state, spec) {
  const list = getPath(state, spec.count);
  if (!Array.isArray(list)) return undefined;
  const min = Number.isFinite(Number(spec.min)) && spec.min !== undefined ? Number(spec.min) : -Infinity;
  const max = Number.isFinite(Number(spec.max)) && spec.max !== undefined ? Number(spec.max) : Infinity;
  if (typeof spec.field !== 'string') return list.length;
  let n = 0;
  for (const e of list) {
    const v = e && Number(e[spec.field]);
    if (Number.isFinite(v) && v >= min && v <= max) n++;
  }
  return n;
}

/** "▲ 12 % vs yesterday", "▼ 3 % vs last week", "= vs yesterday"; null when there is no basis. */
export function deltaText(now, then, label) {
  if (typeof now !== 'number' || typeof then !== 'number') return null;
  if (then === 0) return now === 0 ? '= vs ' + label : 'new vs ' + label + ' (0 then)';
  const pct = ((now - then) / then) * 100;
  if (Math.abs(pct) < 0.5) return '= vs ' + label;
  const shown = Math.abs(pct) >= 10 ? Math.round(Math.abs(pct)) : Math.abs(pct).toFixed(1);
  return (pct > 0 ? '▲ ' : '▼ ') + shown + ' % vs ' + label;
}

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

export function create(el, spec, ctx) {
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
  const delta = document.createElement('div');
  delta.className = 'stat-delta';
  root.append(badge, value, delta);
  el.appendChild(root);
  const today = typeof spec.today === 'string' ? spec.today : null;
  const cmp = COMPARE[spec.compare] || null;
  const fmt = spec.today === 'bytes' || spec.unit === 'bytes' ? fmtBytes : fmtNum;
  if (spec.unit === 'bytes') unit.textContent = '';

  const points = Math.max(10, Math.min(899, Number(spec.sparkline_points) || 300));
  const stroke = SERIES_COLOURS[spec.colour] || SERIES_COLOURS.neutral;
  let sparkValues = null;
  let chart = null;
  const spark = typeof spec.sparkline === 'string' && spec.sparkline ? spec.sparkline : today ? 'history' : '';
  if (!spark) root.classList.add('stat-nospark');
  if (spark) {
    const host = document.createElement('div');
    host.className = 'stat-spark';
    root.appendChild(host);
    chart = hiDpiCanvas(host, (ctx, w, h) => drawSparkline(ctx, w, h, sparkValues, colour(stroke)));
  }

  const keys = [...new Set([topKey(spec.metric), topKey(spec.sparkline), topKey(spec.total), topKey(spec.count)].filter(Boolean))];
  let hist = null;
  let lastState = null;
  let renderedAt = 0;
  const usesHistory = !!(today || cmp);
  // started_at comes with every snapshot: history-based stats get the state object that way.
  if (usesHistory) keys.push('started_at');
  const unsubscribe = usesHistory ? subscribe((d) => {
    hist = d;
    if (lastState) render(lastState);
  }) : null;

  /** The value shown: a state path, a sum since local midnight, or a count of list entries. */
  function current(state) {
    if (today) {
      const now = ctx ? ctx.serverNow() : Date.now();
      return hist ? sumRange(hist, today, localMidnight(now), now + 60000) : undefined;
    }
    if (typeof spec.count === 'string') return countWhere(state, spec);
    return getPath(state, spec.metric);
  }

  /** The same quantity one day / one week earlier (from the per-minute history). */
  function previous(state, v) {
    if (!cmp || !hist || typeof v !== 'number') return null;
    const now = ctx ? ctx.serverNow() : Date.now();
    const started = Date.parse(state && state.started_at);
    if (Number.isFinite(started) && started > now - cmp.ms) return 'no history';
    if (today) return sumRange(hist, today, localMidnight(now) - cmp.ms, now - cmp.ms);
    // A rate: the average per second over the 10 minutes around the same time then.
    const sum = sumRange(hist, spec.compare_series, now - cmp.ms - 300000, now - cmp.ms + 300000);
    return sum === null ? null : sum / 600;
  }

  function render(state) {
    lastState = state;
    renderedAt = Date.now();
    const v = current(state);
    num.textContent = fmt(v);
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
        if (spark === 'history') {
          const now = ctx ? ctx.serverNow() : Date.now();
          sparkValues = hist ? slice(hist, today, localMidnight(now), Math.floor(now / 60000) * 60000) : null;
        } else {
          const arr = getPath(state, spec.sparkline);
          // Drop the last, still-filling bucket so the line does not dip at "now".
          sparkValues = Array.isArray(arr) ? arr.slice(Math.max(0, arr.length - 1 - points), arr.length - 1) : null;
        }
        chart.redraw();
      }
      if (cmp) {
        const then = previous(state, v);
        const text = then === 'no history' ? 'no history for ' + cmp.label + ' yet' : deltaText(v, then, cmp.label);
        delta.textContent = text || '';
      }
  }

  return {
    keys,
    update(state) {
      render(state);
    },
    tick() {
      // Sums since midnight and comparisons move with the clock too.
      if (usesHistory && lastState && Date.now() - renderedAt > 5000) render(lastState);
    },
    dataAt() {
      return usesHistory ? historyAt() || null : null;
    },
    maxAgeMs() {
      return 3 * HISTORY_REFRESH_MS;
    },
    destroy() {
      if (unsubscribe) unsubscribe();
      if (chart) chart.destroy();
      root.remove();
    },
  };
}
