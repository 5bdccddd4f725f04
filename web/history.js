// web/history.js: the shared per-minute history (GET /api/v1/series?step=1m, 7 days) for widgets that compare with yesterday or last week — one fetch for every widget, refreshed while anyone listens.

/** Refresh period of the history; widgets flag their data as old after 3 missed refreshes. */
export const HISTORY_REFRESH_MS = 30000;
const POINTS = 7 * 24 * 60 + 24 * 60; // capped by the server at 7 days

let data = null; // { step_s, end, events, allowed, denied, bytes } as served
let fetchedAt = 0; // local epoch ms of the last successful fetch
let timer = 0;
let inflight = null;
const listeners = new Set();

async function refresh() {
  if (inflight) return inflight;
  inflight = (async () => {
    try {
      const res = await fetch('/api/v1/series?step=1m&points=' + Math.min(POINTS, 10080), { cache: 'no-store' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const d = await res.json();
      if (!d || !Number.isFinite(Number(d.end)) || !Array.isArray(d.events)) throw new Error('malformed series');
      data = d;
      fetchedAt = Date.now();
      for (const cb of listeners) {
        try {
          cb(data);
        } catch (e) {
          console.error('socwall: history listener failed', e);
        }
      }
    } catch (e) {
      // Keep the last good copy; its age shows on the tiles that use it.
      console.warn('socwall: history fetch failed:', e && e.message);
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

/** Listen for history refreshes; returns an unsubscribe function. The callback gets the data at
 * once when a copy is already there. */
export function subscribe(cb) {
  listeners.add(cb);
  if (data) cb(data);
  else refresh();
  if (!timer) timer = setInterval(refresh, HISTORY_REFRESH_MS);
  return () => {
    listeners.delete(cb);
    if (!listeners.size && timer) {
      clearInterval(timer);
      timer = 0;
    }
  };
}

/** Local epoch ms of the last successful fetch (0 = none yet). */
export function historyAt() {
  return fetchedAt;
}

/**
 * Sum of series `name` over the minutes whose start lies in [fromMs, toMs) (epoch ms). Returns
 * null when the history does not reach back that far.
 */
export function sumRange(d, name, fromMs, toMs) {
  const arr = d && d[name];
  if (!Array.isArray(arr)) return null;
  const step = (Number(d.step_s) || 60) * 1000;
  const endMs = Number(d.end) * 1000; // start of the last (filling) bucket
  const firstMs = endMs - (arr.length - 1) * step;
  if (fromMs < firstMs) return null;
  let sum = 0;
  for (let i = 0; i < arr.length; i++) {
    const t = firstMs + i * step;
    if (t >= fromMs && t < toMs) sum += Number(arr[i]) || 0;
  }
  return sum;
}

/** Values of series `name` for minute starts in [fromMs, toMs), oldest first (missing → 0). */
export function slice(d, name, fromMs, toMs) {
  const arr = d && d[name];
  const step = (Number(d && d.step_s) || 60) * 1000;
  const n = Math.max(0, Math.round((toMs - fromMs) / step));
  const out = new Array(n).fill(0);
  if (!Array.isArray(arr)) return out;
  const endMs = Number(d.end) * 1000;
  const firstMs = endMs - (arr.length - 1) * step;
  for (let j = 0; j < n; j++) {
    const i = Math.round((fromMs + j * step - firstMs) / step);
    if (i >= 0 && i < arr.length) out[j] = Number(arr[i]) || 0;
  }
  return out;
}

/** Local midnight of the day containing `ms`. */
export function localMidnight(ms) {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}
