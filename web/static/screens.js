// The screens that replace the live view when it cannot be shown, one per
// case, each saying what happened and what to do. Texts are written here,
// never taken from the doorbell's answers.
import { h, code } from './dom.js';

const pairCmd = () => code('doorbell member pair YOUR-NAME');

const screens = {
  unpaired: () => ({
    title: 'This phone is not paired with the doorbell',
    body: [
      ['Ask someone in the household to run this on their computer:'],
      [pairCmd()],
      ['Then open the link it prints, or scan its QR code, on this phone.'],
    ],
  }),
  revoked: () => ({
    title: 'This phone can no longer see the doorbell',
    body: [
      ['Someone in the household removed this phone, or its member. The live picture and notifications are off here.'],
      ['If that was a mistake, ask them to pair it again: ', pairCmd(), '.'],
    ],
  }),
  'code-wrong': () => ({
    title: 'This pairing link is not valid',
    body: [
      ['The doorbell did not make the code in it. Perhaps only part of the link was copied.'],
      ['Open the whole link again, or ask for a new one: ', pairCmd(), '.'],
    ],
  }),
  'code-expired': () => ({
    title: 'This pairing link has expired',
    body: [['A link works for 10 minutes. Ask for a new one: ', pairCmd(), ', and open it soon.']],
  }),
  'code-used': () => ({
    title: 'This pairing link was used already',
    body: [
      ['A link works once. Ask for a new one: ', pairCmd(), '.'],
      ['If no phone of yours used it, tell the household: ', code('doorbell member list'), ' shows who paired, and ',
        code('doorbell member revoke'), ' removes them.'],
    ],
  }),
  'code-missing': () => ({
    title: 'This link has no pairing code',
    body: [['Open the whole link, including the part after #, or scan the QR code again.']],
  }),
  'too-many': ({ wait }) => ({
    title: 'Too many pairing attempts',
    body: [['The doorbell is refusing tries from this phone for now. Wait ' + (wait || 10) + ' seconds, then open the link again.']],
  }),
  'no-storage': () => ({
    title: 'This browser cannot keep the pairing',
    body: [['It does not let the page keep its key (a private window?). Open the link in a normal window. The code is still unused.']],
  }),
  'pair-failed': () => ({
    title: 'Pairing did not finish',
    body: [['The doorbell could not complete it. Open the link again in a minute; if it keeps failing, restart the doorbell.']],
  }),
  unreachable: () => ({
    title: 'Can’t reach the doorbell',
    body: [
      ['This phone may not be on the home network, or the doorbell is off or restarting.'],
      ['Nothing is shown or recorded on this phone until it answers.'],
      ...lastHeard(),
    ],
    countdown: true,
  }),
  identity: () => ({
    title: 'This is not the doorbell you paired with',
    body: [
      ['The doorbell answering here does not hold the key in the pairing link. Someone may be pretending to be your doorbell, so this phone kept nothing from it.'],
      ['If your doorbell was reset or replaced, ask for a new pairing link made on it.'],
    ],
  }),
};

// lastHeard says when this phone last heard from the doorbell (events.js
// marks it): if it went silent in the middle of a visit, that is when.
function lastHeard() {
  let at = 0;
  try { at = Number(localStorage.getItem('doorbell.lastHeard')) || 0; } catch (e) { /* nothing kept */ }
  if (!at) return [];
  const when = new Date(at).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
  return [[h('span', { id: 'last-heard' }, 'Last heard from it: ' + when + '.')]];
}

export const names = Object.keys(screens);

let tick = 0;

// show replaces the page with screen `name`. opts: wait (seconds, for
// too-many), at and retry (for a countdown: the next automatic try, in ms
// since the epoch, and the "Try again" action).
export function show(name, opts = {}) {
  const s = screens[name](opts);
  const root = document.getElementById('screen');
  clearInterval(tick);
  const parts = [h('h1', { id: 'screen-title' }, s.title), ...s.body.map((p) => h('p', null, ...p))];
  if (s.countdown && opts.retry) {
    const count = h('p', { id: 'countdown', role: 'timer', 'aria-live': 'off' });
    const update = () => {
      const left = Math.ceil((opts.at - Date.now()) / 1000);
      count.textContent = left > 0 ? 'Trying again in ' + left + ' s.' : 'Trying again…';
    };
    update();
    tick = setInterval(update, 250);
    parts.push(count, h('button', { id: 'retry', type: 'button', class: 'primary', onclick: () => {
      count.textContent = 'Trying again…';
      opts.retry();
    } }, 'Try again'));
  }
  if (opts.action) parts.push(h('button', { id: 'action', type: 'button', class: 'secondary', onclick: opts.action.run }, opts.action.label));
  root.replaceChildren(h('div', { class: 'card', 'aria-labelledby': 'screen-title' }, ...parts));
  root.hidden = false;
  const live = document.getElementById('live');
  if (live) live.hidden = true;
  document.body.dataset.screen = name;
  const marks = (window.doorbellBoot || {}).marks;
  if (marks && !('screen:' + name in marks)) marks['screen:' + name] = Math.round(performance.now());
  if (document.activeElement === document.body || !root.contains(document.activeElement)) root.focus();
}

// hide puts the live view back.
export function hide() {
  clearInterval(tick);
  const root = document.getElementById('screen');
  root.hidden = true;
  if (opts.action) parts.push(h('button', { id: 'action', type: 'button', class: 'secondary', onclick: opts.action.run }, opts.action.label));
  root.replaceChildren();
  const live = document.getElementById('live');
  if (live) live.hidden = false;
  document.body.dataset.screen = 'live';
}
