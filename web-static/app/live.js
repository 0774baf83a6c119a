// The live connection both pages share: one WebSocket to /ws with reconnect and backoff,
// `time` probes feeding the clock estimate (clock.js), and states applied at their
// `effectiveAt` so every phone switches together. Protocol: docs/protocol.md.
// What to draw from the state is view-model.js; when to draw, render-loop.js.
import { ClockSync, localNow } from './clock.js';

/** The class code from `/c/CODE` or `/c/CODE/instructor`; null on `/` (the default class). */
export function classCodeFromPath(pathname) {
  const m = /^\/c\/([^/]+)/.exec(pathname);
  return m ? decodeURIComponent(m[1]) : null;
}

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const SYNC_BURST = 5;          // time exchanges right after connecting
const SYNC_AGAIN_MS = 2_000;   // ... again once the page has loaded: the first burst's replies
                               // wait behind page start-up work, which skews them
const SYNC_REFRESH = 3;        // ... and on each refresh
const SYNC_SPACING_MS = 100;
const SYNC_EVERY_MS = 10_000;  // three tiny messages per 10 s; frequent enough that drift
                               // and one unlucky burst do not linger (docs/sync.md)
const PROBE_TIMEOUT_MS = 5_000;    // no answer to a `time` in this long: the socket is dead

/**
 * The live connection. Events (subscribe with `on`):
 *  welcome(msg), state(state, previous), presence(msg), announce(msg), error(msg),
 *  alerts(list) (instructors), stop(msg) (the participant who raised one),
 *  connection(name) with name one of connecting | connected | reconnecting | offline | closed.
 */
export class Live {
  constructor({ code = classCodeFromPath(location.pathname), hello = () => null } = {}) {
    this.code = code;
    this.hello = hello;          // called on every (re)connect: the message to send, or null
    this.clock = new ClockSync();
    this.plan = null;            // welcome.class
    this.state = null;           // the state shown now
    this.presence = null;
    this.alerts = [];            // instructors: open stop signals (alerts / welcome.alerts)
    this.role = null;
    this.connection = 'connecting';
    this.switches = [];          // {seq, status, step, at}: when each change was shown (server time)
    this.listeners = new Map();
    this.ws = null;
    this.attempt = 0;
    this.lastSeq = null;
    this.pending = [];           // received states waiting for their effectiveAt
    this.timeId = 0;
    this.timers = new Map();  // name → timeout/interval id
    this.holdUntil = 0;
    this.fatal = false;
    this.lastMessageAt = 0;

    const wake = () => this.wake();
    addEventListener('online', wake);
    addEventListener('pageshow', wake);
    addEventListener('offline', () => this.setConnection('offline'));
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') wake();
    });
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }

  emit(type, ...args) {
    for (const fn of this.listeners.get(type) ?? []) fn(...args);
  }

  serverNow() { return localNow() + this.clock.offset; }

  get url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = this.code ? `?class=${encodeURIComponent(this.code)}` : '';
    return `${scheme}//${location.host}/ws${query}`;
  }

  send(msg) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  setConnection(name) {
    if (this.connection === name) return;
    this.connection = name;
    this.emit('connection', name);
  }

  // --- connection lifecycle -------------------------------------------------

  connect() {
    if (this.ws || this.fatal) return;
    this.clearTimer('reconnect');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.lastMessageAt = localNow();
      this.setConnection('connected');
      const hello = this.hello();
      if (hello) this.send(hello);
      this.syncClock(SYNC_BURST);
      this.after('resync', SYNC_AGAIN_MS, () => this.syncClock(SYNC_BURST));
      this.every('refresh', SYNC_EVERY_MS, () => this.syncClock(SYNC_REFRESH));
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = () => this.dropped(ws);
  }

  /** The socket is gone (closed by the server, the network, or us): plan the next try. */
  dropped(ws) {
    if (this.ws !== ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    this.ws = null;
    this.clearTimer('refresh');
    this.clearTimer('resync');
    this.clearTimer('probe');
    if (this.fatal) { this.setConnection('closed'); return; }
    this.setConnection(navigator.onLine === false ? 'offline' : 'reconnecting');
    // Exponential backoff with jitter, so a whole class reconnecting after a Wi-Fi
    // blip does not hit the server in the same millisecond.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 10);
    const delay = Math.max(ceiling / 2 + Math.random() * ceiling / 2, this.holdUntil - localNow());
    this.after('reconnect', delay, () => this.connect());
  }

  /** Called when the page comes back (tab visible, network online, back/forward cache):
   *  reconnect at once if we are down, otherwise check the socket still answers. */
  wake() {
    if (this.fatal || localNow() < this.holdUntil) return;
    if (!this.ws) { this.attempt = 0; this.connect(); return; }
    if (this.ws.readyState === WebSocket.OPEN) {
      this.send({ type: 'sync' });
      this.syncClock(SYNC_REFRESH);
    }
  }

  /** Force-close the socket as a network cut would; it stays down for `holdMs`.
   *  Used by the browser tests (window.__classctl.dropConnection). */
  drop(holdMs = 0) {
    this.holdUntil = localNow() + holdMs;
    const ws = this.ws;
    if (!ws) return;
    this.dropped(ws);
    ws.close();
  }

  // --- clock ------------------------------------------------------------------

  syncClock(count) {
    for (let i = 0; i < count; i++) {
      this.after(`time${i}`, i * SYNC_SPACING_MS, () => {
        this.timeId += 1;
        this.send({ type: 'time', id: this.timeId, t0: localNow() });
      });
    }
    // A silent dead socket (phone slept, Wi-Fi changed) never fires `close`
    // until TCP gives up; if nothing at all comes back, drop it ourselves.
    const sentAt = localNow();
    this.after('probe', PROBE_TIMEOUT_MS + count * SYNC_SPACING_MS, () => {
      if (this.ws && this.lastMessageAt < sentAt) this.drop();
    });
  }

  // --- messages -----------------------------------------------------------------

  receive(data) {
    const t3 = localNow();
    this.lastMessageAt = t3;
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'time':
        this.clock.add(msg.t0, msg.t1, msg.t2, t3);
        break;
      case 'welcome':
        if (!this.clock.best() && Number.isFinite(msg.serverTime)) {
          this.clock.roughOffset = msg.serverTime - t3;
        }
        this.plan = msg.class ?? this.plan;
        this.role = msg.role ?? this.role;
        if (msg.presence) this.presence = msg.presence;
        if (msg.alerts) this.alerts = msg.alerts;
        this.emit('welcome', msg);
        if (msg.state) {
          // A (re)joining phone draws the current state at once; anything queued
          // before the reconnect is superseded by it.
          this.pending = [];
          this.lastSeq = msg.state.seq ?? null;
          this.apply(msg.state);
        }
        if (msg.presence) this.emit('presence', msg.presence);
        if (msg.alerts) this.emit('alerts', msg.alerts);
        break;
      case 'state':
        this.receiveState(msg);
        break;
      case 'presence':
        this.presence = msg;
        this.emit('presence', msg);
        break;
      case 'announce':
        this.emit('announce', msg);
        break;
      case 'alerts':   // to instructors: open "I need to stop" signals
        this.alerts = msg.alerts ?? [];
        this.emit('alerts', this.alerts);
        break;
      case 'stop':     // to the participant who raised one: where it stands
        this.emit('stop', msg);
        break;
      case 'error':
        if (msg.code === 'unknown-class') this.fatal = true;
        this.emit('error', msg);
        break;
      default:
        break; // newer server, newer message: ignore
    }
  }

  receiveState(s) {
    if (!Number.isFinite(s.seq)) return;
    if (this.lastSeq !== null && s.seq <= this.lastSeq) return; // stale or repeated
    // States are whole snapshots, so a gap loses nothing shown, but the protocol
    // asks for a `sync` so the server can tell we fell behind.
    if (this.lastSeq !== null && s.seq > this.lastSeq + 1) this.send({ type: 'sync' });
    this.lastSeq = s.seq;
    this.pending.push(s);
    this.flush();
    this.schedule();
  }

  /** Apply the newest pending state whose effectiveAt has come, or comes within `aheadMs`
   *  (renderLoop passes half a frame: see there). Returns whether one was applied. */
  flush(aheadMs = 0) {
    const now = this.serverNow();
    let due = -1;
    this.pending.forEach((s, i) => { if (!(s.effectiveAt > now + aheadMs)) due = i; });
    if (due < 0) return false;
    this.apply(this.pending.splice(0, due + 1).pop());
    return true;
  }

  /** A timer for the earliest pending state: the fallback when no frames run (hidden tab). */
  schedule() {
    this.clearTimer('flush');
    if (!this.pending.length) return;
    const wait = Math.min(...this.pending.map((s) => s.effectiveAt)) - this.serverNow();
    this.after('flush', Math.max(0, wait), () => { this.flush(); this.schedule(); });
  }

  /** Called by renderLoop (render-loop.js) before each frame is drawn, `frameMs` apart. */
  beforeFrame(frameMs) {
    if (this.pending.length && this.flush(frameMs / 2)) this.schedule();
  }

  apply(s) {
    const previous = this.state;
    this.state = s;
    if (!previous || previous.step !== s.step || previous.status !== s.status) {
      this.switches.push({ seq: s.seq, status: s.status, step: s.step, at: this.serverNow() });
      if (this.switches.length > 50) this.switches.shift();
    }
    this.emit('state', s, previous);
  }

  // --- timers ----------------------------------------------------------------------

  after(name, ms, fn) {
    this.clearTimer(name);
    this.timers.set(name, setTimeout(() => { this.timers.delete(name); fn(); }, ms));
  }

  every(name, ms, fn) {
    this.clearTimer(name);
    this.timers.set(name, setInterval(fn, ms));
  }

  clearTimer(name) {
    // clearTimeout and clearInterval share one id space, so either clears either.
    clearTimeout(this.timers.get(name));
    this.timers.delete(name);
  }
}
