// web/widgets/clock/clock.js: the `clock` widget — local time, date, the current shift (from `[wall] shifts`), and how long ago the last server message arrived.

import { fmtAge } from '../../format.js';

function pad(n) {
  return n < 10 ? '0' + n : String(n);
}

/** "Night shift · until 06:00" for the schedule [{name, start: "HH:MM"}] (sorted by start). */
export function currentShift(shifts, now) {
  if (!Array.isArray(shifts) || !shifts.length) return '';
  const mins = now.getHours() * 60 + now.getMinutes();
  const parsed = shifts
    .map((s) => {
      const m = /^(\d\d):(\d\d)$/.exec(String(s && s.start));
      return m ? { name: String(s.name), start: Number(m[1]) * 60 + Number(m[2]), text: m[0] } : null;
    })
    .filter(Boolean)
    .sort((a, b) => a.start - b.start);
  if (!parsed.length) return '';
  let i = parsed.length - 1; // before the first start of the day, the last shift still runs
  for (let k = 0; k < parsed.length; k++) if (parsed[k].start <= mins) i = k;
  const next = parsed[(i + 1) % parsed.length];
  return parsed[i].name + ' shift' + (parsed.length > 1 ? ' · until ' + next.text : '');
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
  const shiftEl = document.createElement('div');
  shiftEl.className = 'clock-shift';
  root.append(time, date, shiftEl, upd);
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
    const sh = spec.shift ? currentShift(ctx && ctx.wall ? ctx.wall().shifts : null, now) : '';
    if (shiftEl.textContent !== sh) shiftEl.textContent = sh;
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
