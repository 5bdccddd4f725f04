// web/app.js: wall page entry — URL parameters, dashboard layout, widget loading, live state, staleness banner.
//
// Security note: everything that comes from logs (IPs, ports, feed names, error lines) reaches the
// DOM only as text (textContent / createTextNode), never through innerHTML. Keep it that way.

import { connect } from './conn.js';
import { applyAnomaly, applyHeartbeat, applyUpdate, fromSnapshot } from './state.js';
import { fmtAge, parseTime } from './format.js';

const PROTOCOL = 1; // docs/PROTOCOL.md version this page implements
const DEFAULT_DASHBOARD = 'soc-wall';
const DEFAULT_HEARTBEAT_MS = 5000;
const KIND_RE = /^[a-z0-9][a-z0-9_-]{0,40}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

// ── URL parameters ──────────────────────────────────────────────────────────────────────────────
const params = new URLSearchParams(location.search);
const kiosk = params.has('kiosk') && params.get('kiosk') !== '0';
let scale = Number.parseFloat(params.get('scale') ?? '1');
if (!Number.isFinite(scale) || scale < 0.5 || scale > 3) scale = 1;
const pathMatch = location.pathname.match(/^\/d\/([^/]+)\/?$/);
let dashboardName = DEFAULT_DASHBOARD;
if (pathMatch) {
  const decoded = decodeURIComponent(pathMatch[1]);
  if (NAME_RE.test(decoded)) dashboardName = decoded;
}

document.documentElement.style.setProperty('--scale', String(scale));
if (kiosk) document.body.classList.add('kiosk');

// ── Live state ──────────────────────────────────────────────────────────────────────────────────
let state = null; // merged client copy of the snapshot; replaced on every snapshot
let hello = null;
let lastMessageAt = 0; // local epoch ms of the last message received
let serverOffsetMs = 0; // local receipt time − server_time of the last message carrying one
let connectedAt = 0;
let stale = true;
let ready = false;
const pending = new Set(); // top-level keys changed since the last frame (bounded by the key set)
let rafId = 0;
const pageStart = Date.now();

/** Read-only window for automated browser tests and curious operators. */
window.socwall = Object.freeze({
  get state() {
    return state;
  },
  get lastMessageAt() {
    return lastMessageAt;
  },
  get stale() {
    return stale;
  },
  get dashboard() {
    return dashboardName;
  },
});

/** Context handed to every widget (third argument of create). */
const widgetCtx = Object.freeze({
  /** Estimated server clock now (epoch ms), from the last message's server_time. */
  serverNow: () => Date.now() - serverOffsetMs,
  /** Local epoch ms of the last message received (0 = none yet). */
  lastMessageAt: () => lastMessageAt,
  /** Local clock − server clock (ms), as measured at the last receipt. */
  clockOffsetMs: () => serverOffsetMs,
});

// ── Layout ──────────────────────────────────────────────────────────────────────────────────────
const grid = document.getElementById('grid');
/** @type {{spec: object, el: HTMLElement, inst: object|null}[]} */
let widgets = [];
const cssLoaded = new Set();

function loadKindCss(kind) {
  if (cssLoaded.has(kind)) return;
  cssLoaded.add(kind);
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = '/assets/widgets/' + kind + '/' + kind + '.css';
  document.head.appendChild(link);
}

function int(v, lo, hi, dflt) {
  const n = Math.trunc(Number(v));
  return Number.isFinite(n) && n >= lo && n <= hi ? n : dflt;
}

function tileMessage(el, text, cls) {
  const body = el.querySelector('.tile-body');
  body.replaceChildren();
  const p = document.createElement('p');
  p.className = cls;
  p.textContent = text;
  body.appendChild(p);
}

async function instantiate(w) {
  const kind = String(w.spec.kind ?? '');
  if (!KIND_RE.test(kind)) {
    w.el.classList.add('tile-unknown');
    tileMessage(w.el, 'unknown widget kind “' + kind + '”', 'tile-error');
    return;
  }
  let mod;
  try {
    mod = await import('/assets/widgets/' + kind + '/' + kind + '.js');
  } catch (e) {
    w.el.classList.add('tile-unknown');
    tileMessage(w.el, 'unknown widget kind “' + kind + '”', 'tile-error');
    console.warn('socwall: widget kind', kind, 'could not be loaded:', e && e.message);
    return;
  }
  if (typeof mod.create !== 'function') {
    w.el.classList.add('tile-unknown');
    tileMessage(w.el, 'widget kind “' + kind + '” has no create()', 'tile-error');
    return;
  }
  loadKindCss(kind);
  try {
    w.inst = mod.create(w.el.querySelector('.tile-body'), w.spec, widgetCtx);
  } catch (e) {
    w.el.classList.add('tile-unknown');
    tileMessage(w.el, 'widget failed: ' + (e && e.message), 'tile-error');
    console.error('socwall: widget', kind, 'failed to start', e);
    return;
  }
  if (state) safeUpdate(w, new Set(Object.keys(state)));
}

/** Destroy every widget (observers, timers) and empty the grid. */
function clearLayout() {
  for (const w of widgets) {
    if (!w.inst) continue;
    try {
      w.inst.destroy();
    } catch (e) {
      console.error('socwall: widget', w.spec.kind, 'destroy failed', e);
    }
  }
  widgets = [];
  grid.replaceChildren();
}

function buildLayout(dash) {
  clearLayout();
  const cols = int(dash.columns, 1, 48, 12);
  const rows = int(dash.rows, 1, 48, 8);
  grid.style.gridTemplateColumns = 'repeat(' + cols + ', minmax(0, 1fr))';
  grid.style.gridTemplateRows = 'repeat(' + rows + ', minmax(0, 1fr))';
  const title = typeof dash.title === 'string' && dash.title ? dash.title : dashboardName;
  document.getElementById('wall-title').textContent = title;
  document.title = title + ' · socwall';
  const list = Array.isArray(dash.widget) ? dash.widget : Array.isArray(dash.widgets) ? dash.widgets : [];
  for (const spec of list) {
    if (!spec || typeof spec !== 'object') continue;
    const x = int(spec.x, 1, cols, 1);
    const y = int(spec.y, 1, rows, 1);
    const w = int(spec.w, 1, cols - x + 1, 1);
    const h = int(spec.h, 1, rows - y + 1, 1);
    const el = document.createElement('section');
    el.className = 'tile tile-' + (KIND_RE.test(String(spec.kind)) ? spec.kind : 'unknown');
    el.style.gridColumn = x + ' / span ' + w;
    el.style.gridRow = y + ' / span ' + h;
    const head = document.createElement('h2');
    head.className = 'tile-title';
    head.textContent = typeof spec.title === 'string' ? spec.title : String(spec.kind ?? '');
    const body = document.createElement('div');
    body.className = 'tile-body';
    el.append(head, body);
    grid.appendChild(el);
    widgets.push({ spec, el, inst: null });
  }
  return Promise.all(widgets.map(instantiate));
}

let layoutDone = null;
async function loadDashboard() {
  for (;;) {
    try {
      const res = await fetch('/api/v1/dashboards/' + encodeURIComponent(dashboardName), { cache: 'no-store' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const dash = await res.json();
      await buildLayout(dash);
      return;
    } catch (e) {
      clearLayout();
      const p = document.createElement('p');
      p.className = 'grid-error';
      p.textContent = 'Dashboard “' + dashboardName + '” could not be loaded (' + (e && e.message) + '). Retrying…';
      grid.appendChild(p);
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

// ── Rendering (coalesced per animation frame) ──────────────────────────────────────────────────
function safeUpdate(w, keys) {
  if (!w.inst || !state) return;
  const deps = w.inst.keys;
  if (Array.isArray(deps) && !deps.some((k) => keys.has(k))) return;
  try {
    w.inst.update(state, keys);
  } catch (e) {
    console.error('socwall: widget', w.spec.kind, 'update failed', e);
  }
}

function flush() {
  rafId = 0;
  if (!state) return;
  const keys = new Set(pending);
  pending.clear();
  for (const w of widgets) safeUpdate(w, keys);
  if (!ready && layoutDone && layoutDone.done) {
    ready = true;
    document.body.dataset.ready = '1';
  }
}

function markChanged(keys) {
  for (const k of keys) pending.add(k);
  if (!rafId) rafId = requestAnimationFrame(flush);
}

// ── Messages ────────────────────────────────────────────────────────────────────────────────────
function onMessage(msg, at) {
  lastMessageAt = at;
  const st = parseTime(msg.server_time);
  if (Number.isFinite(st)) serverOffsetMs = at - st;
  switch (msg.type) {
    case 'hello':
      hello = msg;
      if (Number(msg.protocol) !== PROTOCOL) {
        console.warn('socwall: server speaks protocol', msg.protocol, 'but this page knows', PROTOCOL);
      }
      break;
    case 'snapshot':
      state = fromSnapshot(msg);
      markChanged(Object.keys(state));
      break;
    case 'update':
      if (!state) break; // an update before any snapshot has nothing to merge into
      markChanged(applyUpdate(state, msg));
      break;
    case 'heartbeat':
      if (state && applyHeartbeat(state, msg)) markChanged(['sources']);
      break;
    case 'anomaly':
      if (state && applyAnomaly(state, msg)) markChanged(['anomalies']);
      break;
    default:
      break;
  }
  refreshStatus();
}

// ── Staleness banner ────────────────────────────────────────────────────────────────────────────
const banner = document.getElementById('banner');
const connDot = document.getElementById('conn-dot');
const connText = document.getElementById('conn-text');
let link = null;

function heartbeatMs() {
  const hb = hello && Number(hello.heartbeat_ms);
  return hb > 0 ? hb : DEFAULT_HEARTBEAT_MS;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function refreshStatus() {
  const now = Date.now();
  const open = link !== null && link.isOpen();
  const since = lastMessageAt ? (now - lastMessageAt) / 1000 : (now - pageStart) / 1000;
  const silent = !lastMessageAt || now - lastMessageAt > 2 * heartbeatMs();
  stale = !state || !open || silent;
  let text = '';
  const denied = !open && link !== null && link.reason() === 'unauthorised';
  if (denied) {
    const retry = Math.max(0, link.retryAt() - now);
    text =
      'NOT AUTHORISED — the server refused this wall’s credentials (token removed or cookie expired). ' +
      'Open the wall’s link with ?token=… once more. ' +
      (retry > 0 ? 'Retrying in ' + Math.ceil(retry / 1000) + ' s…' : 'Retrying…');
    if (lastMessageAt) text += ' Data shown is ' + fmtAge(since) + ' old.';
  } else if (!open) {
    const retry = link ? Math.max(0, link.retryAt() - now) : 0;
    const when = retry > 0 ? 'reconnecting in ' + Math.ceil(retry / 1000) + ' s…' : 'reconnecting…';
    text = lastMessageAt
      ? 'STALE — disconnected, no data for ' + fmtAge(since) + ', ' + when
      : 'NO DATA — cannot reach the socwall server, ' + when;
  } else if (!state) {
    text = now - connectedAt > 2 * heartbeatMs() ? 'NO DATA — connected, waiting for the first snapshot…' : '';
  } else if (silent) {
    text = 'STALE — no data for ' + fmtAge(since) + ', reconnecting…';
  }
  // Do not flash the banner during the first moments of a page load.
  if (!lastMessageAt && now - pageStart < 1500 && !denied) text = '';
  setText(banner, text);
  banner.hidden = text === '';
  document.body.classList.toggle('is-stale', stale && !!state);
  connDot.dataset.state = open ? (silent ? 'stale' : 'live') : denied ? 'denied' : 'down';
  setText(connText, open ? (silent ? 'stale' : 'live') : denied ? 'not authorised' : 'offline');
  // A connection that went quiet for three heartbeats is treated as dead. Silence is counted from
  // the later of the last message and this connection's open, so a fresh socket gets its chance.
  if (open && now - Math.max(lastMessageAt, connectedAt) > 3 * heartbeatMs()) link.kick();
}

setInterval(() => {
  refreshStatus();
  const now = Date.now();
  for (const w of widgets) {
    if (w.inst && typeof w.inst.tick === 'function') {
      try {
        w.inst.tick(now);
      } catch (e) {
        console.error('socwall: widget', w.spec.kind, 'tick failed', e);
      }
    }
  }
}, 500);

// ── Controls (hidden in kiosk mode) ─────────────────────────────────────────────────────────────
document.getElementById('fullscreen').addEventListener('click', () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else document.documentElement.requestFullscreen().catch(() => {});
});

// ── Start ───────────────────────────────────────────────────────────────────────────────────────
layoutDone = { done: false };
loadDashboard().then(() => {
  layoutDone.done = true;
  if (state) markChanged(Object.keys(state));
});
const wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
link = connect(
  wsUrl,
  {
    onMessage,
    onOpen() {
      connectedAt = Date.now();
      refreshStatus();
    },
    onClose() {
      refreshStatus();
    },
  },
  // The socket's own 401 is invisible to scripts: this cheap authenticated route tells.
  { authProbe: '/api/v1/dashboards' },
);
