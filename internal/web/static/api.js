// The hub's API as the dashboard reaches it: /dashboard/api/... with the
// session cookie, and the CSRF token on every call that changes state.

const base = '/dashboard/api';
const csrf = document.querySelector('meta[name="parley-csrf"]')?.content || '';

// ApiError is a refused call: the hub's error code and message.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function loggedOut() {
  location.assign('/dashboard/login');
}

// call sends one API request and returns its decoded JSON body.
export async function call(method, path, body, { headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET' && method !== 'HEAD') init.headers['X-Parley-CSRF'] = csrf;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(base + path, init);
  } catch (e) {
    throw new ApiError(0, 'unavailable', 'the hub cannot be reached');
  }
  if (res.status === 401) {
    loggedOut();
    throw new ApiError(401, 'unauthenticated', 'logged out');
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const e = data && data.error;
    throw new ApiError(res.status, e?.code || 'error', e?.message || `${res.status} ${res.statusText}`);
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body === undefined ? {} : body);
export const del = (path) => call('DELETE', path);

// enc escapes one path segment.
export const enc = encodeURIComponent;

// EventStream follows /events with fetch, so that every kind of event
// reaches one handler (EventSource would need a listener per kind), and
// resumes after the last event id it saw, with backoff, whenever the
// stream breaks. onEvent gets hub events; onState gets "live" or
// "connecting".
export class EventStream {
  constructor({ since = 0, onEvent, onState, onResume }) {
    this.last = since;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onResume = onResume;
    this.stopped = false;
    this.backoff = 500;
    this.ctrl = null;
  }

  start() {
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.ctrl) this.ctrl.abort();
  }

  async loop() {
    let first = true;
    while (!this.stopped) {
      this.onState('connecting');
      try {
        await this.once(first);
      } catch (e) {
        if (this.stopped) return;
      }
      first = false;
      if (this.stopped) return;
      this.onState('connecting');
      await new Promise((r) => setTimeout(r, this.backoff));
      this.backoff = Math.min(this.backoff * 2, 10000);
    }
  }

  async once(first) {
    this.ctrl = new AbortController();
    const headers = { Accept: 'text/event-stream' };
    if (this.last > 0) headers['Last-Event-ID'] = String(this.last);
    const res = await fetch(`${base}/events?since=${this.last}`, {
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      signal: this.ctrl.signal,
    });
    if (res.status === 401) {
      this.stopped = true;
      loggedOut();
      return;
    }
    if (!res.ok || !res.body) throw new Error('events: ' + res.status);
    this.onState('live');
    this.backoff = 500;
    if (!first && this.onResume) this.onResume();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let ev = { id: '', kind: '', data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (ev.data.length) this.dispatch(ev);
          ev = { id: '', kind: '', data: [] };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? '' : line.slice(colon + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (field === 'id') ev.id = val;
        else if (field === 'event') ev.kind = val;
        else if (field === 'data') ev.data.push(val);
      }
    }
  }

  dispatch(raw) {
    let e;
    try {
      e = JSON.parse(raw.data.join('\n'));
    } catch {
      return;
    }
    if (!e || typeof e !== 'object') return;
    const id = Number(e.id || raw.id) || 0;
    if (id && id <= this.last) return; // already seen: a resumed stream may repeat
    if (id) this.last = id;
    if (!e.kind) e.kind = raw.kind;
    this.onEvent(e);
  }
}
