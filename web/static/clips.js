// The recorded clips, newest first: each entry's sealed event record is
// fetched as ciphertext and opened, with this phone's key, only when the
// entry comes near the screen (1,000 entries stay smooth). Opening happens
// in record workers (clipworker.js), so that this thread only renders; the
// record's signature is checked there against the doorbell key pinned at
// pairing.
import { load, unlocked, unlock } from './keystore.js';
import { REASONS, b64 } from './records.js';

const FIRST = 20; // entries opened at once, without waiting to be scrolled to
// Entries being fetched or opened at a time: enough that the workers never
// wait on the network, few enough that what comes on screen next during a
// fling is opened next.
const IN_FLIGHT = 6;
const CHUNK = 200; // entries built per task, after the first FIRST
const HOUR = new Intl.DateTimeFormat([], { month: 'short', day: 'numeric', hour: '2-digit' });
const WHEN = new Intl.DateTimeFormat([], { dateStyle: 'medium', timeStyle: 'medium' });
const ENTRY = document.createElement('template');
ENTRY.innerHTML = '<li class="clip loading"><img class="thumb" width="96" height="54" hidden alt="">' +
  '<div><strong class="kind">Clip</strong> <span class="when"></span><br><span class="why muted">Opening…</span></div></li>';
// WORKERS is how many record workers open entries at once: two where the
// phone has cores to spare, so that one decapsulation does not wait for
// another; one on a two-core machine, where the page needs the other core.
export const WORKERS = Math.max(1, Math.min(2, (navigator.hardwareConcurrency || 2) - 1));

// pinnedKey is the doorbell's Ed25519 key pinned at pairing.
function pinnedKey() {
  try {
    const p = JSON.parse(localStorage.getItem('doorbell.paired') || '{}') || {};
    return /^ed25519:/.test(p.device_key || '') ? b64(p.device_key.slice(8)) : null;
  } catch (e) {
    return null;
  }
}

// setup fills list with the doorbell's clips; it returns refresh(), which
// adds clips sealed since (the app calls it on each clip_sealed event).
export function setup({ token, list, empty }) {
  // timings: ms since the page began loading; steps: for the first FIRST
  // entries, ms each spent being fetched and opened (in a worker) and
  // rendered (on this thread, per batch); renderMs: all rendering so far.
  // The benchmarks show with them where the time goes.
  const api = { shown: 0, entries: new Map(), refresh, timings: { setup: performance.now() }, steps: { fetch: [], open: [], render: [] }, renderMs: 0, workers: WORKERS };
  let key, stored;
  let ready = false;
  const locked = new Set(); // entries waiting for the passkey
  const pub = pinnedKey();
  const keyReady = Promise.all([load(), unlocked()]).then(([s, k]) => {
    stored = s;
    key = k;
    if (stored && !key) lockedNotice();
    if (key) for (const w of workers) w.postMessage({ key: key.identity });
  });

  // The record workers. A few entries at a time are fetched and handed to
  // them; the rest wait here, so that what is on screen goes next.
  const workers = [];
  let inFlight = 0;
  const byId = new Map(); // entries in a worker, by id
  for (let i = 0; i < WORKERS; i++) {
    const w = new Worker(new URL('./clipworker.js', import.meta.url), { type: 'module', name: 'clip records' });
    w.busy = 0;
    w.postMessage({ pub });
    w.onmessage = ({ data }) => {
      w.busy--;
      inFlight--;
      const li = byId.get(data.id);
      byId.delete(data.id);
      if (li) opened(li, data);
      pump();
    };
    // A worker that cannot start (or dies) gives its entries back in words.
    w.onerror = (ev) => {
      ev.preventDefault();
      w.dead = true;
      for (const [id, li] of byId) {
        if (li.worker !== w) continue;
        byId.delete(id);
        inFlight--;
        opened(li, { state: 'no-worker', why: REASONS.noWorker + ' (' + (ev.message || 'it did not load') + '). Reload the app to try again.' });
      }
      pump();
    };
    workers.push(w);
  }

  // Entries near the screen wait in queue; those on it go first, the most
  // recently seen first. One scrolled away before its turn waits until it
  // is near again, so a fling through the list costs no burst of work.
  const first = []; // the newest FIRST, in order, before anything else
  const queue = [];
  const near = new IntersectionObserver((items) => {
    for (const it of items) {
      it.target.dataset.near = it.isIntersecting ? 'yes' : 'no';
      if (it.isIntersecting && !queue.includes(it.target)) queue.push(it.target);
    }
    pump();
  }, { rootMargin: '400px 0px' });
  const onScreen = new IntersectionObserver((items) => {
    for (const it of items) it.target.dataset.seen = it.isIntersecting ? 'yes' : 'no';
    pump();
  });
  function next() {
    if (first.length) return first.shift();
    for (;;) {
      let i = queue.length - 1;
      while (i >= 0 && queue[i].dataset.seen !== 'yes') i--;
      if (i < 0) i = queue.length - 1;
      if (i < 0) return null;
      const [li] = queue.splice(i, 1);
      if (li.dataset.near !== 'no') return li; // else still observed: queued again when near
    }
  }
  function pump() {
    if (!ready) return; // the key's state decides what an entry needs
    for (;;) {
      const alive = workers.some((x) => !x.dead);
      const li = (inFlight < IN_FLIGHT || !alive) && next();
      if (!li) return;
      near.unobserve(li);
      onScreen.unobserve(li);
      const e = api.entries.get(li.dataset.id);
      if (e.sealed_before) opened(li, { state: 'before', why: REASONS.before });
      else if (!stored) opened(li, { state: 'no-key', why: REASONS.noKey });
      else if (!key) opened(li, { state: 'locked', why: REASONS.locked });
      else if (!e.record_bytes) opened(li, { state: 'no-record', why: REASONS.noRecord });
      else if (!alive) opened(li, { state: 'no-worker', why: REASONS.noWorker + '. Reload the app to try again.' });
      else {
        inFlight++;
        send(li, e);
      }
    }
  }
  // send fetches the record (ciphertext) and hands its bytes to the least
  // busy worker. Fetching here is only waiting on the network; it keeps the
  // token, and every response, on the page.
  async function send(li, e) {
    const t0 = performance.now();
    let sealed;
    try {
      const r = await fetch('/api/clips/' + e.id + '.event.age', { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      sealed = await r.arrayBuffer();
    } catch (err) {
      inFlight--;
      opened(li, { state: 'unreachable', why: REASONS.unreachable + ' (' + (err.message || err) + '): it is asked for again when the app is opened again.' });
      pump();
      return;
    }
    li.fetchMs = performance.now() - t0;
    const w = workers.filter((x) => !x.dead).sort((a, b) => a.busy - b.busy)[0];
    if (!w) {
      inFlight--;
      opened(li, { state: 'no-worker', why: REASONS.noWorker + '. Reload the app to try again.' });
      return;
    }
    w.busy++;
    li.worker = w;
    byId.set(e.id, li);
    w.postMessage({ open: { id: e.id, sealed } }, [sealed]);
  }
  keyReady.then(() => { ready = true; pump(); });

  // Results are drawn together, once a frame.
  let drawing = [];
  function opened(li, res) {
    if (!drawing.length) requestAnimationFrame(draw);
    drawing.push([li, res]);
  }
  function draw() {
    const t0 = performance.now();
    const batch = drawing;
    drawing = [];
    for (const [li, res] of batch) {
      const e = api.entries.get(li.dataset.id);
      if (res.state === 'locked') locked.add(li);
      if (res.state === 'ok') {
        e.record = res.record;
        show(li, res.record);
      } else {
        li.querySelector('.why').textContent = res.why;
      }
      li.dataset.state = res.state;
      li.classList.remove('loading');
      api.shown++;
      if (api.steps.fetch.length < FIRST && li.fetchMs !== undefined) {
        api.steps.fetch.push(li.fetchMs);
        api.steps.open.push(res.openMs);
      }
    }
    const ms = performance.now() - t0;
    api.renderMs += ms;
    if (api.steps.render.length < FIRST) api.steps.render.push(ms);
    if (!api.timings.first20 && api.shown >= Math.min(FIRST, api.entries.size)) api.timings.first20 = performance.now();
  }

  // lockedNotice offers the passkey; once it opens the key, the workers
  // get it and the entries that waited for it are opened.
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
      for (const w of workers) w.postMessage({ key: key.identity });
      const waiting = [...locked];
      locked.clear();
      for (const li of waiting) {
        li.classList.add('loading');
        li.querySelector('.why').textContent = 'Opening…';
        api.shown--;
        first.push(li);
      }
      pump();
    };
  }

  function show(li, rec) {
    const when = new Date(rec.trigger);
    li.querySelector('.kind').textContent = rec.kind === 'ring' ? 'Ring' : 'Movement';
    li.querySelector('.when').textContent = isNaN(when) ? '' : WHEN.format(when);
    const bits = [];
    if (rec.status === 'complete') bits.push(rec.duration.toFixed(1) + ' s');
    else bits.push('cut off: plays what was recovered');
    if (rec.zones && rec.zones.length) bits.push(rec.zones.join(', '));
    li.querySelector('.why').textContent = bits.join(' · ');
    if (rec.thumbnail) {
      const img = li.querySelector('img');
      img.decoding = 'async';
      img.src = 'data:image/jpeg;base64,' + rec.thumbnail;
      img.alt = (rec.kind === 'ring' ? 'Ring' : 'Movement') + ' at ' + li.querySelector('.when').textContent;
      img.hidden = false;
    }
  }

  function entry(e) {
    const li = ENTRY.content.firstElementChild.cloneNode(true);
    li.dataset.id = e.id;
    const hour = new Date(e.hour);
    if (!isNaN(hour)) li.querySelector('.when').textContent = 'around ' + HOUR.format(hour);
    return li;
  }

  async function refresh() {
    let body;
    try {
      const r = await fetch('/api/clips', { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
      if (!r.ok) return;
      body = await r.json();
      api.timings.fetched = api.timings.fetched || performance.now();
    } catch (e) {
      return;
    }
    // The list is oldest first: newest first here, new ones on top.
    const fresh = (body.clips || []).filter((e) => !api.entries.has(e.id)).reverse();
    for (const e of fresh) api.entries.set(e.id, e);
    empty.hidden = api.entries.size > 0;
    if (!fresh.length) return;
    // The newest are built and opened at once; the rest are built a chunk
    // a task (the page stays responsive), and opened as they scroll near.
    const eager = fresh.slice(0, FIRST).map(entry);
    list.prepend(...eager);
    first.unshift(...eager);
    pump();
    api.timings.listed = api.timings.listed || performance.now();
    let after = eager[eager.length - 1];
    for (let i = FIRST; i < fresh.length; i += CHUNK) {
      await new Promise((ok) => setTimeout(ok, 0));
      const more = fresh.slice(i, i + CHUNK).map(entry);
      after.after(...more);
      after = more[more.length - 1];
      for (const li of more) {
        near.observe(li);
        onScreen.observe(li);
      }
    }
    api.timings.built = api.timings.built || performance.now();
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
