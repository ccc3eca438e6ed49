// Talking at the door: sound from the doorbell, hold-to-talk, quick
// replies and the owner's own recordings, and, in the no-recording privacy
// profile, when the next look is possible. app.js calls setupTalk once and
// connected(pc) for every live connection whose answer carries audio.
import { h } from './dom.js';

const SOUND = 'doorbell.sound';
let token = '';
let panel = null;
let video = null;
let sender = null; // the audio transceiver's sender of the live connection
let mic = null; // the phone's microphone track, once allowed
let talking = false;
let early = null; // a connection that came before setupTalk (app.js sets up the panel when idle)

const auth = () => ({ Authorization: 'Bearer ' + token });
const api = (path, opts = {}) => fetch(path, Object.assign({ cache: 'no-store' }, opts, { headers: Object.assign(auth(), opts.headers || {}) }));

// soundWanted reports whether this phone asks for sound (both ways).
export const soundWanted = () => { try { return localStorage.getItem(SOUND) === '1'; } catch (e) { return false; } };

// For tests: what the talk panel does now.
export const talkState = { talking: false, sending: false, replies: [], privacy: null, error: '' };

function say(text) {
  talkState.error = text;
  const p = panel.querySelector('.talk-msg');
  if (p) p.textContent = text;
}

export function setupTalk(opts) {
  token = opts.token;
  panel = opts.panel;
  video = opts.video;
  render();
  if (early) connected(early);
  privacy();
  setInterval(privacy, 15000);
}

// connected is told of each new live connection; it finds the audio sender.
export function connected(pc) {
  if (!panel) { early = pc; return; }
  const t = pc.getTransceivers().find((x) => x.receiver.track && x.receiver.track.kind === 'audio');
  sender = t && /send/.test(t.currentDirection || '') ? t.sender : null;
  // The doorbell takes our sound only if it has a speaker: then the answer is sendrecv.
  const canTalk = !!t && t.currentDirection === 'sendrecv';
  panel.querySelector('#talk-hold').hidden = !canTalk;
  panel.querySelector('#talk-listen').hidden = !t;
  if (talking && sender && mic) sender.replaceTrack(mic);
}

function render() {
  const enable = h('button', { id: 'talk-enable', type: 'button', class: 'secondary' }, 'Turn on sound and talk');
  enable.onclick = () => {
    try { localStorage.setItem(SOUND, '1'); } catch (e) { /* then for this page only */ }
    location.reload(); // the call is made again, with audio both ways
  };
  const listen = h('button', { id: 'talk-listen', type: 'button', class: 'secondary', hidden: '' }, 'Listen');
  listen.onclick = async () => {
    const r = await api('/api/listen', { method: 'POST' }).catch(() => null);
    if (!r || !r.ok) return say(r ? await r.text() : 'Cannot reach the doorbell.');
    video.muted = false;
    video.play().catch(() => {});
    say('Listening: the doorbell\u2019s light blinks twice while its microphone is on.');
  };
  const hold = h('button', { id: 'talk-hold', type: 'button', class: 'primary', hidden: '' }, 'Hold to talk');
  hold.addEventListener('pointerdown', (e) => { e.preventDefault(); startTalk(); });
  for (const ev of ['pointerup', 'pointercancel', 'pointerleave']) hold.addEventListener(ev, stopTalk);
  hold.addEventListener('keydown', (e) => { if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) startTalk(); });
  hold.addEventListener('keyup', (e) => { if (e.key === ' ' || e.key === 'Enter') stopTalk(); });
  hold.addEventListener('contextmenu', (e) => e.preventDefault());

  const list = h('div', { class: 'replies', id: 'talk-replies' });
  const record = h('button', { id: 'talk-record', type: 'button', class: 'secondary' }, 'Record a reply');
  record.onclick = recordReply;
  panel.replaceChildren(
    h('h2', { id: 'talk-title' }, 'Talk'),
    h('p', { class: 'muted talk-privacy', id: 'talk-privacy' }),
    h('div', { class: 'talk-buttons' }, soundWanted() ? '' : enable, listen, hold),
    h('p', { class: 'muted talk-msg', role: 'status', 'aria-live': 'polite' }),
    h('h2', null, 'Quick replies'),
    list,
    record,
  );
  replies();
}

async function startTalk() {
  if (talking) return;
  talking = talkState.talking = true;
  try {
    if (!mic) {
      const s = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
      mic = s.getAudioTracks()[0];
    }
    if (talking && sender) {
      await sender.replaceTrack(mic);
      talkState.sending = true;
      say('Talking…');
    }
  } catch (e) {
    talking = talkState.talking = false;
    say('The microphone is not allowed: allow it for this site in the browser\u2019s settings.');
  }
}

// stopTalk: the phone stops sending at once, and the doorbell's speaker
// stops when the sound stops coming.
async function stopTalk() {
  if (!talking) return;
  talking = talkState.talking = false;
  if (sender) await sender.replaceTrack(null);
  talkState.sending = false;
  say('');
}

async function replies() {
  const list = panel.querySelector('#talk-replies');
  const r = await api('/api/replies').catch(() => null);
  if (!r || !r.ok) {
    list.replaceChildren(h('p', { class: 'muted' }, r && r.status === 404 ? 'This doorbell has no speaker.' : 'Quick replies are not available.'));
    panel.querySelector('#talk-record').hidden = true;
    return;
  }
  const { replies: all } = await r.json();
  talkState.replies = all;
  list.replaceChildren(...all.map((x) => {
    const b = h('button', { type: 'button', class: 'secondary reply', 'data-id': x.id, lang: x.lang || null }, x.text);
    b.onclick = async () => {
      const p = await api('/api/replies/' + encodeURIComponent(x.id) + '/play', { method: 'POST' }).catch(() => null);
      say(p && p.status === 202 ? 'Playing \u201c' + x.text + '\u201d at the door.' : (p ? await p.text() : 'Cannot reach the doorbell.'));
    };
    if (x.builtin) return b;
    const del = h('button', { type: 'button', class: 'plain', 'aria-label': 'Remove ' + x.text }, '\u2715');
    del.onclick = async () => { await api('/api/replies/' + encodeURIComponent(x.id), { method: 'DELETE' }); replies(); };
    return h('span', { class: 'own' }, b, del);
  }));
}

// recordReply records up to 20 s of the phone's microphone and keeps it on
// the doorbell (unencrypted: it is the household's own voice, not footage).
let recorder = null;
async function recordReply() {
  const btn = panel.querySelector('#talk-record');
  if (recorder) { recorder.stop(); return; }
  const name = prompt('Name of the reply (what it says):');
  if (!name) return;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    return say('The microphone is not allowed: allow it for this site in the browser\u2019s settings.');
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => chunks.push(e.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    recorder = null;
    btn.textContent = 'Record a reply';
    const r = await api('/api/replies?name=' + encodeURIComponent(name), { method: 'POST', body: new Blob(chunks) }).catch(() => null);
    say(r && r.status === 201 ? 'Saved.' : (r ? await r.text() : 'Cannot reach the doorbell.'));
    replies();
  };
  recorder.start();
  btn.textContent = 'Stop recording';
  setTimeout(() => recorder && recorder.stop(), 20000);
}

// privacy shows, in the no-recording profile, whether the camera is on and
// what allows the next look.
async function privacy() {
  const p = panel.querySelector('#talk-privacy');
  const r = await api('/api/privacy').catch(() => null);
  if (!r || !r.ok) return;
  const st = talkState.privacy = await r.json();
  if (st.profile !== 'no-recording') { p.textContent = ''; return; }
  p.textContent = st.live
    ? 'Live until ' + new Date(st.live_until).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) + '. Nothing is recorded.'
    : 'The camera is off. The next look: ' + st.next_look + '. Nothing is recorded.';
}
