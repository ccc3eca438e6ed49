// Notifications for this phone: Web Push through the doorbell's /api/push
// (GET: the doorbell's public key; POST: this phone's subscription; DELETE:
// none). Off until the owner turns push on, and until this phone asks.
import { h } from './dom.js';
import { help, platform, standalone } from './trust.js';

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

function keyBytes(b64url) {
  const s = atob(b64url.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((b64url.length + 3) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const offText = () => h('p', { class: 'muted' },
  'Get “Someone is at the door” on this phone even when the app is closed. The message goes through this browser’s push service (Google’s, Apple’s or Mozilla’s), encrypted, so it learns only that a message was sent.');

// setupPush fills the status row and the panel. worker resolves to the
// service worker registration, or null if the browser refused it. Nothing
// is asked of the doorbell until the user turns notifications on or off.
export async function setupPush({ worker, token, row, panel }) {
  const auth = { Authorization: 'Bearer ' + token };
  const say = (state, text, ...content) => {
    row.textContent = text;
    row.dataset.push = state;
    panel.replaceChildren(...content);
  };
  const again = () => setupPush({ worker, token, row, panel });
  const reg = await worker;
  if (!reg) {
    return say('untrusted', 'Need a trusted certificate', help());
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
  const sub = await reg.pushManager.getSubscription().catch(() => null);
  if (sub) {
    return say('on', 'On', h('p', { class: 'muted' },
      'When someone rings, the doorbell sends this phone a message through ' + service(sub.endpoint) +
      '. That service learns when a message was sent and to which phone, not what it says: the message is encrypted to this phone and always the same size.'),
    h('button', { type: 'button', id: 'push-off', class: 'secondary', onclick: async (e) => {
      e.target.disabled = true;
      await fetch('/api/push', { method: 'DELETE', headers: auth }).catch(() => {});
      await sub.unsubscribe().catch(() => {});
      again();
    } }, 'Turn off notifications'));
  }
  const on = h('button', { type: 'button', id: 'push-on', class: 'primary', onclick: async () => {
    on.disabled = true;
    const failed = (state, text, why) => {
      say(state, text, h('p', { role: 'alert' }, why), on);
      on.disabled = false;
    };
    let key = '';
    try {
      const r = await fetch('/api/push', { headers: auth, cache: 'no-store' });
      if (r.ok) key = ((await r.json()) || {}).public_key || '';
      else if (r.status !== 404 && r.status !== 503) throw new Error(String(r.status));
    } catch (e) {
      return failed('off', 'Off', 'The doorbell did not answer. Check that this phone is on the home network, then try again.');
    }
    if (!key) {
      return failed('off-device', 'Off on the doorbell', 'The owner turns notifications on in the doorbell’s config ([push] enabled = true). They travel through the push service of each phone’s browser (Google’s, Apple’s or Mozilla’s): the doorbell then connects to it.');
    }
    if (await Notification.requestPermission() !== 'granted') {
      return failed('off', 'Off', 'Notifications were not allowed. Allow them when the browser asks, or in its site settings.');
    }
    let s;
    try {
      s = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
    } catch (e) {
      return failed('off', 'Off', 'This browser’s push service did not answer. Check that the phone is online, then try again.');
    }
    const r = await fetch('/api/push', {
      method: 'POST', headers: Object.assign({ 'Content-Type': 'application/json' }, auth), body: JSON.stringify(s.toJSON()),
    }).catch(() => null);
    if (!r || !r.ok) {
      await s.unsubscribe().catch(() => {});
      return failed('off', 'Off', 'The doorbell did not take this phone’s subscription. Try again in a minute.');
    }
    again();
  } }, 'Turn on notifications');
  // Already on the page as served (index.html), so nothing moves; replaced
  // to wire the button.
  say('off', 'Off', offText(), on);
}
