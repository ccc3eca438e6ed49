// Doorbell phone page: full-screen live video over WHEP, the "someone is at
// the door" banner from /api/events, and window.doorbell for tests.
//
// The script is loaded async from <head> and starts the connection at once;
// the page's elements are used once they are parsed.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  let video, stateEl, muteBtn, banner, bannerTime, notice;
  const ready = new Promise((ok) => {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', ok);
    else ok();
  }).then(() => {
    video = $('video');
    stateEl = $('state');
    muteBtn = $('mute');
    banner = $('banner');
    bannerTime = $('banner-time');
    notice = $('notice');
  });

  let token = null;
  try { token = localStorage.getItem('doorbell.token'); } catch (e) { /* storage blocked */ }
  const auth = () => ({ Authorization: 'Bearer ' + token });

  let pc = null; // the current RTCPeerConnection
  let session = null; // its WHEP resource, for DELETE
  let gen = 0; // bumped on every hang-up: callbacks of older connections do nothing
  let backoff = 1000;
  let retryTimer = 0;
  let stallTimer = 0;
  let stopped = false; // not paired: nothing to retry
  let measuring = null;
  let canvas = null;
  let ctx2d = null;

  // For tests and benchmarks (daemon/browser_test.go).
  const api = window.doorbell = {
    state: 'starting',
    firstFrameMs: null, // from navigation start to the first picture on screen
    sessions: 0, // WHEP sessions started
    events: [], // what /api/events sent
    samples: [], // time-strip rows, after measure()
    marks: { script: Math.round(performance.now()) }, // ms from navigation start to each step of the first connection
    // framesDecoded is getStats' framesDecoded of the video, or 0.
    async framesDecoded() {
      if (!pc) return 0;
      let n = 0;
      (await pc.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && (r.kind || r.mediaType) === 'video') n = r.framesDecoded || 0;
      });
      return n;
    },
    // measure keeps pixel row `row` of the next `count` pictures shown, as
    // luma, with when each was shown (ms since the epoch).
    measure(row, count) {
      api.samples = [];
      measuring = { row, count };
    },
  };

  function mark(name) {
    if (!(name in api.marks)) api.marks[name] = Math.round(performance.now());
  }

  function setState(state, text) {
    api.state = state;
    ready.then(() => {
      if (api.state !== state) return; // overtaken
      stateEl.textContent = text;
      document.body.dataset.state = state;
    });
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

  function retry(why) {
    if (stopped) return;
    hangUp();
    const wait = backoff * (0.75 + Math.random() / 2);
    backoff = Math.min(backoff * 2, 30000);
    setState('waiting', why + ' Retrying in ' + Math.ceil(wait / 1000) + ' s…');
    retryTimer = setTimeout(connect, wait);
  }

  async function connect() {
    hangUp();
    if (stopped) return;
    const my = gen;
    setState('connecting', 'Connecting…');
    const p = pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    p.addTransceiver('video', { direction: 'recvonly' });
    p.ontrack = (e) => {
      mark('track');
      const stream = e.streams && e.streams[0] ? e.streams[0] : new MediaStream([e.track]);
      ready.then(() => {
        if (my !== gen) return;
        video.srcObject = stream;
        video.play().catch(() => {});
      });
    };
    const changed = () => {
      if (my !== gen) return;
      const s = p.connectionState || p.iceConnectionState; // older Safari: ICE state only
      if (s === 'connected' || s === 'completed') {
        mark('connected');
        if (api.state !== 'live') setState('live', 'Live');
        backoff = 1000;
      } else if (s === 'disconnected') {
        setState('unstable', 'Connection unstable…');
      } else if (s === 'failed' || s === 'closed') {
        retry('Connection lost.');
      }
    };
    p.onconnectionstatechange = changed;
    p.oniceconnectionstatechange = changed;
    try {
      await p.setLocalDescription(await p.createOffer());
      mark('offer');
      // Sent at once, without waiting for ICE gathering: the answer
      // carries the doorbell's candidates, and this browser's checks
      // reach it.
      const r = await fetch('/whep', {
        method: 'POST',
        headers: Object.assign({ 'Content-Type': 'application/sdp' }, auth()),
        body: p.localDescription.sdp,
        cache: 'no-store',
      });
      if (my !== gen) return;
      if (r.status === 401) {
        unpaired();
        return;
      }
      if (r.status !== 201) throw new Error('HTTP ' + r.status);
      mark('answer');
      api.sessions++;
      session = new URL(r.headers.get('Location') || '/whep', location.href).href;
      const sdp = await r.text();
      if (my !== gen) return;
      await p.setRemoteDescription({ type: 'answer', sdp });
      watchStall(my);
    } catch (e) {
      if (my === gen) retry('Cannot reach the doorbell.');
    }
  }

  // A session that stops delivering pictures (the doorbell restarted, the
  // network changed) is replaced.
  function watchStall(my) {
    clearInterval(stallTimer);
    let last = -1;
    let still = 0;
    stallTimer = setInterval(async () => {
      const n = await api.framesDecoded();
      if (my !== gen) return;
      if (n !== last) {
        last = n;
        still = 0;
      } else if (++still >= 4) {
        retry('No picture.');
      }
    }, 2000);
  }

  function unpaired() {
    stopped = true;
    hangUp();
    setState('unpaired', 'Not paired');
    ready.then(() => { notice.hidden = false; });
  }

  // Pictures: time to the first one, and time-strip samples on request.
  function onFrame(now, meta) {
    if (api.firstFrameMs === null) {
      api.firstFrameMs = Math.round(meta.presentationTime || now);
      mark('frame');
    }
    if (measuring) sample(meta);
    video.requestVideoFrameCallback(onFrame);
  }

  function sample(meta) {
    const w = video.videoWidth;
    if (!w) return;
    if (!canvas || canvas.width !== w) {
      canvas = document.createElement('canvas');
      canvas.width = w;
      canvas.height = 1;
      ctx2d = canvas.getContext('2d', { willReadFrequently: true });
    }
    ctx2d.drawImage(video, 0, measuring.row, w, 1, 0, 0, w, 1);
    const d = ctx2d.getImageData(0, 0, w, 1).data;
    const y = new Array(w);
    for (let i = 0; i < w; i++) y[i] = (77 * d[4 * i] + 150 * d[4 * i + 1] + 29 * d[4 * i + 2]) >> 8;
    const shown = performance.timeOrigin + (meta.expectedDisplayTime || performance.now());
    api.samples.push({ y, width: w, height: video.videoHeight, shown });
    if (api.samples.length >= measuring.count) measuring = null;
  }

  // Events: fetch with the token in a header (EventSource cannot send
  // one), read as a stream.
  async function listen() {
    let delay = 1000;
    while (!stopped) {
      try {
        const r = await fetch('/api/events', {
          headers: Object.assign({ Accept: 'text/event-stream' }, auth()),
          cache: 'no-store',
        });
        if (r.status === 401) {
          unpaired();
          return;
        }
        if (!r.ok || !r.body) throw new Error('HTTP ' + r.status);
        delay = 1000;
        const reader = r.body.getReader();
        const text = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += text.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            onMessage(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } catch (e) { /* tried again below */ }
      if (stopped) return;
      await new Promise((ok) => setTimeout(ok, delay));
      delay = Math.min(delay * 2, 30000);
    }
  }

  let bannerTimer = 0;
  function onMessage(block) {
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('data:')) data += line.slice(5).trim();
    }
    if (!data) return;
    let ev;
    try { ev = JSON.parse(data); } catch (e) { return; }
    api.events.push(ev);
    if (ev.kind !== 'ring') return;
    ready.then(() => showBanner(ev));
  }

  function showBanner(ev) {
    bannerTime.textContent = new Date(ev.time).toLocaleTimeString();
    banner.hidden = false;
    if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
    clearTimeout(bannerTimer);
    bannerTimer = setTimeout(() => { banner.hidden = true; }, 60000);
  }

  // A hidden page holds no session: phones suspend it anyway.
  document.addEventListener('visibilitychange', () => {
    if (stopped) return;
    if (document.hidden) {
      hangUp();
      setState('paused', 'Paused');
    } else {
      backoff = 1000;
      connect();
    }
  });
  window.addEventListener('pagehide', hangUp);
  window.addEventListener('pageshow', (e) => {
    if (e.persisted && !stopped) connect(); // back from the back-forward cache
  });

  if (!token) {
    unpaired();
  } else {
    connect();
    listen();
  }

  ready.then(() => {
    if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
      video.requestVideoFrameCallback(onFrame);
    } else {
      video.addEventListener('loadeddata', () => {
        if (api.firstFrameMs === null) {
          api.firstFrameMs = Math.round(performance.now());
          mark('frame');
        }
      });
    }
    banner.addEventListener('click', () => { banner.hidden = true; });
    function showMute() {
      muteBtn.textContent = video.muted ? 'Sound off' : 'Sound on';
      muteBtn.setAttribute('aria-pressed', String(!video.muted));
    }
    muteBtn.addEventListener('click', () => {
      video.muted = !video.muted;
      if (!video.muted) video.play().catch(() => {});
      showMute();
    });
    showMute();
  });
})();
