// web/chart.js: canvas helpers for our own charts — crisp HiDPI canvases, palette lookup, sparklines.

/** Read a palette colour defined once in wall.css (e.g. "--c-allowed"). */
export function colour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#ccc';
}

/**
 * A canvas that fills `host` and stays crisp: backing store = CSS size × devicePixelRatio,
 * redrawn through `draw(ctx, widthCss, heightCss)` on every resize. Returns
 * { canvas, redraw(), destroy() }. destroy() disconnects the observer (no leaks on re-render).
 */
export function hiDpiCanvas(host, draw) {
  const canvas = document.createElement('canvas');
  canvas.className = 'chart-canvas';
  host.appendChild(canvas);
  let w = 0;
  let h = 0;
  function redraw() {
    const rect = host.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    w = Math.max(1, Math.floor(rect.width));
    h = Math.max(1, Math.floor(rect.height));
    const bw = Math.round(w * dpr);
    const bh = Math.round(h * dpr);
    if (canvas.width !== bw || canvas.height !== bh) {
      canvas.width = bw;
      canvas.height = bh;
    }
    canvas.style.width = w + 'px';
    canvas.style.height = h + 'px';
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    draw(ctx, w, h);
  }
  const ro = new ResizeObserver(() => redraw());
  ro.observe(host);
  return {
    canvas,
    redraw,
    destroy() {
      ro.disconnect();
      canvas.remove();
    },
  };
}

/**
 * Sparkline: a filled area + line over `values` (oldest first), scaled to its own max
 * (min 0), with the last value marked by a dot.
 */
export function drawSparkline(ctx, w, h, values, stroke) {
  if (!Array.isArray(values) || values.length < 2) return;
  const pad = Math.max(2, h * 0.08);
  let max = 0;
  for (const v of values) if (typeof v === 'number' && v > max) max = v;
  // 15 % headroom so a steady value reads as a line, not a filled block.
  max = max <= 0 ? 1 : max * 1.15;
  const n = values.length;
  const x = (i) => (i / (n - 1)) * (w - pad * 2) + pad;
  const y = (v) => h - pad - ((typeof v === 'number' ? v : 0) / max) * (h - pad * 2);
  ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.moveTo(x(0), h - pad);
  for (let i = 0; i < n; i++) ctx.lineTo(x(i), y(values[i]));
  ctx.lineTo(x(n - 1), h - pad);
  ctx.closePath();
  ctx.globalAlpha = 0.18;
  ctx.fillStyle = stroke;
  ctx.fill();
  ctx.globalAlpha = 1;
  ctx.beginPath();
  for (let i = 0; i < n; i++) {
    if (i === 0) ctx.moveTo(x(i), y(values[i]));
    else ctx.lineTo(x(i), y(values[i]));
  }
  ctx.strokeStyle = stroke;
  ctx.lineWidth = Math.max(1.5, h / 40);
  ctx.stroke();
  ctx.beginPath();
  ctx.arc(x(n - 1), y(values[n - 1]), Math.max(2, h / 22), 0, Math.PI * 2);
  ctx.fillStyle = stroke;
  ctx.fill();
}

/** "Nice" axis ticks: ~count steps of 1/2/5 × 10^k covering [0, max]. */
export function niceTicks(max, count) {
  if (!(max > 0)) return { step: 1, top: 1, ticks: [0, 1] };
  const raw = max / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  const top = Math.ceil(max / step) * step;
  const ticks = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  return { step, top, ticks };
}
