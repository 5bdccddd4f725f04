// web/widgets/clock/clock.js: the `clock` widget — local time, date, and how long ago the last server message arrived.

import { fmtAge } from '../../format.js';

function pad(n) {
  return n < 10 ? '0' + n : String(n);
}

export function create(el, spec, ctx) {
  const root = document.createElement('div');
  root.className = 'clock';
  const time = document.createElement('div');
  time.className = 'clock-time';
  const date = document.createElement('div');
  date.className = 'clock-date';
  const upd = document.createElement('div');
  upd.className = 'clock-updated';
  root.append(time, date, upd);
  el.appendChild(root);
  const showSeconds = spec.seconds !== false;
  let dateFmt;
  try {
    dateFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
  } catch (e) {
    dateFmt = { format: (d) => d.toDateString() };
  }

  function render() {
    const now = new Date();
    const t = pad(now.getHours()) + ':' + pad(now.getMinutes()) + (showSeconds ? ':' + pad(now.getSeconds()) : '');
    if (time.textContent !== t) time.textContent = t;
    const d = dateFmt.format(now);
    if (date.textContent !== d) date.textContent = d;
    let u = 'waiting for data…';
    const last = ctx ? ctx.lastMessageAt() : 0;
    if (last) {
      const ago = Math.max(0, Date.now() - last) / 1000;
      u = 'updated ' + (ago < 10 ? ago.toFixed(1) + ' s' : fmtAge(ago)) + ' ago';
      // The local clock is what this tile shows: flag it when it disagrees with the server's.
      const skew = ctx.clockOffsetMs() / 1000;
      if (Math.abs(skew) >= 2) u += ' · wall clock ' + (skew > 0 ? '+' : '−') + Math.abs(skew).toFixed(0) + ' s vs server';
    }
    if (upd.textContent !== u) upd.textContent = u;
    upd.classList.toggle('clock-late', last > 0 && Date.now() - last > 10000);
  }
  render();
  // The clock keeps its own 250 ms timer so seconds never skip; cleared in destroy().
  const timer = setInterval(render, 250);

  return {
    keys: [],
    update() {
      render();
    },
    destroy() {
      clearInterval(timer);
      root.remove();
    },
  };
}
