// The recorded clips, newest first: each entry's sealed event record is
// fetched as ciphertext and opened here, with this phone's key, only when
// the entry scrolls into view (1,000 entries stay smooth). The record's
// signature is checked against the doorbell key pinned at pairing.
import { Decrypter, ed25519 } from './age.js';
import { load, unlocked, unlock } from './keystore.js';

const RECORD_CONTEXT = new TextEncoder().encode('doorbell event record v1\0');
const PREFIX = new TextEncoder().encode('{"record":');
const SIG = new TextEncoder().encode(',"sig":');

const FIRST = 20; // entries opened at once, without waiting to be scrolled to
const OPENING = 3; // entries being opened at a time, as they scroll near
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const unpadded64 = (u8) => btoa(String.fromCharCode(...u8)).replace(/=+$/, '');

// The reasons an entry cannot be shown, in words.
export const REASONS = {
  before: 'Recorded before this phone was paired: it was not sealed to this phone.',
  notSealed: 'Not sealed to this phone.',
  noKey: 'This phone has no key of its own to open clips: pair it again with a new link.',
  locked: 'Locked: this phone’s key is wrapped by a passkey. Tap “Unlock clips” to open it.',
  forged: 'Not signed by your doorbell: this record was changed, or made by another device.',
  damaged: 'The record is damaged and cannot be read.',
  noRecord: 'Its recording was cut off before the details were saved.',
};

// pinnedKey is the doorbell's Ed25519 key pinned at pairing.
function pinnedKey() {
  try {
    const p = JSON.parse(localStorage.getItem('doorbell.paired') || '{}') || {};
    return /^ed25519:/.test(p.device_key || '') ? b64(p.device_key.slice(8)) : null;
  } catch (e) {
    return null;
  }
}

async function fingerprint(pub) {
  return 'SHA256:' + unpadded64(new Uint8Array(await crypto.subtle.digest('SHA-256', pub)));
}

// verifyEd25519 uses WebCrypto where the browser has Ed25519, else noble.
export async function verifyEd25519(pub, sig, msg) {
  try {
    const k = await crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'Ed25519' }, k, sig, msg);
  } catch (e) { // no Ed25519 in this browser's WebCrypto
    try {
      return ed25519.verify(sig, msg, pub);
    } catch (e2) {
      return false;
    }
  }
}

function lastIndexOf(hay, needle) {
  outer: for (let i = hay.length - needle.length; i >= 0; i--) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

// openRecord checks a record's signed envelope ({"record":RAW,"sig":B64},
// as crypto/clip writes it) and returns the record, or throws a reason.
export async function openRecord(plain, pub, id) {
  if (PREFIX.some((c, i) => plain[i] !== c)) throw new Error(REASONS.damaged);
  const end = lastIndexOf(plain, SIG);
  if (end < 0) throw new Error(REASONS.damaged);
  const raw = plain.subarray(PREFIX.length, end);
  let env, rec;
  try {
    env = JSON.parse(new TextDecoder().decode(plain));
    rec = JSON.parse(new TextDecoder().decode(raw));
  } catch (e) {
    throw new Error(REASONS.damaged);
  }
  const sig = typeof env.sig === 'string' ? b64(env.sig) : new Uint8Array();
  const msg = new Uint8Array(RECORD_CONTEXT.length + raw.length);
  msg.set(RECORD_CONTEXT);
  msg.set(raw, RECORD_CONTEXT.length);
  const ok = pub && sig.length === 64 && rec.device === await fingerprint(pub) && rec.id === id &&
    await verifyEd25519(pub, sig, msg);
  if (!ok) throw Object.assign(new Error(REASONS.forged), { forged: true, record: rec });
  return rec;
}

// setup fills list with the doorbell's clips; it returns refresh(), which
// adds clips sealed since (the app calls it on each clip_sealed event).
export function setup({ token, list, empty }) {
  const api = { shown: 0, entries: new Map(), refresh, timings: {} }; // timings: ms since the page began loading
  let key, stored;
  const locked = new Set(); // entries waiting for the passkey
  const keyReady = Promise.all([load(), unlocked()]).then(([s, k]) => {
    stored = s;
    key = k;
    if (stored && !key) lockedNotice();
  });
  const pub = pinnedKey();
  // Entries near the screen are opened a few at a time, the most recently
  // seen first; one scrolled away before its turn waits until it is near
  // again. A fling through the list then costs no burst of decryptions.
  const queue = [];
  let opening = 0;
  const seen = new IntersectionObserver((items) => {
    for (const it of items) {
      it.target.dataset.near = it.isIntersecting ? 'yes' : 'no';
      if (it.isIntersecting && !queue.includes(it.target)) queue.push(it.target);
    }
    pump();
  }, { rootMargin: '400px 0px' });
  function pump() {
    while (opening < OPENING && queue.length) {
      const li = queue.pop();
      if (li.dataset.near === 'no') continue; // still observed: queued again when near
      seen.unobserve(li);
      opening++;
      fill(li).catch(() => {}).finally(() => { opening--; pump(); });
    }
  }

  async function fetchBytes(url) {
    const r = await fetch(url, { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    return new Uint8Array(await r.arrayBuffer());
  }

  async function fill(li) {
    const e = api.entries.get(li.dataset.id);
    await keyReady;
    const note = (text, why) => {
      li.dataset.state = why;
      li.querySelector('.why').textContent = text;
      done(li);
    };
    if (e.sealed_before) return note(REASONS.before, 'before');
    if (!stored) return note(REASONS.noKey, 'no-key');
    if (!key) {
      locked.add(li);
      return note(REASONS.locked, 'locked');
    }
    if (!e.record_bytes) return note(REASONS.noRecord, 'no-record');
    let plain;
    try {
      const d = new Decrypter();
      d.addIdentity(key.identity);
      plain = await d.decrypt(await fetchBytes('/api/clips/' + e.id + '.event.age'));
    } catch (err) {
      return note(/no identity matched/.test(String(err && err.message)) ? REASONS.notSealed : REASONS.damaged,
        /no identity matched/.test(String(err && err.message)) ? 'not-sealed' : 'damaged');
    }
    let rec;
    try {
      rec = await openRecord(plain, pub, e.id);
    } catch (err) {
      return note(err.message, err.forged ? 'forged' : 'damaged');
    }
    e.record = rec;
    show(li, rec);
    li.dataset.state = 'ok';
    done(li);
  }

  // lockedNotice offers the passkey; once it opens the key, the entries
  // that waited for it are opened.
  function lockedNotice() {
    const box = document.getElementById('clips-locked');
    const why = document.getElementById('clips-locked-why');
    const button = document.getElementById('clips-unlock');
    box.hidden = false;
    button.onclick = async () => {
      button.disabled = true;
      why.textContent = 'Waiting for the passkey…';
      try {
        key = await unlock();
      } catch (err) {
        why.textContent = String(err.message || err);
        button.disabled = false;
        return;
      }
      box.hidden = true;
      const waiting = [...locked];
      locked.clear();
      for (const li of waiting) {
        li.classList.add('loading');
        li.querySelector('.why').textContent = 'Opening…';
        fill(li).catch(() => {});
      }
    };
  }

  function done(li) {
    li.classList.remove('loading');
    api.shown++;
    if (!api.timings.first20 && api.shown >= Math.min(FIRST, api.entries.size)) api.timings.first20 = performance.now();
  }

  function show(li, rec) {
    const when = new Date(rec.trigger);
    li.querySelector('.kind').textContent = rec.kind === 'ring' ? 'Ring' : 'Movement';
    li.querySelector('.when').textContent = isNaN(when) ? '' : when.toLocaleString([], { dateStyle: 'medium', timeStyle: 'medium' });
    const bits = [];
    if (rec.status === 'complete') bits.push(rec.duration.toFixed(1) + ' s');
    else bits.push('cut off: plays what was recovered');
    if (rec.zones && rec.zones.length) bits.push(rec.zones.join(', '));
    li.querySelector('.why').textContent = bits.join(' · ');
    if (rec.thumbnail) {
      const img = li.querySelector('img');
      img.src = 'data:image/jpeg;base64,' + rec.thumbnail;
      img.alt = (rec.kind === 'ring' ? 'Ring' : 'Movement') + ' at ' + li.querySelector('.when').textContent;
      img.hidden = false;
    }
  }

  function entry(e) {
    const li = document.createElement('li');
    li.className = 'clip loading';
    li.dataset.id = e.id;
    li.innerHTML = '<img class="thumb" width="96" height="54" hidden alt="">' +
      '<div><strong class="kind">Clip</strong> <span class="when"></span><br><span class="why muted">Opening…</span></div>';
    const hour = new Date(e.hour);
    if (!isNaN(hour)) li.querySelector('.when').textContent = 'around ' + hour.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit' });
    return li;
  }

  async function refresh() {
    let body;
    try {
      const r = await fetch('/api/clips', { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
      if (!r.ok) return;
      body = await r.json();
    } catch (e) {
      return;
    }
    const fresh = (body.clips || []).filter((e) => !api.entries.has(e.id));
    // The list is oldest first: newest first here, new ones on top.
    const frag = document.createDocumentFragment();
    const eager = [];
    for (const e of fresh.reverse()) {
      api.entries.set(e.id, e);
      const li = entry(e);
      frag.append(li);
      // The newest are opened at once; the rest as they scroll near.
      if (eager.length < FIRST) eager.push(li); else seen.observe(li);
    }
    list.prepend(frag);
    for (const li of eager) fill(li).catch(() => {});
    empty.hidden = api.entries.size > 0;
    api.timings.listed = api.timings.listed || performance.now();
  }

  // Tapping an opened entry plays it; the player module loads then.
  list.addEventListener('click', (ev) => {
    const li = ev.target.closest('li.clip');
    if (li && li.dataset.state === 'ok') api.play(li.dataset.id);
  });
  api.play = async (id, insist = false) => {
    const e = api.entries.get(id);
    const $ = (x) => document.getElementById(x);
    const panel = $('player');
    const video = $('clip-video');
    const note = $('clip-note');
    panel.hidden = false;
    panel.dataset.id = id;
    $('clip-insist').hidden = true;
    note.textContent = 'Opening…';
    $('clip-close').onclick = () => { video.pause(); video.removeAttribute('src'); video.load(); panel.hidden = true; };
    const m = await import('./player.js');
    $('clip-save').onclick = () => m.save({ token, e, key }).catch((err) => { note.textContent = String(err.message || err); });
    api.tapped = performance.now();
    note.textContent = 'Checking the doorbell’s signature as it plays…';
    const res = await m.play({ video, token, e, record: e.record, key, pub, insist, onNote: (t) => { note.textContent = t; } });
    api.result = res;
    panel.dataset.result = res.error ? 'forged' : res.truncated ? 'truncated' : 'verified';
    if (res.error && !insist) {
      $('clip-insist').hidden = false;
      $('clip-insist').onclick = () => api.play(id, true);
    } else if (!res.error && !res.truncated) {
      note.textContent = 'Signed by your doorbell.';
    }
    return res;
  };

  refresh();
  return api;
}
