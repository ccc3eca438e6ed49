// This phone's own age key: made here at pairing (typage), kept in
// IndexedDB, never sent anywhere. The doorbell gets only the public key and
// seals every clip to it from then on.
//
// Threat model, as the app says it where the key is shown: the key is not
// wrapped by a passkey in this version. Anyone who can run code in this
// app's origin on an unlocked phone (someone holding the unlocked phone and
// opening the app, or a forensic copy of the browser's profile) can read
// the key and open every clip sealed to this phone, including clips copied
// off the doorbell earlier. Revoking the phone (doorbell member revoke)
// stops new clips being sealed to it; clips already sealed to it stay
// readable with the key. The phone's lock screen and disk encryption are
// what protect it at rest.
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

// load returns {identity, recipient, created} or null.
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
  const k = await load();
  if (!k) throw new Error('this phone has no key: pair it again to make one');
  if (!confirm(EXPORT_WARNING)) return false;
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
