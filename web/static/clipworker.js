// The record worker: it opens clip records with this phone's key, off the
// page's thread, so that scrolling through 1,000 entries never waits for a
// decapsulation or a signature check. The page fetches each record (still
// ciphertext) and hands its bytes over. The key comes from the page by
// postMessage, only once it is usable (after the passkey, if it is
// wrapped), and lives only in this worker's memory: nothing here is
// stored, and what it opens goes back to the page alone.
//
// Messages in: {key: identity}, {pub} (the pinned doorbell key) and
// {open: {id, sealed}}. Out: {id, state, why?, record?, openMs} for each.
import { Decrypter } from './age.js';
import { REASONS, openRecord } from './records.js';

let decrypter = null;
let pub = null;

async function open({ id, sealed }) {
  const t0 = performance.now();
  const out = (o) => Object.assign(o, { id, openMs: performance.now() - t0 });
  if (!decrypter) return out({ state: 'locked', why: REASONS.locked });
  let plain;
  try {
    plain = await decrypter.decrypt(new Uint8Array(sealed));
  } catch (err) {
    const notSealed = /no identity matched/.test(String(err && err.message));
    return out({ state: notSealed ? 'not-sealed' : 'damaged', why: notSealed ? REASONS.notSealed : REASONS.damaged });
  }
  try {
    return out({ state: 'ok', record: await openRecord(plain, pub, id) });
  } catch (err) {
    return out({ state: err.forged ? 'forged' : 'damaged', why: err.message });
  }
}

self.onmessage = async ({ data }) => {
  if ('key' in data) {
    decrypter = new Decrypter();
    decrypter.addIdentity(data.key);
  }
  if ('pub' in data) pub = data.pub;
  if (data.open) self.postMessage(await open(data.open));
};
