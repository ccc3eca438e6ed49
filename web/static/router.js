// Views of the app by address fragment (#live, and #clips, #talk… as the
// next screens are added): add(name, view) registers one; a view has
// enter() and may have leave(). Unknown fragments open the first view.
const views = new Map();
let current = null;

export function add(name, view) {
  views.set(name, view);
}

export function start() {
  window.addEventListener('hashchange', route);
  route();
}

function route() {
  const name = location.hash.slice(1);
  const next = views.has(name) ? name : views.keys().next().value;
  if (next === current) return;
  if (current && views.get(current).leave) views.get(current).leave();
  current = next;
  views.get(next).enter();
}
