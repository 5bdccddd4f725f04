// web/state.js: the client-side copy of the server state — snapshot replace, update merge, bounded series.

/** Points kept per series array: 15 minutes of per-second buckets. Hard bound; never grows past it. */
export const SERIES_POINTS = 900;

/** Anomalies kept (the server sends at most 50 in a snapshot or update). */
export const ANOMALIES_MAX = 50;

/** Top-level keys an `update` may carry (PROTOCOL.md); anything else in a message is metadata. */
const META_KEYS = new Set(['type', 'protocol', 'seq', 'server_time', 'started_at']);

/** Copy a series object, keeping every numeric array bounded to SERIES_POINTS (the newest ones). */
function boundSeries(series) {
  const out = { step_s: Number(series.step_s) || 1, end: Number(series.end) || 0 };
  for (const [k, v] of Object.entries(series)) {
    if (Array.isArray(v)) out[k] = v.length > SERIES_POINTS ? v.slice(v.length - SERIES_POINTS) : v.slice();
  }
  return out;
}

/**
 * Merge an update's `series` into the current one by time. Both sets of arrays end at their own
 * `end` (Unix seconds, the still-filling bucket). Gaps are filled with zeros; arrays stay bounded.
 */
export function mergeSeries(cur, upd) {
  if (!cur || typeof cur !== 'object' || !Number.isFinite(Number(cur.end))) return boundSeries(upd);
  const step = Number(upd.step_s) || Number(cur.step_s) || 1;
  if ((Number(cur.step_s) || 1) !== step) return boundSeries(upd);
  const curEnd = Number(cur.end);
  const updEnd = Number(upd.end);
  if (!Number.isFinite(updEnd)) return cur;
  // Advance: how many new buckets does the update's end add?
  const advance = Math.max(0, Math.round((updEnd - curEnd) / step));
  const newEnd = curEnd + advance * step;
  const out = { ...cur, step_s: step, end: newEnd };
  const names = new Set();
  for (const [k, v] of Object.entries(cur)) if (Array.isArray(v)) names.add(k);
  for (const [k, v] of Object.entries(upd)) if (Array.isArray(v)) names.add(k);
  for (const name of names) {
    let arr = Array.isArray(cur[name]) ? cur[name] : [];
    if (advance >= SERIES_POINTS) {
      arr = new Array(SERIES_POINTS).fill(0);
    } else if (advance > 0) {
      arr = arr.slice(Math.max(0, arr.length + advance - SERIES_POINTS));
      for (let i = 0; i < advance; i++) arr.push(0);
    } else {
      arr = arr.slice();
    }
    const pts = upd[name];
    if (Array.isArray(pts)) {
      // Point i of the update sits at time updEnd - (len-1-i)*step; map it onto our array.
      for (let i = 0; i < pts.length; i++) {
        const t = updEnd - (pts.length - 1 - i) * step;
        const idx = arr.length - 1 - Math.round((newEnd - t) / step);
        if (idx >= 0 && idx < arr.length) arr[idx] = pts[i];
      }
    }
    out[name] = arr;
  }
  return out;
}

/** A fresh state from a snapshot message. Returns the new state. */
export function fromSnapshot(msg) {
  const state = {};
  for (const [k, v] of Object.entries(msg)) {
    if (k === 'type') continue;
    state[k] = k === 'series' && v && typeof v === 'object' ? boundSeries(v) : v;
  }
  return state;
}

/**
 * Apply an update in place. Each present top-level key replaces ours, except `series`, which is
 * merged by time. Returns the set of data keys that changed.
 */
export function applyUpdate(state, msg) {
  const changed = new Set();
  for (const [k, v] of Object.entries(msg)) {
    if (k === 'type') continue;
    if (k === 'series' && v && typeof v === 'object') {
      state.series = mergeSeries(state.series, v);
    } else {
      state[k] = v;
    }
    if (!META_KEYS.has(k)) changed.add(k);
  }
  return changed;
}

/**
 * Apply a heartbeat's per-source health (`sources: [{name, state, last_event_at}]`) onto the full
 * source entries we hold. Returns true when something changed.
 */
export function applyHeartbeat(state, msg) {
  if (msg.server_time) state.server_time = msg.server_time;
  if (!Array.isArray(msg.sources) || !Array.isArray(state.sources)) return false;
  let changed = false;
  const byName = new Map(msg.sources.map((s) => [s && s.name, s]));
  state.sources = state.sources.map((src) => {
    const hb = byName.get(src.name);
    if (!hb) return src;
    if (hb.state === src.state && hb.last_event_at === src.last_event_at) return src;
    changed = true;
    return { ...src, state: hb.state, last_event_at: hb.last_event_at };
  });
  return changed;
}

/**
 * Apply one `anomaly` message (`{type: 'anomaly', change: 'open'|'update'|'close', id, ...}`) to the
 * anomaly list: open/update replace the entry with that id, close removes it; the list stays sorted
 * by severity (then most recent) and bounded. Snapshots and updates that carry `anomalies` replace
 * the whole list as usual. Returns true when the list changed.
 */
export function applyAnomaly(state, msg) {
  if (!state || !msg || typeof msg.id !== 'string') return false;
  const list = Array.isArray(state.anomalies) ? state.anomalies.filter((a) => a && a.id !== msg.id) : [];
  if (msg.change !== 'close') {
    const a = { ...msg };
    delete a.type;
    delete a.change;
    list.push(a);
    list.sort(
      (x, y) =>
        (Number(y.severity) || 0) - (Number(x.severity) || 0) ||
        String(y.last_seen ?? '').localeCompare(String(x.last_seen ?? '')),
    );
  }
  state.anomalies = list.slice(0, ANOMALIES_MAX);
  return true;
}
