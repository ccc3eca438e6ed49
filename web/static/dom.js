// h makes an element: h('p', { class: 'muted' }, 'text', child…). Text is
// always set as text, never parsed as HTML.
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) e.append(c);
  return e;
}

// code is a command the user types, shown as code.
export const code = (text) => h('code', null, text);
