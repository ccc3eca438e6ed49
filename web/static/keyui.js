// The "This phone's key" panel: whether the phone has its own key, whether
// a passkey wraps it, what that means if the phone is taken unlocked, and
// wrapping or exporting it on request.
import { load, exportKey, canWrap, protect, THREAT_WRAPPED } from './keystore.js';

export async function setup({ state, threat, button, wrap = document.getElementById('key-protect') }) {
  const k = await load();
  if (!k) {
    state.textContent = 'This phone has no key of its own, so it cannot open clips. Pair it again with a new link to make one.';
    return;
  }
  const made = 'Made on this phone on ' + new Date(k.created).toLocaleDateString() +
    '. Every clip recorded since is sealed to it; the doorbell has only its public key.';
  const wrapped = () => {
    state.textContent = made + ' It is wrapped by a passkey.';
    threat.textContent = THREAT_WRAPPED;
    wrap.hidden = true;
  };
  state.textContent = made;
  threat.hidden = false;
  button.hidden = false;
  button.onclick = () => exportKey().catch((e) => { state.textContent = String(e.message || e); });
  if (k.wrapped) return wrapped();
  if (!(await canWrap())) {
    threat.textContent += ' This browser cannot wrap the key with a passkey (no passkeys with the PRF extension).';
    return;
  }
  wrap.hidden = false;
  wrap.onclick = async () => {
    wrap.disabled = true;
    try {
      await protect();
      wrapped();
    } catch (e) {
      state.textContent = made + ' ' + String(e.message || e);
    }
    wrap.disabled = false;
  };
}
