// web/widgets/feeds/feeds.js: the `feeds` widget — one row per log source: state badge, name, events/s, rate sparkline, age, parse errors.
//
// Feed names and states come from config and logs: they are set with textContent only, never innerHTML.

import { colour, drawSparkline, hiDpiCanvas } from '../../chart.js';
import { fmtAge, fmtNum, parseTime } from '../../format.js';

const MAX_ROWS = 32; // hard cap on rows (and canvases) kept alive
const STATES = new Set(['ok', 'quiet', 'silent', 'waiting']);

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
  root.append(head, body, empty);
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
    row.append(badge, name, rate, sparkHost, age, err);
    body.appendChild(row);
    const r = { row, badge, name, rate, age, err, values: null, chart: null };
    r.chart = hiDpiCanvas(sparkHost, (c, w, h) => drawSparkline(c, w, h, r.values, colour('--c-neutral')));
    return r;
  }

  function renderAges() {
    const now = ctx ? ctx.serverNow() : Date.now();
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const s = sources[i];
      if (!s || r.row.hidden) continue;
      const t = parseTime(s.last_event_at);
      const text = Number.isFinite(t) ? fmtAge((now - t) / 1000) + ' ago' : 'never';
      if (r.age.textContent !== text) r.age.textContent = text;
    }
  }

  return {
    keys: ['sources'],
    update(state) {
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
        const st = STATES.has(s.state) ? s.state : 'waiting';
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
