// The doorbell app: the live view with the doorbell's state and its events,
// or the screen that says why it cannot be shown. window.doorbell is for
// tests and benchmarks (daemon/*browser_test.go).
import * as live from './live.js';
import * as router from './router.js';
import { show, hide } from './screens.js';
import { listen } from './events.js';
import { watch } from './status.js';
import { setupPush } from './push.js';
import { setupTalk, connected as talkConnected, talkState } from './talk.js';

const boot = window.doorbellBoot;
boot.marks.app = Math.round(performance.now());
const panels = document.getElementById('panels');
if (panels) panels.replaceWith(panels.content);
// The manifest and the tab's icon come once the picture is up. For either,
// Chromium fetches the SVG icon and decodes it on the page's main thread,
// as a whole SVG document: 20-30 ms in a trace, which fell on the first
// picture's path when index.html linked them.
for (const [rel, href, type] of [['manifest', '/manifest.webmanifest'], ['icon', '/assets/icon.svg', 'image/svg+xml']]) {
  document.head.append(Object.assign(document.createElement('link'), { rel, href }, type ? { type } : {}));
}
const $ = (id) => document.getElementById(id);
const token = boot.token;
let ended = false; // unpaired or revoked: nothing more to do

const api = window.doorbell = {
  get state() { return live.stats.state; },
  get firstFrameMs() { return boot.firstFrameMs; },
  get sessions() { return live.stats.sessions; },
  get attempts() { return live.stats.attempts; },
  get audioOffered() { return live.stats.audioOffered; },
  get samples() { return live.stats.samples; },
  get screen() { return document.body.dataset.screen; },
  marks: boot.marks,
  events: [],
  framesDecoded: live.framesDecoded,
  measure: live.measure,
  worker: null, // the service worker registration, once it is active
  talk: talkState,
};

// later runs f when the page is idle: what is not the picture waits its turn,
// each in a task of its own.
const later = (f) => new Promise((done) => {
  const run = () => done(f());
  if (window.requestIdleCallback) requestIdleCallback(run, { timeout: 1000 }); else setTimeout(run, 50);
});

// The service worker keeps the app shell for when the doorbell is away.
// Browsers refuse it on a certificate they do not trust.
const worker = 'serviceWorker' in navigator
  ? later(() => navigator.serviceWorker.register('/sw.js', { scope: '/' })).then(() => navigator.serviceWorker.ready)
    .then((reg) => (api.worker = reg), () => null)
  : Promise.resolve(null);

function revoked() {
  if (ended) return;
  ended = true;
  live.stop();
  try {
    localStorage.removeItem('doorbell.token');
    localStorage.setItem('doorbell.revoked', '1');
  } catch (e) { /* the screen says it all the same */ }
  worker.then((reg) => reg && reg.pushManager && reg.pushManager.getSubscription())
    .then((s) => s && s.unsubscribe()).catch(() => {});
  show('revoked');
}

let ringTimer = 0;
function onEvent(ev) {
  api.events.push(ev);
  if (ev.kind === 'clip_sealed' && api.clips) api.clips.refresh();
  const when = new Date(ev.time);
  const time = isNaN(when) ? '' : when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  if (ev.kind === 'ring') {
    $('ring-time').textContent = time;
    $('ring').hidden = false;
    document.body.classList.add('ringing');
    if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
    clearTimeout(ringTimer);
    ringTimer = setTimeout(closeRing, 60000);
    // A ring may have just switched the camera on (privacy profile no-recording): look at once.
    if (live.stats.state !== 'live') live.retryNow();
  }
  const what = { ring: 'Someone rang', motion_start: 'Movement', clip_sealed: 'Clip saved' }[ev.kind];
  if (!what) return;
  $('events-empty').hidden = true;
  const list = $('events-list');
  list.prepend(Object.assign(document.createElement('li'), { textContent: what + (time ? ' at ' + time : '') }));
  while (list.children.length > 50) list.lastChild.remove();
}

function closeRing() {
  $('ring').hidden = true;
  document.body.classList.remove('ringing');
}

router.add('live', {
  enter() {
    if (!token) {
      ended = true;
      let wasRevoked = false;
      try { wasRevoked = localStorage.getItem('doorbell.revoked') === '1'; } catch (e) { /* never paired, then */ }
      show(wasRevoked ? 'revoked' : 'unpaired');
      return;
    }
    live.start({
      state(name, text) {
        document.body.dataset.state = name;
        $('state').textContent = text;
      },
      reached() {
        if (document.body.dataset.screen === 'unreachable') hide();
      },
      unreachable(at, retry) {
        if (!ended) show('unreachable', { at, retry });
      },
      revoked,
      audio(pc) {
        talkConnected(pc);
        const mute = $('mute');
        const video = $('video');
        const label = () => {
          mute.textContent = video.muted ? 'Sound off' : 'Sound on';
          mute.setAttribute('aria-pressed', String(!video.muted));
        };
        mute.onclick = () => {
          video.muted = !video.muted;
          if (!video.muted) video.play().catch(() => {});
          label();
        };
        label();
        mute.hidden = false;
      },
    });
    // The clip list first of what waits: opening its newest records takes
    // longest (a decapsulation each, in a worker), and its module loads
    // meanwhile.
    const clips = import('./clips.js');
    later(() => clips.then((m) => {
      api.clips = m.setup({ token, list: $('clips-list'), empty: $('clips-empty') });
    }));
    later(() => listen(token, { onEvent, onRevoked: revoked, stopped: () => ended }));
    later(() => watch(token, { camera: $('st-camera'), recording: $('st-recording'), storage: $('st-storage'), certificate: $('st-cert') }));
    later(() => setupPush({ worker, token, row: $('st-push'), panel: $('push-panel') }));
    later(() => import('./keyui.js').then((m) => m.setup({ state: $('key-state'), threat: $('key-threat'), button: $('key-export') })));
    later(() => setupTalk({ token, panel: $('talk'), video: $('video') }));
  },
});

document.body.classList.add('app');
$('ring-close').addEventListener('click', closeRing);
router.start();
