// This phone's own age key: made here at pairing (typage), kept in
// IndexedDB, never sent anywhere. The doorbell gets only the public key and
// seals every clip to it from then on.
//
// Where the browser's passkeys offer the PRF extension (Chrome on Android,
// Safari 18), "Protect with a passkey" wraps the key: a passkey for the
// doorbell's host name is made, its PRF output for a random salt goes
// through HKDF to an AES-GCM key, and only the key sealed with it stays in
// IndexedDB. Opening clips then needs the passkey, with user verification
// (the phone's PIN, face or fingerprint), once per opening of the app.
//
// Threat model, as the app says it where the key is shown. Unwrapped: anyone
// who can run code in this app's origin on an unlocked phone (someone
// holding the unlocked phone and opening the app, or a forensic copy of the
// browser's profile) can read the key and open every clip sealed to this
// phone, including clips copied off the doorbell earlier. Wrapped: a copy
// of the browser's data holds only ciphertext, and someone holding the
// unlocked phone must also pass the passkey's user verification; while the
// app is open and unlocked, the key is in its memory. Either way, revoking
// the phone (doorbell member revoke) stops new clips being sealed to it;
// clips already sealed to it stay readable with the key.
import { generateHybridIdentity, generateX25519Identity, identityToRecipient } from './age.js';

const DB = 'doorbell';
const STORE = 'keys';
const ID = 'phone';

function db() {
  return new Promise((ok, fail) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
}

async function tx(mode, run) {
  const d = await db();
  try {
    return await new Promise((ok, fail) => {
      const t = d.transaction(STORE, mode);
      const req = run(t.objectStore(STORE));
      t.oncomplete = () => ok(req && req.result);
      t.onerror = () => fail(t.error);
      t.onabort = () => fail(t.error);
    });
  } finally {
    d.close();
  }
}

// candidates makes a key of each kind: the phone cannot know whether the
// household is post-quantum hybrid or classic, and age refuses to mix them.
// The doorbell answers with the one it kept; keep() stores only that one.
export async function candidates() {
  const made = [await generateHybridIdentity(), await generateX25519Identity()];
  return Promise.all(made.map(async (identity) => ({ identity, recipient: await identityToRecipient(identity) })));
}

// keep stores the identity whose public key the doorbell kept.
export async function keep(cands, recipient) {
  const c = cands.find((k) => k.recipient === recipient);
  if (!c) throw new Error('the doorbell kept a key this phone did not make');
  await tx('readwrite', (s) => s.put({ identity: c.identity, recipient: c.recipient, created: new Date().toISOString(), wrapped: false }, ID));
}

// load returns what is stored: {identity, recipient, created, wrapped:
// false}, or {recipient, created, wrapped: true, credential, salt, iv,
// sealed} (no identity: unlock() opens it), or null.
export async function load() {
  try {
    return (await tx('readonly', (s) => s.get(ID))) || null;
  } catch (e) {
    return null;
  }
}

export async function forget() {
  await tx('readwrite', (s) => s.delete(ID));
}

// identityFile is the key as an age identity file, as age-keygen writes it.
export function identityFile(k) {
  return '# created: ' + k.created + '\n# public key: ' + k.recipient + '\n' +
    '# This key opens every doorbell clip sealed to this phone. Keep it private.\n' + k.identity + '\n';
}

export const EXPORT_WARNING = 'This file opens every clip sealed to this phone, on any computer, for as long as it exists. ' +
  'Anyone who gets it can watch them; revoking the phone does not change that. Keep it only somewhere private.';

// exportKey saves the identity file, after the member confirmed the warning.
export async function exportKey(confirm = window.confirm) {
  if (!(await load())) throw new Error('this phone has no key: pair it again to make one');
  if (!confirm(EXPORT_WARNING)) return false;
  const k = await unlock();
  const url = URL.createObjectURL(new Blob([identityFile(k)], { type: 'text/plain' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = 'doorbell-phone-key.txt';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  return true;
}

// The passkey wrapping.

const WRAP_INFO = new TextEncoder().encode('doorbell phone key wrap v1');
export const NO_PRF = 'This browser’s passkeys do not offer the PRF extension, so the key cannot be wrapped by one: it stays in this browser’s storage as before.';
export const UNLOCK_FAILED = 'The passkey that protects this phone’s key did not open it (cancelled, not verified, or not on this phone): clips stay locked, and the key stays stored. Try again with the same passkey; if it is gone for good, pair the phone again to make a new key.';
export const THREAT_WRAPPED = 'The key is wrapped by a passkey: the browser’s storage holds it only encrypted, and opening clips needs that passkey and the phone’s own verification (PIN, face or fingerprint). Someone holding the unlocked phone must pass that verification too; a copy of the browser’s data opens nothing. While the app is open and unlocked, the key is in its memory. Revoking the phone stops new clips being sealed to it; clips already sealed to it stay readable with the key.';

let opened = null; // the unwrapped key, for as long as the app is open

// wrapKey is the AES-GCM key HKDF derives from a passkey's PRF output.
async function wrapKey(prf) {
  const ikm = await crypto.subtle.importKey('raw', prf, 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: WRAP_INFO },
    ikm, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

const random = (n) => crypto.getRandomValues(new Uint8Array(n));

// prfOf asks the passkey credential (or any of this host's, if null) for
// its PRF output for salt, with user verification.
async function prfOf(credential, salt) {
  const got = await navigator.credentials.get({ publicKey: {
    challenge: random(32), rpId: location.hostname, userVerification: 'required', timeout: 120000,
    allowCredentials: credential ? [{ type: 'public-key', id: credential }] : [],
    extensions: { prf: { eval: { first: salt } } },
  } });
  const out = got && got.getClientExtensionResults().prf;
  if (!out || !out.results || !out.results.first) throw new Error(NO_PRF);
  return { id: new Uint8Array(got.rawId), prf: out.results.first };
}

// canWrap says whether this browser may offer passkeys with PRF: false
// where it surely does not; true may still end in NO_PRF at protect().
export async function canWrap() {
  if (!window.PublicKeyCredential || !navigator.credentials) return false;
  try {
    const caps = PublicKeyCredential.getClientCapabilities ? await PublicKeyCredential.getClientCapabilities() : {};
    return caps['extension:prf'] !== false;
  } catch (e) {
    return true;
  }
}

// protect wraps the stored key with a new passkey for this doorbell's host
// name. It throws NO_PRF (and changes nothing) where the passkey has no PRF.
// The wrapped key is opened again before it replaces the plain one, in one
// IndexedDB write: nothing is lost on any failure.
export async function protect(name = 'this phone') {
  const k = await load();
  if (!k) throw new Error('this phone has no key: pair it again to make one');
  if (k.wrapped) return k;
  const salt = random(32);
  let made;
  try {
    made = await navigator.credentials.create({ publicKey: {
      challenge: random(32),
      rp: { id: location.hostname, name: 'Doorbell' },
      user: { id: random(16), name: 'Doorbell clips key (' + name + ')', displayName: 'Doorbell clips key' },
      pubKeyCredParams: [{ type: 'public-key', alg: -7 }, { type: 'public-key', alg: -257 }],
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
      timeout: 120000,
      extensions: { prf: { eval: { first: salt } } },
    } });
  } catch (e) {
    throw new Error('No passkey was made (' + (e && e.name || e) + '): the key stays as it was. Try again.', { cause: e });
  }
  const ext = made.getClientExtensionResults().prf;
  if (!ext || !ext.enabled) throw new Error(NO_PRF);
  const credential = new Uint8Array(made.rawId);
  // Some browsers give PRF output only when asked for it with get().
  let prf = ext.results && ext.results.first;
  if (!prf) {
    try {
      prf = (await prfOf(credential, salt)).prf;
    } catch (e) {
      throw new Error(e.message === NO_PRF ? NO_PRF : UNLOCK_FAILED, { cause: e });
    }
  }
  const aes = await wrapKey(prf);
  const iv = random(12);
  const ad = new TextEncoder().encode(k.recipient);
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: ad }, aes, new TextEncoder().encode(k.identity)));
  const back = new TextDecoder().decode(await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: ad }, aes, sealed));
  if (back !== k.identity) throw new Error('the wrapped key did not open again: the key stays as it was');
  const w = { recipient: k.recipient, created: k.created, wrapped: true, credential, salt, iv, sealed };
  await tx('readwrite', (s) => s.put(w, ID));
  opened = { identity: k.identity, recipient: k.recipient, created: k.created, wrapped: true };
  return w;
}

// unlocked is the key with its identity if it is usable now, without asking.
export async function unlocked() {
  if (opened) return opened;
  const k = await load();
  return k && !k.wrapped ? k : null;
}

// unlock returns the key with its identity, asking for the passkey (with
// user verification) if it is wrapped. Failing, it throws UNLOCK_FAILED
// and leaves the stored key as it is.
export async function unlock() {
  const ready = await unlocked();
  if (ready) return ready;
  const k = await load();
  if (!k) throw new Error('this phone has no key: pair it again to make one');
  let identity;
  try {
    const { prf } = await prfOf(k.credential, k.salt);
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: k.iv, additionalData: new TextEncoder().encode(k.recipient) },
      await wrapKey(prf), k.sealed);
    identity = new TextDecoder().decode(plain);
  } catch (e) {
    throw new Error(UNLOCK_FAILED, { cause: e });
  }
  opened = { identity, recipient: k.recipient, created: k.created, wrapped: true };
  return opened;
}
