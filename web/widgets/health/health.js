// web/widgets/health/health.js: the `health` widget — the daemon's own health for the shift lead: wall clients, total tail lag, publish time, uptime, parse errors, state saving, with warn/crit spelled out.
//
// The state-save error text comes from the OS (disk full, permissions): textContent only.

import { fmtAge, fmtBytes, fmtNum, parseTime } from '../../format.js';

/** Tail lag levels: unread bytes behind the end of the tailed files. */
const LAG_WARN = 1 << 20;
const LAG_CRIT = 64 << 20;

function row(label) {
  const r = document.createElement('div');
  r.className = 'health-row';
  const k = document.createElement('span');
  k.className = 'health-key';
  k.textContent = label;
  const v = document.createElement('span');
  v.className = 'health-val';
  v.textContent = '—';
  r.append(k, v);
  return { r, v };
}

/** [text, level] for the `state` key (docs/PROTOCOL.md): `null` = no `[state] dir`; an `error`
 * = saving fails right now (positions and counts would be lost on a crash): critical. */
export function stateSaved(st, now) {
  if (!st || typeof st !== 'object') return ['off', ''];
  if (st.error && typeof st.error === 'object') {
    const since = parseTime(st.error.since);
    const age = Number.isFinite(since) && Number.isFinite(now) ? ' for ' + fmtAge((now - since) / 1000) : '';
    const msg = String(st.error.error ?? '').replace(/\s*\(os error \d+\)$/, '');
    return [`FAILING${age} · ${msg}`, 'crit'];
  }
  const at = parseTime(st.saved_at);
  if (!Number.isFinite(at)) return ['not yet', ''];
  return [Number.isFinite(now) ? fmtAge((now - at) / 1000) + ' ago' : 'yes', ''];
}

export function create(el) {
  const root = document.createElement('div');
  root.className = 'health';
  const rows = {
    clients: row('Wall clients'),
    lag: row('Tail lag'),
    publish: row('Publish time'),
    uptime: row('Uptime'),
    errors: row('Parse errors'),
    saved: row('State saved'),
  };
  for (const x of Object.values(rows)) root.appendChild(x.r);
  el.appendChild(root);

  function set(x, text, level) {
    if (x.v.textContent !== text) x.v.textContent = text;
    x.r.dataset.level = level || '';
  }

  return {
    keys: ['daemon', 'sources', 'totals', 'server_time', 'state'],
    update(state) {
      const d = state.daemon || {};
      set(rows.clients, typeof d.clients === 'number' ? fmtNum(d.clients) : '—');
      set(rows.publish, typeof d.publish_us === 'number' ? (d.publish_us >= 1000 ? (d.publish_us / 1000).toFixed(1) + ' ms' : d.publish_us + ' µs') : '—', d.publish_us > 100000 ? 'warn' : '');
      const lag = Array.isArray(state.sources) ? state.sources.reduce((s, x) => s + (Number(x && x.lag_bytes) || 0), 0) : NaN;
      const lagLevel = lag >= LAG_CRIT ? 'crit' : lag >= LAG_WARN ? 'warn' : '';
      set(rows.lag, fmtBytes(lag) + (lagLevel === 'crit' ? ' · CRITICAL' : lagLevel === 'warn' ? ' · WARN' : ''), lagLevel);
      const up = (parseTime(state.server_time) - parseTime(state.started_at)) / 1000;
      set(rows.uptime, fmtAge(up));
      const pe = state.totals ? Number(state.totals.parse_errors) : NaN;
      set(rows.errors, fmtNum(pe), pe > 0 ? 'warn' : '');
      set(rows.saved, ...stateSaved(state.state, parseTime(state.server_time)));
      rows.saved.r.title = state.state && state.state.error ? String(state.state.error.error ?? '') : '';
    },
    destroy() {
      root.remove();
    },
  };
}
