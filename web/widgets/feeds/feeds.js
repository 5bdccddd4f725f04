// web/widgets/feeds/feeds.js: the `feeds` widget — one row per log source: state badge, name, events/s, rate sparkline, age, parse errors, and the feed's tailing problem (`io_error`) when it has one.
//
// Feed names, states, paths and error texts come from config, logs and the OS: they are set with textContent only, never innerHTML.

import { colour, drawSparkline, hiDpiCanvas } from '../../chart.js';
import { fmtAge, fmtNum, parseTime } from '../../format.js';

const MAX_ROWS = 32; // hard cap on rows (and canvases) kept alive
const STATES = new Set(['ok', 'quiet', 'silent', 'waiting']);

/** Short verbs for `io_error.op` (docs/PROTOCOL.md); anything else is shown as sent. */
const OPS = {
  open: 'cannot open',
  stat: 'cannot stat',
  read: 'cannot read',
  glob: 'cannot list',
  fstat: 'cannot stat',
  head: 'cannot read',
  fingerprint: 'cannot read',
  max_open_files: 'too many open files',
};

/** "cannot open fw.log: Permission denied" from `{op, path, error}`: the file's base name (the
 * full path is in the tooltip) and the OS message without its "(os error 13)" suffix. */
export function ioErrorText(e) {
  const op = OPS[e.op] || String(e.op ?? 'error');
  const path = String(e.path ?? '');
  const base = path.split('/').filter(Boolean).pop() || path;
  const msg = String(e.error ?? '').replace(/\s*\(os error \d+\)$/, '');
  if (e.op === 'max_open_files') return base ? `${op}: ${base} waits` : op;
  return `${op}${base ? ' ' + base : ''}${msg ? ': ' + msg : ''}`;
}

function cell(cls, text) {
  const c = document.createElement('span');
  c.className = cls;
  if (text !== undefined) c.textContent = text;
  return c;
}

export function create(el, spec, ctx) {
  const max = Math.max(1, Math.min(MAX_ROWS, Math.trunc(Number(spec.max_rows)) || MAX_ROWS));
  const root = document.createElement('div');
  root.className = 'feeds';
  const head = document.createElement('div');
  head.className = 'feeds-row feeds-head';
  head.append(
    cell('feeds-state', 'state'),
    cell('feeds-name', 'source'),
    cell('feeds-rate', 'ev/s'),
    cell('feeds-spark-h', '60 s'),
    cell('feeds-age', 'last event'),
    cell('feeds-err', 'err'),
  );
  const body = document.createElement('div');
  body.className = 'feeds-body';
  const empty = cell('feeds-empty', 'no sources configured');
  empty.hidden = true;
  // The daemon cannot save its state (positions and counts): a crash now would re-read or lose
  // what came since the last save. Daemon-wide, so shown once under the rows (docs/operations.md).
  const stateErr = cell('feeds-state-err');
  stateErr.hidden = true;
  root.append(head, body, empty, stateErr);
  let stateError = null;
  el.appendChild(root);

  /** Reused rows, created on demand up to `max`; never more. */
  const rows = [];
  let sources = [];

  function makeRow() {
    const row = document.createElement('div');
    row.className = 'feeds-row';
    const badge = cell('feeds-state feeds-badge');
    const name = cell('feeds-name');
    const rate = cell('feeds-rate');
    const sparkHost = cell('feeds-spark');
    const age = cell('feeds-age');
    const err = cell('feeds-err');
    // The tailing problem, on a line of its own under the row's cells (hidden when none).
    const ioerr = cell('feeds-ioerr');
    ioerr.hidden = true;
    row.append(badge, name, rate, sparkHost, age, err, ioerr);
    body.appendChild(row);
    const r = { row, badge, name, rate, age, err, ioerr, ioText: '', ioSince: NaN, values: null, chart: null };
    r.chart = hiDpiCanvas(sparkHost, (c, w, h) => drawSparkline(c, w, h, r.values, colour('--c-neutral')));
    return r;
  }

  function renderAges() {
    const now = ctx ? ctx.serverNow() : Date.now();
    if (stateError) {
      const since = parseTime(stateError.since);
      const age = Number.isFinite(since) ? ' · for ' + fmtAge(Math.max(0, (now - since) / 1000)) : '';
      const msg = String(stateError.error ?? '').replace(/\s*\(os error \d+\)$/, '');
      const line = `STATE NOT SAVED: ${msg}${age}`;
      if (stateErr.textContent !== line) stateErr.textContent = line;
    }
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const s = sources[i];
      if (!s || r.row.hidden) continue;
      const t = parseTime(s.last_event_at);
      const text = Number.isFinite(t) ? fmtAge((now - t) / 1000) + ' ago' : 'never';
      if (r.age.textContent !== text) r.age.textContent = text;
      if (r.ioText && !r.row.hidden) {
        const since = Number.isFinite(r.ioSince) ? ' · for ' + fmtAge(Math.max(0, (now - r.ioSince) / 1000)) : '';
        const line = r.ioText + since;
        if (r.ioerr.textContent !== line) r.ioerr.textContent = line;
      }
    }
  }

  return {
    keys: ['sources', 'state'],
    update(state) {
      const se = state.state && typeof state.state === 'object' ? state.state.error : null;
      stateError = se && typeof se === 'object' ? se : null;
      stateErr.hidden = !stateError;
      if (!stateError) stateErr.textContent = '';
      sources = Array.isArray(state.sources) ? state.sources.slice(0, max) : [];
      empty.hidden = sources.length > 0;
      while (rows.length < sources.length) rows.push(makeRow());
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        const s = sources[i];
        if (!s) {
          r.row.hidden = true;
          continue;
        }
        r.row.hidden = false;
        // A tailing problem outranks the activity state: the feed cannot be read at all.
        const io = s.io_error && typeof s.io_error === 'object' ? s.io_error : null;
        const st = io ? 'error' : STATES.has(s.state) ? s.state : 'waiting';
        if (r.badge.dataset.state !== st) {
          r.badge.dataset.state = st;
          r.badge.textContent = st.toUpperCase();
          r.row.dataset.state = st;
        }
        const name = String(s.name ?? '');
        if (r.name.textContent !== name) {
          r.name.textContent = name; // log/config-derived: text only
          r.name.title = name;
        }
        r.rate.textContent = fmtNum(Number(s.events_per_s));
        const pe = Number(s.parse_errors) || 0;
        r.err.textContent = fmtNum(pe);
        r.err.classList.toggle('feeds-err-some', pe > 0);
        r.ioText = io ? ioErrorText(io) : '';
        r.ioSince = io ? parseTime(io.since) : NaN;
        r.ioerr.hidden = !io;
        r.row.classList.toggle('feeds-row-ioerr', !!io);
        const tip = io ? `${String(io.path ?? '')}: ${String(io.error ?? '')} (${String(io.op ?? '')})` : '';
        if (r.ioerr.title !== tip) r.ioerr.title = tip; // text attribute: never parsed as markup
        if (!io) r.ioerr.textContent = '';
        r.values = Array.isArray(s.rate) ? s.rate.slice(-60) : null;
        r.chart.redraw();
      }
      renderAges();
    },
    tick() {
      renderAges();
    },
    destroy() {
      for (const r of rows) r.chart.destroy();
      rows.length = 0;
      root.remove();
    },
  };
}
