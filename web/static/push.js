// Notifications for this phone: Web Push through the doorbell's /api/push
// (GET: the doorbell's public key; POST: this phone's subscription; DELETE:
// none). Off until the owner turns push on, and until this phone asks.
import { h } from './dom.js';
import { help, platform, standalone, trustInfo } from './trust.js';

// The push services of the major browsers, by endpoint host, for "what leaves the house".
function service(endpoint) {
  let host = '';
  try { host = new URL(endpoint).hostname; } catch (e) { return 'the push service of this phone’s browser'; }
  if (/(^|\.)googleapis\.com$|(^|\.)google\.com$/.test(host)) return 'Google’s push service (' + host + ')';
  if (/(^|\.)apple\.com$/.test(host)) return 'Apple’s push service (' + host + ')';
  if (/(^|\.)mozilla\.(com|org)$/.test(host)) return 'Mozilla’s push service (' + host + ')';
  if (/(^|\.)windows\.com$|(^|\.)microsoft\.com$/.test(host)) return 'Microsoft’s push service (' + host + ')';
  return 'the push service at ' + host;
}

function keyBytes(urlSafeBase64) {
  const s = atob(urlSafeBase64.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((urlSafeBase64.length + 3) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const urlSafeBase64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

// What leaves the house with each notification, said exactly.
function leaves(where, picture) {
  return 'Each notification leaves the house through ' + where + ', encrypted to this phone and padded to one size, so ' +
    'that service learns only that a message was sent, when, and to which phone. Inside: what happened (a ring or movement), ' +
    'when, and the event’s number' + (picture ? ', and a small picture from the camera.' : '. No picture.');
}

const prefsKey = 'doorbell.push';
function prefs() {
  try { return Object.assign({ motion: false, snapshot: false }, JSON.parse(localStorage.getItem(prefsKey) || '{}')); } catch (e) { return { motion: false, snapshot: false }; }
}

// options are the two choices of what to be told, as checkboxes.
function options(p, onChange) {
  const cur = Object.assign({}, p);
  const box = (id, key, label) => {
    const input = h('input', { type: 'checkbox', id, checked: cur[key] });
    input.addEventListener('change', () => {
      cur[key] = input.checked;
      onChange(Object.assign({}, cur));
    });
    return h('label', { class: 'check', for: id }, input, ' ', label);
  };
  return h('div', { class: 'options' },
    box('push-motion', 'motion', 'Also when something moves in a zone'),
    box('push-snapshot', 'snapshot', 'With a small picture, on phones that show one'));
}

// setupPush fills the status row and the panel. worker resolves to the
// service worker registration, or null if the browser refused it. The
// doorbell is asked nothing until notifications are turned on here, so a
// doorbell with push off is not asked on every visit.
export async function setupPush({ worker, token, row, panel }) {
  const auth = { Authorization: 'Bearer ' + token };
  const json = { 'Content-Type': 'application/json' };
  const say = (state, text, ...content) => {
    row.textContent = text;
    row.dataset.push = state;
    panel.replaceChildren(...content);
  };
  const again = () => setupPush({ worker, token, row, panel });
  const reg = await worker;
  if (!reg) {
    return say('untrusted', 'Need a trusted certificate', help(await trustInfo()));
  }
  if (platform() === 'ios' && !standalone()) {
    return say('ios-home', 'Add to Home Screen first', h('p', null,
      'On iPhone and iPad, notifications work only in the app on the Home Screen (iOS 16.4 or later): tap Share, then “Add to Home Screen”, and open Doorbell from there.'));
  }
  if (!('PushManager' in window) || !('Notification' in window) || !reg.pushManager) {
    return say('unsupported', 'Not available in this browser', h('p', null, 'This browser cannot receive notifications from web apps. Chrome, Edge, Firefox and Safari 16.4 or later can.'));
  }
  if (Notification.permission === 'denied') {
    return say('blocked', 'Blocked in this browser', h('p', null, 'This browser was told not to show the doorbell’s notifications. Allow them in its site settings for this address, then reload.'));
  }
  // The doorbell's side: {public_key, subscribed, motion, snapshot}, or
  // null when push is off there; it throws when the doorbell does not answer.
  const doorbell = async (method, body) => {
    const r = await fetch('/api/push', { method, headers: Object.assign(body ? json : {}, auth), body: body && JSON.stringify(body), cache: 'no-store' });
    if (r.status === 404) return null;
    if (!r.ok) throw new Error(String(r.status));
    return r.json().catch(() => ({}));
  };
  const send = (sub, p) => doorbell('POST', Object.assign(sub.toJSON(), { motion: p.motion, snapshot: p.snapshot }));

  const sub = await reg.pushManager.getSubscription().catch(() => null);
  if (sub) {
    let state;
    try {
      state = await doorbell('GET');
      if (state && state.public_key && sub.options && sub.options.applicationServerKey && urlSafeBase64(sub.options.applicationServerKey) !== state.public_key) {
        await sub.unsubscribe(); // the doorbell has a new key: subscribe again
        return again();
      }
      if (state && !state.subscribed) state = await send(sub, prefs()); // the doorbell forgot it (revoked and paired again, or gone)
    } catch (e) {
      state = undefined; // not answering: show what this phone knows
    }
    if (state === null) {
      return say('off-device', 'Off on the doorbell', h('p', null, 'The owner turned notifications off on the doorbell. They come back when it is turned on again.'));
    }
    const p = state ? { motion: !!state.motion, snapshot: !!state.snapshot } : prefs();
    const turnOff = h('button', { type: 'button', id: 'push-off', class: 'secondary', onclick: async () => {
      turnOff.disabled = true;
      await doorbell('DELETE').catch(() => {});
      await sub.unsubscribe().catch(() => {});
      again();
    } }, 'Turn off notifications');
    return say('on', p.motion ? 'On, for rings and movement' : 'On, for rings',
      h('p', { class: 'muted', id: 'push-leaves' }, leaves(service(sub.endpoint), p.snapshot)),
      options(p, async (next) => {
        localStorage.setItem(prefsKey, JSON.stringify(next));
        await send(sub, next).catch(() => {});
        again();
      }),
      turnOff);
  }

  let chosen = prefs();
  const text = h('p', { class: 'muted', id: 'push-leaves' }, 'Get “Someone is at the door” on this phone even when the app is closed. ' +
    leaves('this browser’s push service (Google’s, Apple’s or Mozilla’s)', chosen.snapshot));
  const on = h('button', { type: 'button', id: 'push-on', class: 'primary', onclick: async () => {
    on.disabled = true;
    const failed = (state, label, why) => {
      say(state, label, h('p', { role: 'alert' }, why), on);
      on.disabled = false;
    };
    let state;
    try {
      state = await doorbell('GET');
    } catch (e) {
      return failed('off', 'Off', 'The doorbell did not answer. Check that this phone is on the home network, then try again.');
    }
    if (!state || !state.public_key) {
      return failed('off-device', 'Off on the doorbell', 'The owner turns notifications on in the doorbell’s config ([push] enabled = true). They travel through the push service of each phone’s browser (Google’s, Apple’s or Mozilla’s): the doorbell then connects to it.');
    }
    if (await Notification.requestPermission() !== 'granted') {
      return failed('off', 'Off', 'Notifications were not allowed. Allow them when the browser asks, or in its site settings.');
    }
    let s;
    try {
      s = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(state.public_key) });
    } catch (e) {
      return failed('off', 'Off', 'This browser’s push service did not answer. Check that the phone is online, then try again.');
    }
    try {
      localStorage.setItem(prefsKey, JSON.stringify(chosen));
      if (!(await send(s, chosen))) throw new Error('off');
    } catch (e) {
      await s.unsubscribe().catch(() => {});
      return failed('off', 'Off', 'The doorbell did not take this phone’s subscription. Try again in a minute.');
    }
    again();
  } }, 'Turn on notifications');
  // The same as index.html serves, so nothing moves; made again to wire it.
  say('off', 'Off', text, options(chosen, (next) => {
    chosen = next;
    text.textContent = 'Get “Someone is at the door” on this phone even when the app is closed. ' +
      leaves('this browser’s push service (Google’s, Apple’s or Mozilla’s)', next.snapshot);
  }), on);
}
