// Checking what the doorbell signed, shared by the page (a clip's
// checkpoints, in player.js) and the record worker (clipworker.js): no DOM
// here, so that it runs in both.
import { ed25519 } from './age.js';

const RECORD_CONTEXT = new TextEncoder().encode('doorbell event record v1\0');
const PREFIX = new TextEncoder().encode('{"record":');
const SIG = new TextEncoder().encode(',"sig":');

export const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
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
  unreachable: 'The doorbell did not send this record',
  noWorker: 'This browser could not start the part of the app that opens clips',
};

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
