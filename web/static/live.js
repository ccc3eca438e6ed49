// The live picture over WHEP. It takes over the call that index.html's
// inline script started, keeps it up (retry with backoff, stall watch,
// paused while hidden) and tells the app what happens through hooks:
//
//	state(name, text)      live, connecting, unstable, waiting, paused
//	unreachable(at, now)   no answer; the next try is at `at` (ms since the epoch), now() tries at once
//	revoked()              the doorbell refused the token
//	reached()              the doorbell answered
//	audio(pc)              the stream carries sound (talk.js takes pc's audio sender)
const boot = window.doorbellBoot || { marks: {}, firstFrameMs: null, show() {} };
const auth = () => ({ Authorization: 'Bearer ' + boot.token });

let hooks = null;
let video = null;
let pc = null; // the current RTCPeerConnection
let session = null; // its WHEP resource, for DELETE
let gen = 0; // bumped on every hang-up: callbacks of older connections do nothing
let backoff = 2000;
let retryTimer = 0;
let stallTimer = 0;
let stopped = false;

export const stats = { attempts: 0, sessions: 0, samples: [], state: 'starting' };

// framesDecoded is getStats' framesDecoded of the video, or 0.
export async function framesDecoded() {
  if (!pc) return 0;
  let n = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && (r.kind || r.mediaType) === 'video') n = r.framesDecoded || 0;
  });
  return n;
}

export function start(h) {
  hooks = h;
  video = document.getElementById('video');
  document.addEventListener('visibilitychange', () => {
    if (stopped) return;
    if (document.hidden) {
      hangUp();
      setState('paused', 'Paused');
    } else {
      retryNow();
    }
  });
  window.addEventListener('pagehide', hangUp);
  window.addEventListener('pageshow', (e) => { if (e.persisted && !stopped) retryNow(); });
  connect(true);
}

// stop ends the call for good (unpaired, revoked).
export function stop() {
  stopped = true;
  hangUp();
}

export function retryNow() {
  if (stopped) return;
  backoff = 2000;
  connect(false);
}

function setState(name, text) {
  stats.state = name;
  hooks.state(name, text);
}

function hangUp() {
  gen++;
  clearTimeout(retryTimer);
  clearInterval(stallTimer);
  if (session) {
    fetch(session, { method: 'DELETE', headers: auth(), keepalive: true }).catch(() => {});
    session = null;
  }
  if (pc) {
    pc.close();
    pc = null;
  }
}

function schedule(unreachable, text) {
  if (stopped) return;
  hangUp();
  const wait = Math.round(backoff * (0.8 + Math.random() * 0.4));
  backoff = Math.min(backoff * 2, 30000);
  const at = Date.now() + wait;
  retryTimer = setTimeout(() => connect(false), wait);
  if (unreachable) {
    setState('waiting', 'Cannot reach the doorbell');
    hooks.unreachable(at, retryNow);
  } else {
    setState('waiting', text);
  }
}

function offer(p) {
  return p.createOffer().then((o) => p.setLocalDescription(o)).then(() => fetch('/whep', {
    method: 'POST', cache: 'no-store', body: p.localDescription.sdp,
    headers: Object.assign({ 'Content-Type': 'application/sdp' }, auth()),
    signal: AbortSignal.timeout(4000),
  }));
}

async function connect(first) {
  const adopt = first && boot.pc;
  if (!adopt) hangUp();
  if (stopped) return;
  const my = gen;
  let p, answer;
  if (adopt) {
    p = boot.pc;
    answer = boot.answer;
    boot.pc = null;
  } else {
    p = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    p.addTransceiver('video', { direction: 'recvonly' });
    if (localStorage.getItem('doorbell.sound') === '1') p.addTransceiver('audio', { direction: 'sendrecv' }); // talk.js sends on it
    const stream = new MediaStream();
    p.ontrack = (e) => boot.show(e.track, stream);
    answer = offer(p);
  }
  pc = p;
  stats.attempts++;
  stats.audioOffered = p.getTransceivers().some((t) => t.receiver.track.kind === 'audio') ||
    /\nm=audio /.test((p.localDescription || {}).sdp || ''); // a refused section's transceiver is gone
  setState('connecting', 'Connecting…');
  const changed = () => {
    if (my !== gen) return;
    const s = p.connectionState || p.iceConnectionState; // older Safari: ICE state only
    if (s === 'connected' || s === 'completed') {
      if (!('connected' in boot.marks)) boot.marks.connected = Math.round(performance.now());
      if (stats.state !== 'live') setState('live', 'Live');
      backoff = 2000;
    } else if (s === 'disconnected') {
      setState('unstable', 'Connection unstable…');
    } else if (s === 'failed' || s === 'closed') {
      schedule(false, 'Connection lost. Trying again…');
    }
  };
  p.onconnectionstatechange = changed;
  p.oniceconnectionstatechange = changed;
  changed(); // the inline script's call may be up already
  let r;
  try {
    r = await answer;
  } catch (e) {
    if (my === gen) schedule(true);
    return;
  }
  if (my !== gen) return;
  hooks.reached();
  if (r.status === 401) {
    stop();
    hooks.revoked();
    return;
  }
  if (r.status !== 201) { // busy (503) or a fault: the doorbell answers, so not "unreachable"
    schedule(false, r.status === 503 ? 'The doorbell is busy. Trying again…' : 'The doorbell could not start the picture. Trying again…');
    return;
  }
  if (!('answer' in boot.marks)) boot.marks.answer = Math.round(performance.now());
  stats.sessions++;
  session = new URL(r.headers.get('Location') || '/whep', location.href).href;
  try {
    if (!adopt) { // the page's inline script applies the first answer itself
      const sdp = await r.text();
      if (my !== gen) return;
      await p.setRemoteDescription({ type: 'answer', sdp });
    }
    if (my !== gen) return;
    // The sound toggle is shown only if the doorbell agreed to send sound.
    if (p.getTransceivers().some((t) => t.receiver.track.kind === 'audio' && /recv/.test(t.currentDirection || ''))) hooks.audio(p);
  } catch (e) {
    if (my === gen) schedule(true);
    return;
  }
  watchStall(my);
}

// A session that stops delivering pictures (the doorbell restarted, the
// network changed) is replaced.
function watchStall(my) {
  clearInterval(stallTimer);
  let last = -1;
  let still = 0;
  stallTimer = setInterval(async () => {
    const n = await framesDecoded();
    if (my !== gen) return;
    if (n !== last) {
      last = n;
      still = 0;
    } else if (++still >= 4) {
      schedule(false, 'No picture. Trying again…');
    }
  }, 2000);
}

// measure keeps pixel row `row` of the next `count` pictures shown, as
// luma, with when each was shown (ms since the epoch): the glass-to-glass
// benchmark reads the camera's time strip from them.
export function measure(row, count) {
  stats.samples = [];
  let canvas = null;
  let ctx = null;
  const next = (now, meta) => {
    const w = video.videoWidth;
    if (w) {
      if (!canvas) {
        canvas = document.createElement('canvas');
        canvas.width = w;
        canvas.height = 1;
        ctx = canvas.getContext('2d', { willReadFrequently: true });
      }
      ctx.drawImage(video, 0, row, w, 1, 0, 0, w, 1);
      const d = ctx.getImageData(0, 0, w, 1).data;
      const y = new Array(w);
      for (let i = 0; i < w; i++) y[i] = (77 * d[4 * i] + 150 * d[4 * i + 1] + 29 * d[4 * i + 2]) >> 8;
      // Not before it reached the compositor: Chromium gives a picture that
      // came after the current frame began that frame's display time,
      // though it shows a frame later (60 Hz headless).
      let shown = meta.expectedDisplayTime || now;
      while (shown < meta.presentationTime) shown += 1000 / 60;
      stats.samples.push({ y, width: w, height: video.videoHeight, shown: performance.timeOrigin + shown });
    }
    if (stats.samples.length < count) video.requestVideoFrameCallback(next);
  };
  video.requestVideoFrameCallback(next);
}
