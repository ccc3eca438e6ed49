// Trust in the doorbell's HTTPS certificate, which service workers, push
// and installing need. The paths of the household root are agreed with the
// server (they are its to serve) and kept here alone.
import { h } from './dom.js';

export const ROOT_CRT = '/ca.crt'; // the household root, DER or PEM, for Android and computers
export const ROOT_PROFILE = '/ca.mobileconfig'; // the same root as an iOS configuration profile

export function platform() {
  const ua = navigator.userAgent;
  if (/iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) return 'ios';
  if (/Android/.test(ua)) return 'android';
  return 'computer';
}

// standalone: opened from the Home Screen (installed), not in a browser tab.
export const standalone = () => matchMedia('(display-mode: standalone)').matches || navigator.standalone === true;

const steps = {
  ios: () => [
    h('a', { href: ROOT_PROFILE, download: 'doorbell.mobileconfig' }, 'Download the household profile'),
    'Open Settings: tap “Profile Downloaded”, then Install.',
    'Then Settings › General › About › Certificate Trust Settings: turn on the Doorbell household root.',
  ],
  android: () => [
    h('a', { href: ROOT_CRT, download: 'doorbell-root.crt' }, 'Download the household root'),
    'Open Settings › Security › More security settings › Encryption & credentials › Install a certificate › CA certificate.',
    'Choose the downloaded doorbell-root.crt.',
  ],
  computer: () => [
    h('a', { href: ROOT_CRT, download: 'doorbell-root.crt' }, 'Download the household root'),
    'Chrome or Edge: Settings › Privacy and security › Security › Manage certificates › Import, as trusted for websites. Firefox: Settings › Certificates › View Certificates › Authorities › Import.',
    'Reload this page.',
  ],
};

// help explains, for this platform, how to make the doorbell trusted.
export function help() {
  const p = platform();
  return h('div', { class: 'trust' },
    h('p', null, 'Notifications and installing this app need a certificate this phone trusts. This doorbell uses its own, which the phone cannot check yet. Either:'),
    h('ol', null, steps[p]().map((s) => h('li', null, s))),
    h('p', { class: 'muted' }, 'The household root vouches only for this doorbell’s own names: it cannot make any other website look trusted. Chrome and Firefox enforce that limit; whether iOS does has not been verified.'),
    h('p', { class: 'muted' }, 'Or the owner gives the doorbell a certificate for their own domain (the [http.acme] section of its config).'),
    h('details', null, h('summary', null, 'Steps for other devices'),
      h('ul', null, Object.keys(steps).filter((k) => k !== p).map((k) =>
        h('li', null, (k === 'ios' ? 'iPhone and iPad: ' : k === 'android' ? 'Android: ' : 'Computers: '),
          steps[k]().map((s, i) => (i ? [' ', s] : s)))))),
  );
}
