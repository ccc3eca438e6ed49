// Doorbell pairing page: /pair#CODE trades the one-time code for a token,
// keeps the token in this browser, and opens the live view.
'use strict';
(async () => {
  const msg = document.getElementById('msg');
  const say = (text, state) => {
    msg.textContent = text;
    document.body.dataset.state = state;
  };
  // "#code=CODE&id=DEVICE-ID" (doorbell member pair), "#CODE" (older
  // links) or "#member=NAME&code=CODE" (setup card).
  const fragment = location.hash.slice(1);
  let code = '';
  try {
    code = (/(^|&)code=/.test(fragment)
      ? new URLSearchParams(fragment).get('code') || ''
      : decodeURIComponent(fragment)).trim();
  } catch (e) { /* a damaged link: said below */ }
  // The code is a secret: out of the address bar and the history with it.
  try { history.replaceState(null, '', location.pathname); } catch (e) { /* not essential */ }
  if (!code) {
    say('This link has no pairing code. Open the whole link, including the part after #, or scan the QR code again.', 'error');
    return;
  }
  // Check that the token can be kept before using up the code.
  try {
    localStorage.setItem('doorbell.test', '1');
    localStorage.removeItem('doorbell.test');
  } catch (e) {
    say('This browser does not let the page keep its key (private browsing?). Open the link in a normal window.', 'error');
    return;
  }
  let r, body = {};
  try {
    r = await fetch('/api/pair', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code, device: deviceName() }),
      cache: 'no-store',
    });
    body = await r.json().catch(() => ({}));
  } catch (e) {
    say('Cannot reach the doorbell. Check that this phone is on the home network, then open the link again.', 'error');
    return;
  }
  if (!r.ok || !body.token) {
    say(body.error || 'Pairing failed (HTTP ' + r.status + '). Ask for a new pairing link.', 'error');
    return;
  }
  localStorage.setItem('doorbell.token', body.token);
  // The page keeps no pin of the doorbell's signing key: script cannot see
  // the TLS certificate, so the browser's own certificate check is what
  // tells the doorbell from an impostor here (the link's device ID is for
  // doorbell device add, which checks it before it sends the code).
  localStorage.setItem('doorbell.paired', JSON.stringify({
    id: body.id, member: body.member, device: body.device,
  }));
  say('Paired as ' + body.device + ' for ' + body.member + '. Opening the live view…', 'paired');
  location.replace('/');

  function deviceName() {
    const ua = navigator.userAgent;
    const what = /iPhone/.test(ua) ? 'iPhone'
      : /iPad/.test(ua) ? 'iPad'
      : /Android/.test(ua) ? 'Android'
      : /Macintosh/.test(ua) ? (navigator.maxTouchPoints > 1 ? 'iPad' : 'Mac')
      : /Windows/.test(ua) ? 'Windows'
      : /CrOS/.test(ua) ? 'Chromebook'
      : /Linux/.test(ua) ? 'Linux' : 'Browser';
    const browser = /Edg\//.test(ua) ? 'Edge'
      : /(CriOS|Chrome)\//.test(ua) ? 'Chrome'
      : /(FxiOS|Firefox)\//.test(ua) ? 'Firefox'
      : /Safari\//.test(ua) ? 'Safari' : '';
    return browser ? what + ' (' + browser + ')' : what;
  }
})();
