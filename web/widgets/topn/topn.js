// web/widgets/topn/topn.js: the `topn` widget — ranked horizontal bars with value labels from topn[window][dim]; marks entries first seen in the last hour; optional bottom-first order.
//
// Keys come straight from logs (IPs, ports, pairs): they are set with textContent only, never innerHTML.

import { fmtBytes, fmtNum } from '../../format.js';

const WINDOWS = new Set(['1m', '5m', '15m', '1h']);

/** Split a long key so the end stays visible: "2001:db8:…:beef" keeps the host part readable. */
function splitKey(key) {
  if (key.length <= 16) return [key, ''];
  const tail = Math.min(8, Math.floor(key.length / 3));
  return [key.slice(0, key.length - tail), key.slice(key.length - tail)];
}

export function create(el, spec) {
  const win = WINDOWS.has(spec.window) ? spec.window : '15m';
  const dim = typeof spec.dim === 'string' ? spec.dim : 'src';
  const n = Math.max(1, Math.min(50, Math.trunc(Number(spec.n)) || 10));
  const byBytes = spec.value === 'bytes' || (spec.value === undefined && dim === 'talkers');
  const tone = dim.startsWith('denied_') ? 'denied' : 'neutral';
  const bottom = spec.order === 'bottom';
  // Which first-seen list marks this dimension's keys as new (PROTOCOL.md `first_seen`).
  const newList = spec.mark_new === false ? null : /dport$/.test(dim) ? 'dport' : /^(src|dst|talkers|denied_src|denied_dst)$/.test(dim) ? 'host' : null;

  const root = document.createElement('ol');
  root.className = 'topn topn-' + tone;
  root.style.gridTemplateRows = 'repeat(' + n + ', minmax(0, 1fr))';
  const empty = document.createElement('p');
  empty.className = 'topn-empty';
  empty.textContent = 'no events in this window';
  empty.hidden = true;
  // Rows are created once and reused on every update: no DOM growth over hours.
  const rows = [];
  for (let i = 0; i < n; i++) {
    const li = document.createElement('li');
    li.className = 'topn-row';
    li.hidden = true;
    const bar = document.createElement('span');
    bar.className = 'topn-bar';
    const rank = document.createElement('span');
    rank.className = 'topn-rank';
    rank.textContent = String(i + 1);
    const key = document.createElement('span');
    key.className = 'topn-key';
    const head = document.createElement('span');
    head.className = 'topn-key-head';
    const tail = document.createElement('span');
    tail.className = 'topn-key-tail';
    key.append(head, tail);
    const badge = document.createElement('span');
    badge.className = 'topn-new';
    badge.textContent = 'NEW';
    badge.hidden = true;
    const val = document.createElement('span');
    val.className = 'topn-val';
    li.append(bar, rank, key, badge, val);
    root.appendChild(li);
    rows.push({ li, bar, head, tail, badge, val, key: null });
  }
  el.append(root, empty);

  return {
    keys: ['topn', 'first_seen'],
    update(state) {
      let list = state.topn && state.topn[win] && Array.isArray(state.topn[win][dim]) ? state.topn[win][dim] : [];
      if (bottom) list = list.slice(0, n).reverse();
      const fs = state.first_seen;
      const fresh = new Set(newList && fs && !fs.learning && Array.isArray(fs[newList]) ? fs[newList].map((e) => String(e && e.key)) : []);
      const metric = byBytes ? 'bytes' : 'count';
      let max = 0;
      for (let i = 0; i < Math.min(n, list.length); i++) {
        const v = Number(list[i] && list[i][metric]) || 0;
        if (v > max) max = v;
      }
      empty.hidden = list.length > 0;
      for (let i = 0; i < n; i++) {
        const r = rows[i];
        const e = list[i];
        if (!e) {
          r.li.hidden = true;
          continue;
        }
        r.li.hidden = false;
        const k = String(e.key ?? '');
        if (r.key !== k) {
          r.key = k;
          const [h, t] = splitKey(k);
          r.head.textContent = h; // log-derived: text only
          r.tail.textContent = t;
          r.li.title = k;
        }
        r.badge.hidden = !fresh.has(k);
        r.li.classList.toggle('topn-is-new', fresh.has(k));
        const v = Number(e[metric]) || 0;
        const approx = Number(e.error) > 0 ? '≈' : '';
        r.val.textContent = approx + (byBytes ? fmtBytes(v) : fmtNum(v));
        r.bar.style.width = (max > 0 ? (v / max) * 100 : 0).toFixed(2) + '%';
      }
    },
    destroy() {
      root.remove();
      empty.remove();
    },
  };
}
