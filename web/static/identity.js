// The check that the doorbell answering a pairing is the one the pairing
// link names, or the one this phone paired with before. Kept in one place
// so that the link's and the answer's formats can change here alone.
//
// The link's fragment may carry LINK_PARAM: the doorbell's key fingerprint
// as devicekey.Fingerprint writes it ("SHA256:" and unpadded base64 of the
// SHA-256 of its Ed25519 public key), or a hex SHA-256 ("AB:CD:…"). The
// answer of POST /api/pair carries the key (device_key, "ed25519:" and
// base64) and may carry ANSWER_FIELD, a fingerprint in the link's format.
export const LINK_PARAM = 'fp';
export const ANSWER_FIELD = 'fingerprint';

// normalize makes equal fingerprints equal strings.
export function normalize(fp) {
  let s = String(fp || '').trim().replace(/ /g, '+'); // a '+' read from a query string is a space
  if (/^sha256:/i.test(s)) return 'SHA256:' + s.slice(7).replace(/=+$/, '');
  const hex = s.replace(/:/g, '');
  if (/^[0-9a-f]{64}$/i.test(hex)) return hex.toLowerCase();
  return s;
}

// keyFingerprint is devicekey.Fingerprint of a device_key ("ed25519:BASE64"), or '' if it is not one.
export async function keyFingerprint(deviceKey) {
  const m = /^ed25519:([A-Za-z0-9+/]+={0,2})$/.exec(String(deviceKey || ''));
  if (!m) return '';
  let raw;
  try { raw = Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)); } catch (e) { return ''; }
  if (raw.length !== 32) return '';
  const sum = new Uint8Array(await crypto.subtle.digest('SHA-256', raw));
  return 'SHA256:' + btoa(String.fromCharCode(...sum)).replace(/=+$/, '');
}

// verify compares the answer with the link's fingerprint, else with the one
// this phone pinned at its last pairing (pinned). It returns { ok,
// fingerprint }: ok is false if the answer names another doorbell, or none
// while one was expected; fingerprint is the answer's, to pin.
export async function verify(linkFp, answer, pinned) {
  const fromKey = await keyFingerprint(answer && answer.device_key);
  const claimed = answer && answer[ANSWER_FIELD] ? normalize(answer[ANSWER_FIELD]) : '';
  const expected = normalize(linkFp || pinned || '');
  if (!expected) return { ok: true, fingerprint: claimed || fromKey };
  // The answer's key must match whichever form the expectation is in.
  const ok = (fromKey !== '' && expected === fromKey) || (claimed !== '' && expected === claimed);
  return { ok, fingerprint: claimed || fromKey };
}
