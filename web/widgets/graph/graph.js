// web/widgets/graph/graph.js: the `graph` widget — link graph of the top talkers from `flows[window]`: nodes sized by degree, edges weighted by bytes and coloured by protocol, each node at a deterministic, sticky position (no jumping between updates); anomaly entities ringed.

import { colour, hiDpiCanvas } from '../../chart.js';

const WINDOWS = new Set(['1m', '5m', '15m', '1h']);
const PROTO = { tcp: ['--c-tcp', []], udp: ['--c-udp', []], icmp: ['--c-neutral', [6, 4]] };
const OTHER = ['--c-neutral', [2, 4]];
/** Slots per arc row; a side has two rows (outer, then inner), so 2 × SLOTS nodes per side. */
const SLOTS = 28;
/** Each arc spans this many radians, centred on the left / right of the circle. */
const ARC = (150 / 180) * Math.PI;
const PRIVATE = /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.|fc|fd|fe80:)/i;

/** FNV-1a of a string: the node's preferred slot is a pure function of its address. */
function hash(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function create(el, spec) {
  const win = WINDOWS.has(spec.window) ? spec.window : '15m';
  const n = Math.max(2, Math.min(50, Math.trunc(Number(spec.n)) || 30));
  const root = document.createElement('div');
  root.className = 'graph';
  const host = document.createElement('div');
  host.className = 'graph-plot';
  const legend = document.createElement('div');
  legend.className = 'graph-legend';
  for (const [name, cls] of [['tcp', 'tcp'], ['udp', 'udp'], ['icmp (dashed)', 'icmp'], ['other (dotted)', 'other'], ['anomaly', 'anomaly']]) {
    const item = document.createElement('span');
    item.className = 'graph-key graph-key-' + cls;
    item.textContent = name;
    legend.appendChild(item);
  }
  const empty = document.createElement('p');
  empty.className = 'graph-empty';
  empty.textContent = 'no flows in this window';
  empty.hidden = true;
  root.append(host, legend, empty);
  el.appendChild(root);

  /** Sticky slot per node: a node keeps its place while it stays on screen (bounded: only
   * nodes of the current graph are kept). */
  let slots = new Map(); // key → {ring, slot}
  let nodes = []; // {key, ring, slot, degree, bytes, hot}
  let edges = []; // {a, b, bytes, proto}

  function place(keys) {
    const next = new Map();
    const used = [new Set(), new Set()];
    for (const k of keys) {
      const old = slots.get(k);
      if (old) {
        next.set(k, old);
        used[old.ring].add(old.slot);
      }
    }
    // Newcomers in a fixed order (sorted) so the same set always lands the same way.
    for (const k of [...keys].sort()) {
      if (next.has(k)) continue;
      const ring = PRIVATE.test(k) ? 0 : 1;
      const size = 2 * SLOTS;
      let s = hash(k) % SLOTS; // prefer the outer row
      for (let i = 0; i < size && used[ring].has(s); i++) s = (s + 1) % size;
      used[ring].add(s);
      next.set(k, { ring, slot: s });
    }
    slots = next;
  }

  function draw(c, w, h) {
    if (!nodes.length) return;
    const fontPx = parseFloat(getComputedStyle(root).fontSize) || 16;
    const cx = w / 2;
    const cy = h / 2;
    const r = Math.max(10, Math.min(w / 2 - fontPx * 7, h / 2 - fontPx * 0.8));
    const pos = new Map();
    for (const nd of nodes) {
      // Internal hosts on the left arc, the rest on the right: slot 0 at the top of each arc.
      const row = nd.slot >= SLOTS ? 1 : 0;
      const f = ((nd.slot % SLOTS) + 0.5 + row * 0.5) / (SLOTS + 0.5);
      const a = nd.ring === 0 ? -Math.PI / 2 - (Math.PI - ARC) / 2 - f * ARC : -Math.PI / 2 + (Math.PI - ARC) / 2 + f * ARC;
      const rr = row ? r * 0.72 : r;
      pos.set(nd.key, [cx + Math.cos(a) * rr, cy + Math.sin(a) * rr, a, row]);
    }
    let maxB = 1;
    for (const e of edges) maxB = Math.max(maxB, e.bytes);
    const line = Math.max(1, fontPx / 10);
    for (const e of edges) {
      const [x1, y1] = pos.get(e.a);
      const [x2, y2] = pos.get(e.b);
      const [cvar, dash] = PROTO[e.proto] || OTHER;
      c.strokeStyle = colour(cvar);
      c.setLineDash(dash.map((d) => d * line));
      c.globalAlpha = 0.35 + 0.55 * Math.sqrt(e.bytes / maxB);
      c.lineWidth = line * (1 + 5 * Math.sqrt(e.bytes / maxB));
      c.beginPath();
      c.moveTo(x1, y1);
      // A gentle curve through a point pulled towards the centre keeps parallel edges apart.
      c.quadraticCurveTo(((x1 + x2) / 2) * 0.6 + cx * 0.4, ((y1 + y2) / 2) * 0.6 + cy * 0.4, x2, y2);
      c.stroke();
    }
    c.setLineDash([]);
    c.globalAlpha = 1;
    let maxDeg = 1;
    for (const nd of nodes) maxDeg = Math.max(maxDeg, nd.degree);
    const cText = colour('--c-text');
    const cMuted = colour('--c-muted');
    const cTile = colour('--c-tile');
    const cCrit = colour('--c-crit');
    const cNode = colour('--c-neutral');
    c.font = Math.round(fontPx * 0.8) + 'px ' + getComputedStyle(root).fontFamily;
    for (const nd of nodes) {
      const [x, y, a, row] = pos.get(nd.key);
      const nr = fontPx * (0.3 + 0.6 * Math.sqrt(nd.degree / maxDeg));
      c.beginPath();
      c.arc(x, y, nr, 0, Math.PI * 2);
      c.fillStyle = cNode;
      c.fill();
      c.lineWidth = line * 1.5;
      c.strokeStyle = cTile;
      c.stroke();
      if (nd.hot) {
        c.beginPath();
        c.arc(x, y, nr + line * 3, 0, Math.PI * 2);
        c.strokeStyle = cCrit;
        c.lineWidth = line * 2.5;
        c.stroke();
      }
      // Labels (log-derived addresses, drawn as canvas text) outside the circle; the inner row
      // is labelled only where it matters (busiest node, anomalies) to stay legible.
      if (row === 1 && !nd.hot && nd.degree !== maxDeg) continue;
      const lx = x + Math.cos(a) * (nr + fontPx * 0.4);
      const ly = y + Math.sin(a) * (nr + fontPx * 0.4);
      c.textAlign = Math.cos(a) >= 0 ? 'left' : 'right';
      c.textBaseline = 'middle';
      c.fillStyle = nd.degree === maxDeg || nd.hot ? cText : cMuted;
      c.fillText(nd.key.length > 22 ? nd.key.slice(0, 10) + '…' + nd.key.slice(-10) : nd.key, lx, ly);
    }
  }

  const chart = hiDpiCanvas(host, draw);

  return {
    keys: ['flows', 'anomalies'],
    update(state) {
      const list = state.flows && Array.isArray(state.flows[win]) ? state.flows[win] : [];
      const top = list
        .filter((f) => f && typeof f.src === 'string' && typeof f.dst === 'string')
        .slice()
        .sort((a, b) => (Number(b.bytes) || 0) - (Number(a.bytes) || 0) || (Number(b.count) || 0) - (Number(a.count) || 0))
        .slice(0, n);
      // One edge per src/dst pair: bytes summed, coloured by its heaviest protocol.
      const byPair = new Map();
      for (const f of top) {
        const k = f.src + '\u0000' + f.dst;
        const e = byPair.get(k) || { a: f.src, b: f.dst, bytes: 0, protoBytes: new Map() };
        const b = Number(f.bytes) || 0;
        e.bytes += b;
        e.protoBytes.set(f.proto, (e.protoBytes.get(f.proto) || 0) + b + 1);
        byPair.set(k, e);
      }
      edges = [...byPair.values()].map((e) => ({ a: e.a, b: e.b, bytes: e.bytes, proto: [...e.protoBytes].sort((x, y) => y[1] - x[1])[0][0] }));
      const degree = new Map();
      for (const e of edges) {
        degree.set(e.a, (degree.get(e.a) || 0) + 1);
        degree.set(e.b, (degree.get(e.b) || 0) + 1);
      }
      const hot = new Set(Array.isArray(state.anomalies) ? state.anomalies.map((a) => a && String(a.entity)) : []);
      place([...degree.keys()]);
      nodes = [...degree].map(([key, d]) => ({ key, degree: d, hot: hot.has(key), ...slots.get(key) }));
      empty.hidden = nodes.length > 0;
      chart.redraw();
    },
    /** For tests and curious operators: the nodes and their (sticky) slots. */
    describe() {
      return { nodes: nodes.map((nd) => nd.key), edges: edges.length, layout: Object.fromEntries([...slots].map(([k, v]) => [k, v.ring + ':' + v.slot])) };
    },
    destroy() {
      chart.destroy();
      root.remove();
    },
  };
}
