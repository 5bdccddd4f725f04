// web/widgets/text/text.js: the `text` widget — a short operator note from the dashboard file (hot-reloaded with it), shown as plain text.

export function create(el, spec) {
  const root = document.createElement('div');
  root.className = 'text-note';
  if (spec.tone === 'warn' || spec.tone === 'crit') root.dataset.tone = spec.tone;
  const p = document.createElement('p');
  p.className = 'text-body';
  // Config-derived, but still text only: a note can never inject markup.
  p.textContent = typeof spec.text === 'string' ? spec.text : '';
  root.appendChild(p);
  el.appendChild(root);
  return {
    keys: [],
    update() {},
    destroy() {
      root.remove();
    },
  };
}
