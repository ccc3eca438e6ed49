// Trust in the doorbell's HTTPS certificate, which service workers, push
// and installing need. What the server serves for it is named here alone:
// the household root's downloads (GET /api/tls names them too, and wins)
// and its trust modes.
import { h } from './dom.js';

export const ROOT_CRT = '/household-root.crt'; // the household root (DER), for Android and computers
export const ROOT_PROFILE = '/household-root.mobileconfig'; // the same root as an iOS configuration profile
export const TRUST_INFO = '/api/tls'; // public: {mode, not_after, problem, root_crt, root_mobileconfig}
export const MODES = { selfSigned: 'self-signed', household: 'household', acme: 'acme', own: 'own' };

export function platform() {
  const ua = navigator.userAgent;
  if (/iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) return 'ios';
  if (/Android/.test(ua)) return 'android';
  return 'computer';
}

// standalone: opened from the Home Screen (installed), not in a browser tab.
export const standalone = () => matchMedia('(display-mode: standalone)').matches || navigator.standalone === true;

const steps = {
  ios: (root) => [
    h('a', { href: root.profile, download: 'doorbell-household-root.mobileconfig' }, 'Download the household profile'),
    'Open Settings: tap “Profile Downloaded”, then Install.',
    'Then Settings › General › About › Certificate Trust Settings: turn on the Doorbell household root.',
  ],
  android: (root) => [
    h('a', { href: root.crt, download: 'doorbell-household-root.crt' }, 'Download the household root'),
    'Open Settings › Security › More security settings › Encryption & credentials › Install a certificate › CA certificate.',
    'Choose the downloaded doorbell-household-root.crt.',
  ],
  computer: (root) => [
    h('a', { href: root.crt, download: 'doorbell-household-root.crt' }, 'Download the household root'),
    'Chrome or Edge: Settings › Privacy and security › Security › Manage certificates › Import, as trusted for websites. Firefox: Settings › Certificates › View Certificates › Authorities › Import.',
    'Reload this page.',
  ],
};

// trustInfo is the doorbell's GET /api/tls, or null if it does not answer.
export async function trustInfo() {
  try {
    const r = await fetch(TRUST_INFO, { cache: 'no-store' });
    return r.ok ? await r.json() : null;
  } catch (e) {
    return null;
  }
}

// help explains, for this platform, how to make the doorbell trusted.
// info is trustInfo()'s answer: without a household root, its downloads
// are not offered.
export function help(info) {
  const p = platform();
  const root = { crt: (info && info.root_crt) || ROOT_CRT, profile: (info && info.root_mobileconfig) || ROOT_PROFILE };
  const noRoot = info && !info.root_crt;
  const intro = h('p', null, 'Notifications and installing this app need a certificate this phone trusts. This doorbell uses its own, which the phone cannot check yet. Either:');
  const acme = h('p', { class: 'muted' }, 'Or the owner gives the doorbell a certificate for their own domain (the [http.acme] section of its config).');
  if (noRoot) {
    return h('div', { class: 'trust' }, intro,
      h('p', null, 'The owner makes the household root on their computer (doorbell ca sign); this page then offers it for installing.'), acme);
  }
  return h('div', { class: 'trust' }, intro,
    h('ol', null, steps[p](root).map((s) => h('li', null, s))),
    h('p', { class: 'muted' }, 'The household root vouches only for this doorbell’s own names: it cannot make any other website look trusted. Chrome and Firefox enforce that limit; whether iOS does has not been verified.'),
    acme,
    h('details', null, h('summary', null, 'Steps for other devices'),
      h('ul', null, Object.keys(steps).filter((k) => k !== p).map((k) =>
        h('li', null, (k === 'ios' ? 'iPhone and iPad: ' : k === 'android' ? 'Android: ' : 'Computers: '),
          steps[k](root).map((s, i) => (i ? [' ', s] : s)))))),
  );
}

// certificate says how the doorbell's certificate is doing, from the "tls"
// section of /healthz or /api/tls: '' while all is well, else a warning
// in the app's words (the doorbell's reasons are for its log).
export function certificate(tls, now = Date.now()) {
  if (!tls || typeof tls !== 'object') return '';
  const ends = Date.parse(tls.not_after);
  const date = isNaN(ends) ? '' : new Date(ends).toLocaleDateString([], { year: 'numeric', month: 'long', day: 'numeric' });
  const days = isNaN(ends) ? Infinity : (ends - now) / 86400000;
  if (days <= 0) return 'The doorbell’s certificate has expired. Tell the owner: phones will soon stop trusting it.';
  if (tls.problem && tls.mode === MODES.acme) return 'The doorbell cannot renew its certificate for the owner’s domain' + (date ? '; it ends on ' + date : '') + '. Tell the owner (the doorbell’s log says why).';
  if (tls.problem && tls.mode === MODES.household) return 'The doorbell’s household certificate ends' + (date ? ' on ' + date : ' soon') + '. The owner renews it from their computer: doorbell ca sign.';
  if (tls.problem) return 'The doorbell is not using the trusted certificate it was given. Tell the owner (the doorbell’s log says why).';
  if (days < 21 && tls.mode !== MODES.selfSigned) return 'The doorbell’s certificate ends on ' + date + '. Tell the owner.'; // a self-signed one renews itself
  return '';
}
