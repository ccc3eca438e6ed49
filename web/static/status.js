// The doorbell's state under the picture: camera, recording, storage and
// any trouble with its certificate, from /healthz (whose details only
// paired phones see). Every text is the app's own; the doorbell's reasons
// are not shown raw.
import { certificate } from './trust.js';

const fmtBytes = (n) => (n >= 1e9 ? (n / 1e9).toFixed(1) + ' GB' : n >= 1e6 ? Math.round(n / 1e6) + ' MB' : Math.round(n / 1e3) + ' kB');

export function describe(health) {
  const cam = health.camera || {};
  const camera = cam.state === 'running'
    ? 'Working' + (cam.width ? ' (' + cam.width + '×' + cam.height + ')' : '')
    : cam.state === 'starting' ? 'Starting'
      : cam.state === 'retrying' ? 'Not working: the doorbell keeps trying' : 'Off';
  const rec = health.recording;
  let recording = 'Unknown';
  let storage = 'Unknown';
  if (typeof rec === 'string') {
    recording = /no members/.test(rec) ? 'Off: nobody in the household yet' : 'Off';
    storage = 'Not used';
  } else if (rec && typeof rec === 'object') {
    recording = rec.last_error ? 'Trouble saving clips' : rec.state === 'recording' ? 'Recording now' : 'On, when someone rings or moves';
    storage = (rec.clips_stored || 0) + ' sealed clip' + (rec.clips_stored === 1 ? '' : 's') +
      (rec.clips_stored_bytes ? ', ' + fmtBytes(rec.clips_stored_bytes) : '');
  }
  return { camera, recording, storage, certificate: certificate(health.tls) };
}

// watch keeps the rows up to date while the page is shown.
export function watch(token, rows, every = 10000) {
  const load = async () => {
    if (document.hidden) return;
    try {
      const r = await fetch('/healthz', { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
      if (!r.ok) return;
      const d = describe(await r.json());
      for (const k of Object.keys(rows)) {
        rows[k].textContent = d[k];
        rows[k].parentElement.hidden = d[k] === '';
      }
    } catch (e) { /* shown as before; the live view says when the doorbell is unreachable */ }
  };
  load();
  setInterval(load, every);
  document.addEventListener('visibilitychange', load);
}
