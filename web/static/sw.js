// The doorbell app's service worker: it keeps the app shell, so that the
// installed app opens at once even when the doorbell is away, and shows
// the doorbell's push notifications. The server fills in VERSION (a hash of
// the app's files: a new app makes a new worker) and SHELL.
const VERSION = '{{VERSION}}';
const SHELL = {{SHELL}};
const CACHE = 'doorbell-shell-' + VERSION;
const LIVE = '/#live';

self.addEventListener('install', (e) => {
  // Static routes (where the browser has them): online, a page comes from
  // the network without waiting for this worker to start; offline, the
  // fetch handler below answers from the cache.
  if (e.addRoutes) {
    const path = (p) => ({ urlPattern: new URLPattern({ pathname: p }) });
    try {
      e.addRoutes([
        { condition: { requestMode: 'navigate' }, source: 'race-network-and-fetch-handler' },
        // The call, the events and the API never wait for this worker to start.
        { condition: path('/whep*'), source: 'network' },
        { condition: path('/api/*'), source: 'network' },
        { condition: path('/healthz'), source: 'network' },
      ]).catch(() => { /* the fetch handler alone serves */ });
    } catch (err) { /* no URLPattern: the fetch handler alone serves */ }
  }
  e.waitUntil(caches.open(CACHE)
    .then((c) => c.addAll(SHELL.map((u) => new Request(u, { cache: 'reload' }))))
    .then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith('doorbell-shell-') && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// Only the shell is cached. Video, events, pairing and the API always go
// to the doorbell, and nothing it says about the door is kept.
self.addEventListener('fetch', (e) => {
  const req = e.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== location.origin) return;
  const path = req.mode === 'navigate' && url.pathname === '/' ? '/' : url.pathname;
  if (!SHELL.includes(path)) return;
  e.respondWith(caches.open(CACHE).then((c) => c.match(path)).then((hit) => hit || fetch(req)));
});

function timeOf(t) {
  const d = new Date(t);
  return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// A push carries {kind, time, id} and, if this phone asked for it, a
// snapshot (a data: URL), padded by the doorbell to one size.
self.addEventListener('push', (e) => {
  let ev = {};
  try { ev = e.data ? e.data.json() : {}; } catch (err) { /* shown as a ring: better a false ring than a missed one */ }
  const at = timeOf(ev.time || Date.now());
  const motion = /^motion/.test(ev.kind || '');
  const title = motion ? 'Movement at the door' : 'Someone is at the door';
  e.waitUntil(self.registration.showNotification(title, {
    body: (motion ? 'Seen at ' : 'Rang at ') + at + '. Tap to see the live picture.',
    tag: ev.id ? 'doorbell-' + ev.id : 'doorbell-ring',
    renotify: true,
    requireInteraction: !motion,
    icon: '/assets/icon-192.png',
    badge: '/assets/icon-192.png',
    timestamp: Date.parse(ev.time) || Date.now(),
    image: typeof ev.snapshot === 'string' && ev.snapshot.startsWith('data:image/') ? ev.snapshot : undefined,
    data: { url: LIVE, kind: ev.kind || 'ring', time: ev.time || '' },
  }));
});

// A tap opens the app on the live view: in the window already open, else a new one.
function openLive() {
  return self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((wins) => {
    const mine = wins.find((w) => new URL(w.url).origin === location.origin);
    if (!mine) return self.clients.openWindow(LIVE);
    return mine.navigate(LIVE).then((w) => (w || mine).focus()).catch(() => mine.focus());
  });
}

self.addEventListener('notificationclick', (e) => {
  e.notification.close();
  e.waitUntil(openLive());
});

// Tests cannot tap a notification in a headless browser; a page of this
// origin asks for what the tap does ({tap: tag}), and the notification
// with that tag is closed as a tap closes it.
self.addEventListener('message', (e) => {
  if (!e.data || typeof e.data.tap !== 'string') return;
  e.waitUntil(self.registration.getNotifications({ tag: e.data.tap }).then((ns) => {
    if (!ns.length) return undefined;
    ns.forEach((n) => n.close());
    return openLive();
  }));
});
