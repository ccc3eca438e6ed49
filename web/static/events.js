// The doorbell's event stream (/api/events, Server-Sent Events read with
// fetch, because EventSource cannot send the token in a header).
// onEvent gets each {kind, time}; onRevoked is called if the token is refused.
// Whatever arrives (an event or the 15 s heartbeat) marks the doorbell as
// heard from, so that the unreachable screen can say since when it is silent.
export const LAST_HEARD = 'doorbell.lastHeard';

function heard() {
  try { localStorage.setItem(LAST_HEARD, String(Date.now())); } catch (e) { /* private window: nothing kept */ }
}

export async function listen(token, { onEvent, onRevoked, stopped }) {
  let delay = 1000;
  while (!stopped()) {
    try {
      const r = await fetch('/api/events', {
        headers: { Accept: 'text/event-stream', Authorization: 'Bearer ' + token },
        cache: 'no-store',
      });
      if (r.status === 401) {
        onRevoked();
        return;
      }
      if (!r.ok || !r.body) throw new Error('HTTP ' + r.status);
      delay = 1000;
      const reader = r.body.getReader();
      const text = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        heard();
        buf += text.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = parse(buf.slice(0, i));
          buf = buf.slice(i + 2);
          if (ev) onEvent(ev);
        }
      }
    } catch (e) { /* tried again below */ }
    if (stopped()) return;
    await new Promise((ok) => setTimeout(ok, delay));
    delay = Math.min(delay * 2, 30000);
  }
}

function parse(block) {
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('data:')) data += line.slice(5).trim();
  }
  if (!data) return null;
  try {
    const ev = JSON.parse(data);
    return ev && typeof ev.kind === 'string' ? ev : null;
  } catch (e) {
    return null;
  }
}
