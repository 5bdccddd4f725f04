// web/app.js: wall page entry — URL parameters, dashboard or playlist layout, widget loading, live state, hot reload, staleness banner, data ages, daily reload, burn-in shift.
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
const THEMES = new Set(['dark', 'light', 'contrast']);
/** A widget whose data is older than this many heartbeats shows its age. */
const AGE_HEARTBEATS = 2;

// ── URL parameters ──────────────────────────────────────────────────────────────────────────────
const params = new URLSearchParams(location.search);
const flag = (name) => params.has(name) && params.get(name) !== '0' && params.get(name) !== 'false';
const kiosk = flag('kiosk');
let scale = Number.parseFloat(params.get('scale') ?? '1');
if (!Number.isFinite(scale) || scale < 0.5 || scale > 3) scale = 1;
const urlTheme = THEMES.has(params.get('theme')) ? params.get('theme') : null;
let screen = Math.trunc(Number(params.get('screen') ?? '1'));
if (!Number.isFinite(screen) || screen < 1 || screen > 16) screen = 1;
const pathMatch = location.pathname.match(/^\/([dp])\/([^/]+)\/?$/);
let dashboardName = DEFAULT_DASHBOARD;
let playlistName = null;
if (pathMatch) {
  const decoded = decodeURIComponent(pathMatch[2]);
  if (NAME_RE.test(decoded)) {
    if (pathMatch[1] === 'p') playlistName = decoded;
    else dashboardName = decoded;
  }
}

document.documentElement.style.setProperty('--scale', String(scale));
if (urlTheme) document.documentElement.dataset.theme = urlTheme;
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
let firstAssets = null; // hello.assets of the first connection: a different one means an upgrade
let wallSettings = { shifts: [], reload_at: null, burn_in: false };
let layoutGeneration = 0; // bumped on every (re)build of the grid
let playlist = null; // { name, dashboards, dwell_s } in playlist mode
let disconnectedAt = 0; // local epoch ms when the link last went down (0 = up)
const specCache = new Map(); // dashboard name → spec (dropped on a `reload` for it)

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
  get playlist() {
    return playlistName;
  },
  get screen() {
    return screen;
  },
  get layoutGeneration() {
    return layoutGeneration;
  },
  /** Each tile's kind, title and (when the widget offers it) a description of what it draws. */
  tiles() {
    return widgets.map((w) => {
      let info = null;
      try {
        if (w.inst && typeof w.inst.describe === 'function') info = w.inst.describe();
      } catch (e) {
        info = null;
      }
      return { kind: String(w.spec.kind), title: String(w.spec.title ?? ''), loaded: !!w.inst, info };
    });
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
  /** `[wall]` settings from the config (shifts, reload_at, burn_in). */
  wall: () => wallSettings,
  /** Heartbeat interval in ms (what "old" is measured against). */
  heartbeatMs: () => heartbeatMs(),
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
  layoutGeneration++;
  const theme = urlTheme || (THEMES.has(dash.theme) ? dash.theme : 'dark');
  document.documentElement.dataset.theme = theme;
  const cols = int(dash.columns, 1, 48, 12);
  const rows = int(dash.rows, 1, 48, 8);
  grid.style.gridTemplateColumns = 'repeat(' + cols + ', minmax(0, 1fr))';
  grid.style.gridTemplateRows = 'repeat(' + rows + ', minmax(0, 1fr))';
  const title = typeof dash.title === 'string' && dash.title ? dash.title : dashboardName;
  const shown = playlist ? title + '  ·  ' + (playlist.dashboards.indexOf(dashboardName) + 1) + '/' + playlist.dashboards.length : title;
  document.getElementById('wall-title').textContent = shown;
  document.title = title + ' · socwall';
  const list = Array.isArray(dash.widget) ? dash.widget : Array.isArray(dash.widgets) ? dash.widgets : [];
  for (const spec of list) {
    if (!spec || typeof spec !== 'object') continue;
    if (int(spec.screen, 1, 16, 1) !== screen) continue;
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
    const age = document.createElement('span');
    age.className = 'tile-age';
    age.hidden = true;
    const body = document.createElement('div');
    body.className = 'tile-body';
    el.append(head, age, body);
    grid.appendChild(el);
    widgets.push({ spec, el, age, inst: null });
  }
  return Promise.all(widgets.map(instantiate));
}

let layoutDone = null;

async function fetchJson(url) {
  const res = await fetch(url, { cache: 'no-store' });
  if (!res.ok) throw new Error('HTTP ' + res.status);
  return res.json();
}

async function fetchSpec(name) {
  if (!specCache.has(name)) specCache.set(name, await fetchJson('/api/v1/dashboards/' + encodeURIComponent(name)));
  return specCache.get(name);
}

/** Show dashboard `name` (retrying every 5 s while it cannot be fetched). */
async function loadDashboard(name) {
  for (;;) {
    try {
      const dash = await fetchSpec(name);
      dashboardName = name;
      await buildLayout(dash);
      return;
    } catch (e) {
      clearLayout();
      const p = document.createElement('p');
      p.className = 'grid-error';
      p.textContent = 'Dashboard “' + name + '” could not be loaded (' + (e && e.message) + '). Retrying…';
      grid.appendChild(p);
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

/** The dashboard a playlist shows now: a pure function of the server clock, so every screen
 * agrees and a reconnect or reload resumes in place. */
function playlistPick(now) {
  if (!playlist || !playlist.dashboards.length) return null;
  const dwellMs = Math.max(2000, Number(playlist.dwell_s) * 1000 || 45000);
  const i = Math.floor(now / dwellMs) % playlist.dashboards.length;
  return playlist.dashboards[i];
}

let switching = false;
async function playlistTick() {
  if (!playlist || switching || !layoutDone || !layoutDone.done) return;
  const want = playlistPick(widgetCtx.serverNow());
  if (!want || want === dashboardName) return;
  switching = true;
  try {
    await loadDashboard(want);
    if (state) markChanged(Object.keys(state));
  } finally {
    switching = false;
  }
}

async function loadPlaylist() {
  for (;;) {
    try {
      const p = await fetchJson('/api/v1/playlists/' + encodeURIComponent(playlistName));
      if (!Array.isArray(p.dashboards) || !p.dashboards.every((n) => typeof n === 'string' && NAME_RE.test(n))) {
        throw new Error('malformed playlist');
      }
      playlist = p;
      return;
    } catch (e) {
      clearLayout();
      const el = document.createElement('p');
      el.className = 'grid-error';
      el.textContent = 'Playlist “' + playlistName + '” could not be loaded (' + (e && e.message) + '). Retrying…';
      grid.appendChild(el);
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

/** A `reload` message (docs/PROTOCOL.md): re-fetch what changed and re-render in place. */
async function onReload(msg) {
  if (msg.scope === 'page') {
    location.reload();
    return;
  }
  if (msg.scope === 'dashboard' && typeof msg.dashboard === 'string') {
    specCache.delete(msg.dashboard);
    if (msg.dashboard === dashboardName && layoutDone && layoutDone.done) {
      await loadDashboard(dashboardName);
      if (state) markChanged(Object.keys(state));
    }
  } else if (msg.scope === 'playlist' && msg.playlist === playlistName) {
    await loadPlaylist();
    await playlistTick();
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
      if (typeof msg.assets === 'string') {
        if (firstAssets === null) firstAssets = msg.assets;
        else if (firstAssets !== msg.assets) {
          // The daemon was upgraded under us: load the new page code.
          location.reload();
          return;
        }
      }
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
      if (state && msg.daemon && typeof msg.daemon === 'object') {
        state.daemon = msg.daemon;
        markChanged(['daemon']);
      }
      break;
    case 'reload':
      onReload(msg).catch((e) => console.warn('socwall: reload failed', e && e.message));
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

/** Local wall-clock time of an epoch ms, HH:MM:SS. */
function clockText(ms) {
  const d = new Date(ms);
  const p = (n) => (n < 10 ? '0' : '') + n;
  return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
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
    if (!disconnectedAt) disconnectedAt = now;
    const retry = link ? Math.max(0, link.retryAt() - now) : 0;
    const when = retry > 0 ? 'reconnecting in ' + Math.ceil(retry / 1000) + ' s…' : 'reconnecting…';
    text = lastMessageAt
      ? 'STALE — Disconnected since ' + clockText(lastMessageAt) + ', no data for ' + fmtAge(since) + ', ' + when
      : 'NO DATA — cannot reach the socwall server (since ' + clockText(disconnectedAt) + '), ' + when;
  } else if (!state) {
    text = now - connectedAt > 2 * heartbeatMs() ? 'NO DATA — connected, waiting for the first snapshot…' : '';
  } else if (silent) {
    text = 'STALE — no data since ' + clockText(lastMessageAt) + ' (' + fmtAge(since) + '), reconnecting…';
  }
  if (open) disconnectedAt = 0;
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

/** Every tile says how old its data is once that is more than AGE_HEARTBEATS heartbeats (or
 * the widget's own limit, for widgets that poll the history API). Never silently stale. */
function refreshAges(now) {
  for (const w of widgets) {
    if (!w.inst) continue;
    let at = lastMessageAt;
    let limit = AGE_HEARTBEATS * heartbeatMs();
    try {
      if (typeof w.inst.dataAt === 'function') {
        const own = w.inst.dataAt();
        if (own !== null && own !== undefined) {
          // Data of its own (history): that age, against the widget's own limit; a dead socket
          // still shows through the banner and the dimming.
          at = own;
          if (typeof w.inst.maxAgeMs === 'function') limit = w.inst.maxAgeMs();
        }
      }
    } catch (e) {
      /* an age is a hint; never let it break the tick */
    }
    const old = at > 0 && now - at > limit;
    const text = old ? 'data ' + fmtAge((now - at) / 1000) + ' old' : '';
    if (w.age.textContent !== text) w.age.textContent = text;
    w.age.hidden = !old;
    w.el.classList.toggle('tile-old', old);
  }
}

/** Optional daily reload at `[wall] reload_at` (wall-local HH:MM). */
let nextDailyReload = 0;
function planDailyReload() {
  const m = /^(\d\d):(\d\d)$/.exec(String(wallSettings.reload_at || ''));
  if (!m) {
    nextDailyReload = 0;
    return;
  }
  const t = new Date();
  t.setHours(Number(m[1]), Number(m[2]), 0, 0);
  if (t.getTime() <= Date.now() + 60000) t.setDate(t.getDate() + 1);
  nextDailyReload = t.getTime();
}

/** Burn-in protection: the whole page drifts a few pixels along a slow Lissajous path. */
const burnIn = params.has('burnin') ? flag('burnin') : null;
function burnInStep(now) {
  const on = burnIn === null ? !!wallSettings.burn_in : burnIn;
  document.body.classList.toggle('burnin', on);
  if (!on) return;
  const t = now / 1000;
  const x = Math.round(Math.sin(t / 97) * 6);
  const y = Math.round(Math.sin(t / 61 + 1) * 4);
  document.body.style.setProperty('--shift-x', x + 'px');
  document.body.style.setProperty('--shift-y', y + 'px');
}

let lastBurn = 0;
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
  refreshAges(now);
  playlistTick().catch((e) => console.warn('socwall: playlist switch failed', e && e.message));
  if (nextDailyReload && now >= nextDailyReload && now - pageStart > 60000) location.reload();
  if (now - lastBurn > 30000) {
    lastBurn = now;
    burnInStep(now);
  }
}, 500);

// ── Controls (hidden in kiosk mode) ─────────────────────────────────────────────────────────────
document.getElementById('fullscreen').addEventListener('click', () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else document.documentElement.requestFullscreen().catch(() => {});
});

// ── Start ───────────────────────────────────────────────────────────────────────────────────────
layoutDone = { done: false };
(async () => {
  try {
    wallSettings = await fetchJson('/api/v1/wall');
  } catch (e) {
    /* defaults: no shifts, no daily reload, no burn-in shift */
  }
  planDailyReload();
  burnInStep(Date.now());
  if (playlistName) {
    await loadPlaylist();
    await loadDashboard(playlistPick(widgetCtx.serverNow()));
  } else {
    await loadDashboard(dashboardName);
  }
  layoutDone.done = true;
  if (state) markChanged(Object.keys(state));
})();
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
