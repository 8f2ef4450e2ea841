// The Emporium client shared by the storefront and the dashboard: REST calls with problem+json
// errors and token refresh (docs/API.md §2, §7), money formatting, and one WebSocket that keeps
// its topics across reconnects by resuming with `since` (§9). Plain ES module, no build step.

export const API = '/api/v1';

/** A non-2xx answer; `problem` is the RFC 9457 body (code, title, detail, extensions). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code || 'http_error';
    this.problem = problem || {};
  }
}

/** A random Idempotency-Key (works outside secure contexts, unlike crypto.randomUUID). */
export function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Seconds until a JWT's `exp` (negative when expired, Infinity when unreadable). */
function secondsLeft(token) {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return payload.exp - Date.now() / 1000;
  } catch {
    return Infinity;
  }
}

/**
 * The signed-in user and their tokens, kept in sessionStorage (per tab, gone when it closes).
 * Dispatches `change` when the user signs in or out (also when a refresh fails).
 */
export class Session extends EventTarget {
  constructor(key) {
    super();
    this.key = key;
    this.refreshing = null;
    try {
      this.data = JSON.parse(sessionStorage.getItem(key)) || null;
    } catch {
      this.data = null;
    }
  }

  get user() {
    return this.data?.user || null;
  }

  /** Stores a register/login/refresh answer. */
  save(body) {
    this.data = { user: body.user, access_token: body.access_token, refresh_token: body.refresh_token };
    sessionStorage.setItem(this.key, JSON.stringify(this.data));
    this.dispatchEvent(new Event('change'));
  }

  clear() {
    const had = this.data !== null;
    this.data = null;
    sessionStorage.removeItem(this.key);
    if (had) this.dispatchEvent(new Event('change'));
  }

  async login(email, password) {
    this.save(await request('POST', '/auth/login', { body: { email, password } }));
  }

  async register(email, password, name) {
    this.save(await request('POST', '/auth/register', { body: { email, password, name } }));
  }

  async logout() {
    const refresh = this.data?.refresh_token;
    this.clear();
    if (refresh) {
      await request('POST', '/auth/logout', { body: { refresh_token: refresh } }).catch(() => {});
    }
  }

  /** A usable access token (refreshed when it expires within 30 s), or null when signed out. */
  async token({ force = false } = {}) {
    if (!this.data) return null;
    if (!force && secondsLeft(this.data.access_token) > 30) return this.data.access_token;
    if (!this.refreshing) {
      const refresh_token = this.data.refresh_token;
      this.refreshing = request('POST', '/auth/refresh', { body: { refresh_token } })
        .then((body) => {
          this.save(body);
          return body.access_token;
        })
        .catch((error) => {
          // Only a refused refresh token ends the session; a network error keeps it.
          if (error instanceof ApiError && error.status === 401) this.clear();
          return null;
        })
        .finally(() => {
          this.refreshing = null;
        });
    }
    return this.refreshing;
  }
}

/**
 * One REST call. `session` adds its bearer token (and retries once after refreshing on a 401).
 * Resolves with the JSON body (null for 204); rejects with ApiError. `raw: true` resolves with
 * `{status, body}` for 2xx instead (e.g. to tell 201 from 202).
 */
export async function request(method, path, { body, form, session, headers = {}, raw = false } = {}) {
  const send = async (token) => {
    const init = { method, headers: { Accept: 'application/json', ...headers } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    } else if (form !== undefined) {
      // A FormData body: the browser writes the multipart Content-Type with its boundary.
      init.body = form;
    }
    if (token) init.headers.Authorization = `Bearer ${token}`;
    return fetch(API + path, init);
  };
  let token = session ? await session.token() : null;
  let response = await send(token);
  if (response.status === 401 && token) {
    token = await session.token({ force: true });
    response = await send(token);
  }
  const text = await response.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = { detail: text };
    }
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return raw ? { status: response.status, body: json } : json;
}

/** Every page of a list endpoint (`query` without page/per_page). */
export async function listAll(path, query = {}, options = {}) {
  const items = [];
  for (let page = 1; ; page += 1) {
    const params = new URLSearchParams({ ...query, page: String(page), per_page: '100' });
    const body = await request('GET', `${path}?${params}`, options);
    items.push(...body.items);
    if (body.items.length === 0 || items.length >= body.total) return items;
  }
}

const formatters = new Map();

function formatter(currency) {
  if (!formatters.has(currency)) {
    let f;
    try {
      f = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    } catch {
      f = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' });
    }
    formatters.set(currency, f);
  }
  return formatters.get(currency);
}

/** `{amount, currency}` in minor units → "$19.90" (the exponent comes from ISO 4217 via Intl). */
export function formatMoney(money) {
  if (!money) return '';
  const f = formatter(money.currency);
  const exponent = f.resolvedOptions().maximumFractionDigits;
  return f.format(money.amount / 10 ** exponent);
}

/** "12 s", "4 min", "2 h" since an RFC 3339 time. */
export function age(at, now = Date.now()) {
  const seconds = Math.max(0, Math.floor((now - Date.parse(at)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h`;
}

/** `document.createElement` with attributes, properties and children in one call. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return el;
}

/**
 * Up to two initials of a name: the first letters of its first two words made of letters
 * ("Arancini (3 pcs)" → "AP", never "A(").
 */
export function initials(name = '') {
  return (name.match(/\p{L}+/gu) || [])
    .slice(0, 2)
    .map((word) => word[0].toUpperCase())
    .join('');
}

/** A stable hue (0–359) for a text: the placeholder's colour. */
export function hue(text = '') {
  let n = 0;
  for (const c of text) n = (n * 31 + c.charCodeAt(0)) % 360;
  return n;
}

/**
 * A product's picture for `el`: its first image, or (none, or a link that does not load) the
 * placeholder with its initials.
 */
export function showPicture(el, product, { width } = {}) {
  const placeholder = () => {
    el.replaceChildren();
    el.textContent = initials(product.name);
    el.classList.add('placeholder');
    el.style.setProperty('--hue', hue(product.category || product.name));
  };
  const image = product.image_urls?.[0];
  if (!image) return placeholder();
  el.classList.remove('placeholder');
  // Uploaded pictures come in smaller copies; other addresses are used as they are.
  const src = width && image.startsWith('/media/') ? `${image}?w=${width}` : image;
  el.replaceChildren(h('img', { src, alt: '', onerror: placeholder }));
  return undefined;
}

/** A human sentence for a failed call. */
export function describe(error) {
  if (!(error instanceof ApiError)) return 'The server cannot be reached. Check your connection and try again.';
  const p = error.problem;
  if (error.code === 'validation_failed' && Array.isArray(p.errors) && p.errors.length) {
    return p.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  }
  return p.detail || p.title || `Request failed (${error.status}).`;
}

/**
 * The page's one WebSocket (`/api/v1/ws?token=…`). Topics survive reconnects: each remembers
 * its epoch and last seq and resubscribes with `since`, so the server replays what was missed
 * or sends a fresh snapshot with `reset: true`. Handlers get
 * `{type:'snapshot', snapshot, reset}`, `{type:'resumed', replayed}`,
 * `{type:'event', event, data, seq}` or `{type:'error', code, detail}`.
 * Dispatches `status` with `detail` 'connecting' | 'online' | 'offline'.
 */
export class Live extends EventTarget {
  constructor(tokenProvider = async () => null) {
    super();
    this.tokenProvider = tokenProvider;
    this.topics = new Map();
    this.socket = null;
    this.status = 'offline';
    this.attempt = 0;
    this.timer = null;
    this.pingTimer = null;
    this.lastMessage = 0;
    this.generation = 0;
    window.addEventListener('offline', () => this.drop());
    window.addEventListener('online', () => this.reconnectSoon(0));
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent('status', { detail: status }));
  }

  /** Opens (or reopens, e.g. after signing in) the connection. */
  async connect() {
    const generation = ++this.generation;
    clearTimeout(this.timer);
    this.closeSocket();
    this.setStatus(this.attempt === 0 ? 'connecting' : 'offline');
    let token = null;
    try {
      token = await this.tokenProvider();
    } catch {
      token = null;
    }
    if (generation !== this.generation) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = token ? `?token=${encodeURIComponent(token)}` : '';
    const socket = new WebSocket(`${scheme}//${location.host}${API}/ws${query}`);
    this.socket = socket;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.attempt = 0;
      this.lastMessage = Date.now();
      this.setStatus('online');
      for (const topic of this.topics.keys()) this.sendSubscribe(topic);
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.heartbeat(), 10000);
    };
    socket.onmessage = (message) => {
      if (socket !== this.socket) return;
      this.lastMessage = Date.now();
      let msg;
      try {
        msg = JSON.parse(message.data);
      } catch {
        return;
      }
      this.dispatch(msg);
    };
    socket.onclose = () => {
      if (socket !== this.socket) return;
      this.socket = null;
      clearInterval(this.pingTimer);
      this.setStatus('offline');
      this.reconnectSoon();
    };
  }

  /** Closes the socket as if the network dropped (it reconnects and resumes). */
  drop() {
    if (!this.socket) return;
    const socket = this.socket;
    this.closeSocket();
    if (socket) {
      this.setStatus('offline');
      this.reconnectSoon();
    }
  }

  closeSocket() {
    clearInterval(this.pingTimer);
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.onopen = socket.onmessage = socket.onclose = null;
      try {
        socket.close();
      } catch {
        /* already closed */
      }
    }
  }

  reconnectSoon(delay) {
    clearTimeout(this.timer);
    this.attempt += 1;
    const wait = delay ?? Math.min(5000, 250 * 2 ** Math.min(this.attempt, 5)) * (0.75 + Math.random() / 2);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  /** A silent connection is a dead one: ping, and give up on it after 25 s without a word. */
  heartbeat() {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastMessage > 25000) {
      this.drop();
      return;
    }
    this.socket.send(JSON.stringify({ op: 'ping' }));
  }

  /** Follows `topic`; `handler` gets its snapshot and events (see the class comment). */
  subscribe(topic, handler, { mode } = {}) {
    this.topics.set(topic, { handler, mode, epoch: null, seq: null });
    this.sendSubscribe(topic);
  }

  unsubscribe(topic) {
    if (!this.topics.delete(topic)) return;
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ op: 'unsubscribe', topic }));
    }
  }

  sendSubscribe(topic) {
    const state = this.topics.get(topic);
    if (!state || this.socket?.readyState !== WebSocket.OPEN) return;
    const op = { op: 'subscribe', topic };
    if (state.mode) op.mode = state.mode;
    if (state.epoch !== null) op.since = { epoch: state.epoch, seq: state.seq };
    this.socket.send(JSON.stringify(op));
  }

  dispatch(msg) {
    const state = msg.topic ? this.topics.get(msg.topic) : null;
    if (!state) return;
    if (msg.type === 'subscribed') {
      state.epoch = msg.epoch;
      state.seq = msg.seq;
      if ('snapshot' in msg) {
        state.handler({ type: 'snapshot', snapshot: msg.snapshot, reset: Boolean(msg.reset) });
      } else {
        state.handler({ type: 'resumed', replayed: msg.replayed || 0 });
      }
    } else if (msg.type === 'event') {
      state.seq = msg.seq;
      state.handler({ type: 'event', event: msg.event, data: msg.data, seq: msg.seq, at: msg.at });
    } else if (msg.type === 'error') {
      state.handler({ type: 'error', code: msg.code, detail: msg.detail });
    }
  }
}

/** The event names a topic can carry (docs/API.md §9): `EventSource` needs one listener each. */
const EVENT_NAMES = [
  'order.created', 'order.status_changed', 'stock.changed', 'stock.low', 'product.updated',
  'store.status_changed', 'cart.updated', 'cart.hold_expired',
];

/**
 * One topic over Server-Sent Events (`/api/v1/events?topic=…`): the read-only fallback for
 * networks where the WebSocket fails (a proxy that drops upgrades). The handler gets the same
 * messages as from `Live.subscribe`. The browser resumes a dropped stream with
 * `Last-Event-ID` by itself; when the server refuses it (an expired token), the feed reopens
 * with a fresh token after a pause and starts from a snapshot.
 */
export class EventFeed {
  constructor(topic, handler, tokenProvider = async () => null) {
    this.topic = topic;
    this.handler = handler;
    this.tokenProvider = tokenProvider;
    this.source = null;
    this.timer = null;
    this.closed = false;
    this.open();
  }

  async open() {
    let token = null;
    try {
      token = await this.tokenProvider();
    } catch {
      token = null;
    }
    if (this.closed) return;
    const params = new URLSearchParams({ topic: this.topic });
    if (token) params.set('token', token);
    const source = new EventSource(`${API}/events?${params}`);
    this.source = source;
    const parse = (e) => {
      try {
        return JSON.parse(e.data);
      } catch {
        return null;
      }
    };
    for (const name of ['snapshot', 'reset']) {
      source.addEventListener(name, (e) => {
        const msg = parse(e);
        if (msg) this.handler({ type: 'snapshot', snapshot: msg.snapshot, reset: name === 'reset' });
      });
    }
    for (const name of EVENT_NAMES) {
      source.addEventListener(name, (e) => {
        const msg = parse(e);
        if (msg) this.handler({ type: 'event', event: msg.event, data: msg.data, seq: msg.seq, at: msg.at });
      });
    }
    source.onerror = () => {
      if (source !== this.source || source.readyState !== EventSource.CLOSED) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.open(), 3000);
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
  }
}
