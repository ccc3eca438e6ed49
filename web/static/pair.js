// The pairing page: /pair#code=CODE&fp=FINGERPRINT (or the older /pair#CODE)
// trades the one-time code for a token, checks that the doorbell that
// answered is the one the link names, keeps the token, and opens the app.
import { show } from './screens.js';
import { LINK_PARAM, verify } from './identity.js';
import { candidates, keep as keepKey } from './keystore.js';

const fragment = location.hash.slice(1);
let code = '';
let linkFp = '';
try {
  if (/(^|&)code=/.test(fragment)) {
    const q = new URLSearchParams(fragment);
    code = (q.get('code') || '').trim();
    linkFp = q.get(LINK_PARAM) || '';
  } else {
    code = decodeURIComponent(fragment).trim();
  }
} catch (e) { /* a damaged link: no code */ }
// The code is a secret: out of the address bar and the history with it.
try { history.replaceState(null, '', location.pathname); } catch (e) { /* not essential */ }

const api = window.doorbellPair = { screen: 'pairing' };
const say = (name, opts) => {
  api.screen = name;
  show(name, opts);
};

function storageWorks() {
  try {
    localStorage.setItem('doorbell.test', '1');
    localStorage.removeItem('doorbell.test');
    return true;
  } catch (e) {
    return false;
  }
}

function pinned() {
  try { return (JSON.parse(localStorage.getItem('doorbell.paired') || '{}') || {}).fingerprint || ''; } catch (e) { return ''; }
}

let backoff = 2000;
let keys = null; // this phone's new keys, one of each kind, made once per pairing
async function pair() {
  let r;
  let body = {};
  if (!keys) {
    try {
      keys = await candidates();
    } catch (e) {
      keys = []; // pairs without a key of its own: it then sees live video, but cannot open clips
    }
  }
  try {
    r = await fetch('/api/pair', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code, device: deviceName(), recipients: keys.map((k) => k.recipient) }),
      cache: 'no-store',
      signal: AbortSignal.timeout(8000),
    });
    body = await r.json().catch(() => ({}));
  } catch (e) {
    // Not reached: the code is still unused, so trying again is safe.
    const wait = backoff;
    backoff = Math.min(backoff * 2, 30000);
    const timer = setTimeout(pair, wait);
    say('unreachable', { at: Date.now() + wait, retry: () => { clearTimeout(timer); pair(); } });
    return;
  }
  if (r.status === 401) return say('code-wrong');
  if (r.status === 410) {
    // Expired and used both answer 410; the reason says which.
    const expired = body.reason ? body.reason === 'expired_code' : /expired/i.test(body.error || '');
    return say(expired ? 'code-expired' : 'code-used');
  }
  if (r.status === 429) return say('too-many', { wait: parseInt(r.headers.get('Retry-After'), 10) || 10 });
  if (!r.ok || typeof body.token !== 'string' || !body.token) return say('pair-failed');
  const id = await verify(linkFp, body, pinned());
  if (!id.ok) {
    // A link that names the doorbell is final. Without one, only what this
    // phone remembers disagrees: the owner may have replaced the doorbell.
    return say('identity', linkFp ? {} : {
      action: { label: 'The doorbell was replaced: use the new one', run: () => keep(body, id.fingerprint) },
    });
  }
  keep(body, id.fingerprint);
}

async function keep(body, fingerprint) {
  if (body.recipient) {
    try {
      await keepKey(keys, body.recipient);
    } catch (e) {
      api.keyError = String(e && e.message || e); // the app says this phone cannot open clips
    }
  }
  localStorage.setItem('doorbell.token', body.token);
  // The page keeps no pin of the doorbell's signing key: script cannot see
  // the TLS certificate, so the browser's own certificate check is what
  // tells the doorbell from an impostor here (the link's device ID is for
  // doorbell device add, which checks it before it sends the code).
  localStorage.setItem('doorbell.paired', JSON.stringify({
    id: body.id, member: body.member, device: body.device, device_key: body.device_key || '', fingerprint,
  }));
  localStorage.removeItem('doorbell.revoked');
  api.screen = 'paired';
  document.getElementById('screen').querySelector('p, h1').textContent = 'Paired. Opening the live view…';
  location.replace('/');
}

function deviceName() {
  const ua = navigator.userAgent;
  const what = /iPhone/.test(ua) ? 'iPhone'
    : /iPad/.test(ua) ? 'iPad'
    : /Android/.test(ua) ? 'Android'
    : /Macintosh/.test(ua) ? (navigator.maxTouchPoints > 1 ? 'iPad' : 'Mac')
    : /Windows/.test(ua) ? 'Windows'
    : /CrOS/.test(ua) ? 'Chromebook'
    : /Linux/.test(ua) ? 'Linux' : 'Browser';
  const browser = /Edg\//.test(ua) ? 'Edge'
    : /(CriOS|Chrome)\//.test(ua) ? 'Chrome'
    : /(FxiOS|Firefox)\//.test(ua) ? 'Firefox'
    : /Safari\//.test(ua) ? 'Safari' : '';
  return browser ? what + ' (' + browser + ')' : what;
}

if (!code) say('code-missing');
else if (!storageWorks()) say('no-storage');
else pair();

// Another link opened in this tab changes only the fragment: start again with it.
window.addEventListener('hashchange', () => location.reload());
