// web/format.js: number, byte, duration and path helpers shared by the wall and its widgets (pure functions).

/** Compact number for a wall: 0.4, 12.3, 847, 1.2k, 34k, 3.4M, 1.2G. Non-numbers → "—". */
export function fmtNum(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  const s = v < 0 ? '-' : '';
  const units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [div, suf] of units) {
    if (a >= div * 0.9995) {
      const x = a / div;
      return s + (x >= 99.95 ? x.toFixed(0) : x >= 9.995 ? x.toFixed(0) : x.toFixed(1)) + suf;
    }
  }
  if (a === 0) return '0';
  if (Number.isInteger(v) || a >= 100) return s + Math.round(a).toString();
  if (a >= 10) return s + a.toFixed(0);
  return s + a.toFixed(1);
}

/** Bytes with binary-free SI units, as operators read them: 512 B, 1.2 kB, 34 MB, 1.2 GB. */
export function fmtBytes(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a < 1000) return Math.round(v) + ' B';
  const n = fmtNum(v);
  return n.slice(0, -1) + ' ' + n.slice(-1) + 'B';
}

/** Age in seconds for a human: "3 s", "12 s", "4 min", "2 h", "3 d". */
export function fmtAge(sec) {
  if (typeof sec !== 'number' || !Number.isFinite(sec)) return '—';
  if (sec < 0) sec = 0;
  if (sec < 60) return Math.floor(sec) + ' s';
  if (sec < 3600) return Math.floor(sec / 60) + ' min';
  if (sec < 86400) return Math.floor(sec / 3600) + ' h';
  return Math.floor(sec / 86400) + ' d';
}

/** Resolve a dotted path ("distinct.src.5m") in an object; undefined when any step is missing. */
export function getPath(obj, path) {
  if (typeof path !== 'string' || path === '') return undefined;
  let cur = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Top-level state key a dotted path depends on ("rates.events_per_s" → "rates"). */
export function topKey(path) {
  return typeof path === 'string' ? path.split('.')[0] : '';
}

/** Parse an RFC 3339 time to epoch milliseconds, or NaN. */
export function parseTime(s) {
  if (typeof s !== 'string') return NaN;
  return Date.parse(s);
}
