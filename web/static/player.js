// Playing a clip: fetched with Range requests, decrypted while it
// downloads (typage's streams), each signed checkpoint checked against the
// doorbell key pinned at pairing before the video it covers is played
// (Media Source Extensions, or ManagedMediaSource on iOS 17.1+), and the
// whole against the record's hash. crypto/clip defines the format.
import { Decrypter, sha256 } from './age.js';
import { verifyEd25519 } from './records.js';

const CHUNK = 1 << 20; // bytes per Range request
const AHEAD = 10; // seconds of video buffered ahead of the picture, at most
const BEHIND = 20; // seconds of played video kept for seeking back
const UUID = [0xd0, 0x0b, 0xe1, 0x1c, 0x5e, 0xa1, 0x4c, 0x1b, 0x9a, 0x0e, 0x5c, 0x1e, 0x7d, 0x6f, 0x11, 0x01];
const CHECKPOINT_SIZE = 8 + 16 + 56 + 64;
const CONTEXT = new TextEncoder().encode('doorbell clip checkpoint v1\0');
export const FORGED = 'Not signed by your doorbell: this clip was changed, damaged, or made by another device.';

// rangeStream reads url in CHUNK-sized Range requests, and hands them on
// in PIECE-sized slices, one per pull. At the end it waits for drained()
// before closing: typage checks the last chunk when the stream closes, and
// a failure there (a clip cut off by a power cut) errors the decrypted
// stream at once, dropping whatever it still queued; so the close waits
// until the reader took everything, and only the broken last chunk is lost.
const PIECE = 64 << 10;
function rangeStream(url, token, size, drained) {
  let at = 0;
  let chunk = new Uint8Array(0);
  return new ReadableStream({
    async pull(ctl) {
      if (!chunk.length) {
        if (at >= size) {
          await drained();
          return ctl.close();
        }
        const end = Math.min(at + CHUNK, size) - 1;
        const r = await fetch(url, { headers: { Authorization: 'Bearer ' + token, Range: `bytes=${at}-${end}` }, cache: 'no-store' });
        if (r.status !== 206) throw new Error('the doorbell answered ' + r.status + ' to a range request');
        chunk = new Uint8Array(await r.arrayBuffer());
        at += chunk.length;
      }
      ctl.enqueue(chunk.subarray(0, PIECE));
      chunk = chunk.subarray(PIECE);
    },
  }, { highWaterMark: 0 });
}

const u32 = (b, i) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
const isCheckpoint = (box) => box.length >= 24 && box[4] === 0x75 && box[5] === 0x75 && box[6] === 0x69 && box[7] === 0x64 &&
  UUID.every((c, i) => box[8 + i] === c);

// codecOf reads the codecs string from the init segment: avc1 from its
// avcC box, and opus if it has a dOps box (a clip with sound).
function codecOf(init) {
  let avc = 'avc1.42E01E';
  let opus = '';
  for (let i = 4; i + 8 < init.length; i++) {
    if (init[i] === 0x61 && init[i + 1] === 0x76 && init[i + 2] === 0x63 && init[i + 3] === 0x43) {
      const hex = (n) => n.toString(16).padStart(2, '0');
      avc = 'avc1.' + hex(init[i + 5]) + hex(init[i + 6]) + hex(init[i + 7]);
    } else if (init[i] === 0x64 && init[i + 1] === 0x4f && init[i + 2] === 0x70 && init[i + 3] === 0x73) {
      opus = ',opus';
    }
  }
  return avc + opus;
}

// streamingWanted resolves once ms wants data. A ManagedMediaSource (iOS
// Safari 17.1+) says so itself: its streaming attribute, false until it
// fires startstreaming and again after endstreaming (it has enough, or is
// short of memory). A plain MediaSource has no such attribute, and always
// takes data. A source that closes stops the wait too.
function streamingWanted(ms) {
  if (ms.streaming !== false || ms.readyState !== 'open') return Promise.resolve();
  return new Promise((ok) => {
    const done = () => {
      ms.removeEventListener('startstreaming', done);
      ms.removeEventListener('sourceclose', done);
      ok();
    };
    ms.addEventListener('startstreaming', done);
    ms.addEventListener('sourceclose', done);
  });
}

// play plays clip entry e (with its opened record) in video. It resolves
// to {verified, truncated, error}. insist plays even what fails the check.
export async function play({ video, token, e, record, key, pub, insist = false, onNote = () => {} }) {
  const MS = window.ManagedMediaSource || window.MediaSource;
  if (!MS) throw new Error('this browser cannot play clips (no Media Source Extensions)');
  const ms = new MS();
  // WebKit opens a ManagedMediaSource only for an element that cannot be
  // played remotely (AirPlay), or has a remote alternative: set before src.
  video.disableRemotePlayback = true;
  video.src = URL.createObjectURL(ms);
  await new Promise((ok) => ms.addEventListener('sourceopen', ok, { once: true }));
  const d = new Decrypter();
  d.addIdentity(key.identity);
  let reading = false; // the loop below waits for plaintext that is not there yet
  const drained = async () => {
    for (let idle = 0; idle < 2;) {
      await new Promise((ok) => setTimeout(ok, 0));
      idle = reading ? idle + 1 : 0;
    }
  };
  const plain = (await d.decrypt(rangeStream('/api/clips/' + e.id + '.mp4.age', token, e.bytes, drained))).getReader();
  const idBytes = new TextEncoder().encode(e.id);
  const hash = sha256.create();
  let buf = new Uint8Array(0);
  let total = 0; // plaintext bytes hashed
  let pending = []; // boxes waiting for the checkpoint that covers them
  let seq = 0;
  let sb = null;
  const result = { verified: false, truncated: false, error: '' };
  let typeBox = null; // the file type box, held until the moov after it says the codecs
  const append = async (bytes) => {
    if (!sb) {
      if (bytes[4] === 0x66 && bytes[5] === 0x74 && bytes[6] === 0x79 && bytes[7] === 0x70) {
        typeBox = bytes;
        return;
      }
      sb = ms.addSourceBuffer('video/mp4; codecs="' + codecOf(bytes) + '"');
      if (typeBox) {
        const both = new Uint8Array(typeBox.length + bytes.length);
        both.set(typeBox);
        both.set(bytes, typeBox.length);
        bytes = both;
        typeBox = null;
      }
    }
    // Stay at most AHEAD seconds ahead of the picture, and let go of what
    // was played: memory stays bounded however long the clip.
    while (sb.buffered.length && sb.buffered.end(sb.buffered.length - 1) - video.currentTime > AHEAD && !video.paused) {
      await new Promise((ok) => video.addEventListener('timeupdate', ok, { once: true }));
    }
    if (sb.buffered.length && video.currentTime - sb.buffered.start(0) > BEHIND) {
      await update(() => sb.remove(0, video.currentTime - BEHIND / 2));
    }
    await streamingWanted(ms);
    await update(() => sb.appendBuffer(bytes));
    if (video.paused) video.play().catch(() => {});
  };
  // Both listeners go once either fires: a listener left waiting on the
  // SourceBuffer would keep this closure, and with it every appended box,
  // alive to the end of the clip (the heap grew with the clip's length).
  const update = (f) => new Promise((ok, fail) => {
    const off = () => {
      sb.removeEventListener('updateend', done);
      sb.removeEventListener('error', broke);
    };
    const done = () => { off(); ok(); };
    const broke = () => { off(); fail(new Error('the video could not be decoded')); };
    sb.addEventListener('updateend', done);
    sb.addEventListener('error', broke);
    f();
  });
  const fail = (why) => {
    result.error = why;
    onNote(why);
    return !insist;
  };
  const checkpoint = async (box) => {
    const signed = box.subarray(24, 80);
    const sig = box.subarray(80, 144);
    const cpSeq = u32(signed, 4);
    const offset = Number((BigInt(u32(signed, 16)) << 32n) | BigInt(u32(signed, 20)));
    const sum = hash.clone().digest();
    const same = signed[0] === 1 && cpSeq === seq && offset === total && sum.every((c, i) => c === signed[24 + i]);
    const msg = new Uint8Array(CONTEXT.length + idBytes.length + 1 + 56);
    msg.set(CONTEXT);
    msg.set(idBytes, CONTEXT.length);
    msg.set(signed, CONTEXT.length + idBytes.length + 1);
    return same && pub && await verifyEd25519(pub, sig, msg);
  };
  try {
    for (;;) {
      reading = true;
      const { value, done } = await plain.read();
      reading = false;
      if (done) break;
      // Join only a box's start kept from the last chunk: no copy else.
      if (buf.length) {
        const joined = new Uint8Array(buf.length + value.length);
        joined.set(buf);
        joined.set(value, buf.length);
        buf = joined;
      } else {
        buf = value;
      }
      while (buf.length >= 8) {
        const size = u32(buf, 0);
        if (size < 8) throw new Error('bad box');
        if (buf.length < size) break;
        const box = buf.subarray(0, size); // appendBuffer copies it: no copy here
        buf = buf.subarray(size);
        if (isCheckpoint(box)) {
          if (box.length !== CHECKPOINT_SIZE || !(await checkpoint(box))) {
            if (fail(FORGED)) return result;
          }
          seq++;
          const ready = pending;
          pending = [];
          for (const b of ready) await append(b);
        } else {
          pending.push(box);
        }
        hash.update(box);
        total += box.length;
      }
    }
  } catch (err) {
    // Decryption refused a chunk: changed, or cut short. A clip whose
    // record still says "recording" was cut off (the doorbell lost power):
    // what its checkpoints covered has played. A complete one was changed.
    const cut = record.status !== 'complete' || /truncat|unexpected end|premature/i.test(String(err && err.message));
    if (total === 0 || !cut) {
      if (fail(FORGED)) return result;
    }
    result.truncated = true;
  }
  if (pending.length || buf.length) result.truncated = true;
  const whole = Array.from(hash.digest(), (c) => c.toString(16).padStart(2, '0')).join('');
  if (!result.truncated && record.media_sha256 && whole !== record.media_sha256) {
    if (fail(FORGED)) return result;
  }
  if (result.truncated) onNote('This clip was cut off: it plays what was recovered, up to its last signed checkpoint.');
  result.verified = !result.error;
  if (ms.readyState === 'open' && (!sb || !sb.updating)) ms.endOfStream();
  return result;
}

// save writes the decrypted MP4 to the phone, on the member's tap only.
export async function save({ token, e, key }) {
  const d = new Decrypter();
  d.addIdentity(key.identity);
  const r = await fetch('/api/clips/' + e.id + '.mp4.age', { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
  const blob = await new Response(await d.decrypt(r.body)).blob();
  const url = URL.createObjectURL(new Blob([blob], { type: 'video/mp4' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = 'doorbell-' + e.id + '.mp4';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
