// web/widgets/anomalies/anomalies.js: the `anomalies` widget — the detection engine's open anomalies, most severe first: severity badge (coloured by band), kind, entity, summary, age.
//
// Entities and summaries come from logs (addresses, feed names): they are set with textContent only, never innerHTML.

import { fmtAge, parseTime } from '../../format.js';

const MAX_ROWS = 50; // the server sends at most 50; hard cap on rows kept alive

/** Severity bands of docs/detections.md: the colour and the word shown with the number. */
export function band(severity) {
  const s = Number(severity) || 0;
  if (s >= 80) return 'critical';
  if (s >= 60) return 'high';
  if (s >= 40) return 'medium';
  if (s >= 20) return 'low';
  return 'info';
}

/** `port_scan` → `port scan`. */
export function kindLabel(kind) {
  return String(kind ?? '').replace(/_/g, ' ');
}

function cell(cls, text) {
  const c = document.createElement('span');
  c.className = cls;
  if (text !== undefined) c.textContent = text;
  return c;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function create(el, spec, ctx) {
  const max = Math.max(1, Math.min(MAX_ROWS, Math.trunc(Number(spec.n)) || 12));
  const root = document.createElement('div');
  root.className = 'anom';
  const body = document.createElement('div');
  body.className = 'anom-body';
  const empty = cell('anom-empty', 'no open anomalies');
  root.append(body, empty);
  el.appendChild(root);

  /** Reused rows, created on demand up to `max`; never more. */
  const rows = [];
  let list = [];

  function makeRow() {
    const row = document.createElement('div');
    row.className = 'anom-row';
    const sev = cell('anom-sev');
    const kind = cell('anom-kind');
    const entity = cell('anom-entity');
    const age = cell('anom-age');
    const summary = cell('anom-summary');
    row.append(sev, kind, entity, age, summary);
    body.appendChild(row);
    return { row, sev, kind, entity, age, summary };
  }

  function renderAges() {
    const now = ctx ? ctx.serverNow() : Date.now();
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const a = list[i];
      if (!a || r.row.hidden) continue;
      const t = parseTime(a.last_seen);
      setText(r.age, Number.isFinite(t) ? fmtAge((now - t) / 1000) + ' ago' : '—');
    }
  }

  return {
    keys: ['anomalies'],
    update(state) {
      list = Array.isArray(state.anomalies) ? state.anomalies.filter((a) => a && typeof a === 'object').slice(0, max) : [];
      empty.hidden = list.length > 0;
      while (rows.length < list.length) rows.push(makeRow());
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        const a = list[i];
        if (!a) {
          r.row.hidden = true;
          continue;
        }
        r.row.hidden = false;
        const sev = Math.max(0, Math.min(100, Math.round(Number(a.severity) || 0)));
        const b = band(sev);
        if (r.row.dataset.band !== b) r.row.dataset.band = b;
        setText(r.sev, String(sev));
        r.sev.title = b + ' (peak ' + (Number(a.peak_severity) || sev) + ')';
        setText(r.kind, kindLabel(a.kind));
        const entity = String(a.entity ?? '');
        setText(r.entity, entity); // log-derived: text only
        r.entity.title = a.zone ? entity + ' · ' + String(a.zone) : entity;
        const summary = String(a.summary ?? '');
        setText(r.summary, summary);
        r.summary.title = summary;
      }
      renderAges();
    },
    tick() {
      renderAges();
    },
    destroy() {
      rows.length = 0;
      root.remove();
    },
  };
}
