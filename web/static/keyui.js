// The "This phone's key" panel: whether the phone has its own key, what
// that means if the phone is taken unlocked, and exporting it on request.
import { load, exportKey } from './keystore.js';

export async function setup({ state, threat, button }) {
  const k = await load();
  if (!k) {
    state.textContent = 'This phone has no key of its own, so it cannot open clips. Pair it again with a new link to make one.';
    return;
  }
  state.textContent = 'Made on this phone on ' + new Date(k.created).toLocaleDateString() +
    '. Every clip recorded since is sealed to it; the doorbell has only its public key.';
  threat.hidden = false;
  button.hidden = false;
  button.onclick = () => exportKey().catch((e) => { state.textContent = String(e.message || e); });
}
