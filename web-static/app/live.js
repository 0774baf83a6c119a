// The live connection both pages share: one WebSocket to /ws with reconnect and backoff,
// `time` probes feeding the clock estimate (clock.js) and doubling as heartbeats, states
// applied at their `effectiveAt` so every phone switches together, and, whenever no server
// state has come for a timed step's end, the plan followed on the phone's own clock.
// Protocol: docs/protocol.md. What to draw from the state is view-model.js; when, render-loop.js.
import { ClockSync, localNow } from './clock.js';
import { predictState } from './view-model.js';

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
// A link can die silently (Wi-Fi gone, packets dropped): no `close` until TCP gives up, minutes
// later. So the page listens: after QUIET_MS with nothing from the server it sends a `time`
// probe (also a clock sample), and a socket that leaves anything we sent unanswered for
// ANSWER_MS, or opens nothing within CONNECT_MS, is dropped: a dead link shows in ~3-4 s.
const HEARTBEAT_MS = 500;      // how often the link is checked
const QUIET_MS = 1_500;
const ANSWER_MS = 2_000;
const CONNECT_MS = 5_000;
const RESTORE_AFTER_MS = 1_500; // no welcome this soon after loading: show the class remembered
const REMEMBER_FOR_MS = 12 * 3600_000;

/**
 * The live connection. Events (subscribe with `on`):
 *  welcome(msg), state(state, previous), presence(msg), announce(msg), error(msg),
 *  alerts(list) (instructors), stop(msg) (the participant who raised one), summary(msg),
 *  connection(name) with name one of connecting | connected | reconnecting | offline | closed.
 *  A state the page predicted (`predicted: true`, see `follow`) is announced like any other;
 *  a remembered class (`remember`) arrives as a welcome with `restored: true`.
 *  `remember`: keep the last plan and state in localStorage and show them when the page
 *  loads without the server (the participant page; its service worker serves the files).
 */
export class Live {
  constructor({ code = classCodeFromPath(location.pathname), hello = () => null, remember = false } = {}) {
    this.code = code;
    this.hello = hello;          // called on every (re)connect: the message to send, or null
    this.memoryKey = remember ? `classctl.class.${code ?? ''}` : null;
    this.clock = new ClockSync();
    this.plan = null;            // welcome.class
    this.state = null;           // the state shown now
    this.presence = null;
    this.alerts = [];            // instructors: open stop signals (alerts / welcome.alerts)
    this.role = null;
    this.join = null;            // welcome.join: the public join link (the QR code's)
    this.summary = null;         // the finished run's summary (summary / welcome.summary)
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
    this.lastProbeAt = 0;
    this.answerBy = null;        // local time by which the server must have said something
    this.lastCheckAt = 0;

    const wake = () => this.wake();
    addEventListener('online', () => {
      // An attempt made while offline may hang until CONNECT_MS: start afresh.
      if (this.ws?.readyState === WebSocket.CONNECTING) this.drop();
      wake();
    });
    addEventListener('pageshow', wake);
    // The system says the network is gone: believe it at once (the socket cannot work, and
    // Chromium's network emulation even keeps an open one alive), follow the plan meanwhile.
    addEventListener('offline', () => {
      if (this.ws) this.drop(); else this.setConnection('offline');
    });
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

  serverNow() { return this.local() + this.clock.offset; }

  local() { return localNow(); }

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
    if (!this.plan && this.memoryKey && !this.timers.has('restore')) {
      this.after('restore', RESTORE_AFTER_MS, () => this.restore());
    }
    const ws = new WebSocket(this.url);
    this.ws = ws;
    this.answerBy = this.local() + CONNECT_MS;
    this.every('heartbeat', HEARTBEAT_MS, () => this.checkLink());
    ws.onopen = () => {
      this.attempt = 0;
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

  /** The heartbeat: probe a quiet link, drop one that stopped answering. A check that runs
   *  late (a throttled background tab, a busy page) judges nothing: messages may be waiting
   *  behind it. */
  checkLink() {
    const now = this.local();
    const onTime = now - this.lastCheckAt < 2 * HEARTBEAT_MS;
    this.lastCheckAt = now;
    if (!this.ws) return;
    if (onTime && this.answerBy !== null && now > this.answerBy) { this.drop(); return; }
    if (this.ws.readyState === WebSocket.OPEN && now - this.lastMessageAt >= QUIET_MS
        && now - this.lastProbeAt >= QUIET_MS) {
      this.sendTime();
    }
  }

  sendTime() {
    this.timeId += 1;
    const t0 = this.local();
    if (!this.send({ type: 'time', id: this.timeId, t0 })) return;
    this.lastProbeAt = t0;
    this.answerBy ??= t0 + ANSWER_MS;
  }

  /** The socket is gone (closed by the server, the network, or us): plan the next try. */
  dropped(ws) {
    if (this.ws !== ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    this.ws = null;
    this.answerBy = null;
    for (const name of ['refresh', 'resync', 'heartbeat']) this.clearTimer(name);
    if (this.fatal) { this.setConnection('closed'); return; }
    if (!this.plan) this.restore();
    this.setConnection(navigator.onLine === false ? 'offline' : 'reconnecting');
    // Exponential backoff with jitter, so a whole class reconnecting after a Wi-Fi
    // blip does not hit the server in the same millisecond.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 10);
    const delay = Math.max(ceiling / 2 + Math.random() * ceiling / 2, this.holdUntil - this.local());
    this.after('reconnect', delay, () => this.connect());
  }

  /** Called when the page comes back (tab visible, network online, back/forward cache):
   *  reconnect at once if we are down, otherwise check the socket still answers. */
  wake() {
    if (this.fatal || this.local() < this.holdUntil) return;
    if (!this.ws) { this.attempt = 0; this.connect(); return; }
    if (this.ws.readyState === WebSocket.OPEN) {
      this.send({ type: 'sync' });
      this.answerBy ??= this.local() + ANSWER_MS;
      this.syncClock(SYNC_REFRESH);
    }
  }

  /** Force-close the socket as a network cut would; it stays down for `holdMs`.
   *  Used by the browser tests (window.__classctl.dropConnection). */
  drop(holdMs = 0) {
    this.holdUntil = this.local() + holdMs;
    const ws = this.ws;
    if (!ws) return;
    this.dropped(ws);
    ws.close();
  }

  // --- clock ------------------------------------------------------------------

  syncClock(count) {
    for (let i = 0; i < count; i++) this.after(`time${i}`, i * SYNC_SPACING_MS, () => this.sendTime());
  }

  // --- messages -----------------------------------------------------------------

  receive(data) {
    const t3 = this.local();
    this.lastMessageAt = t3;
    this.answerBy = null;
    // Anything from the server proves the link: say so even if something said otherwise.
    if (this.ws?.readyState === WebSocket.OPEN) this.setConnection('connected');
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
        this.join = msg.join ?? this.join;
        this.summary = msg.summary ?? null;   // a run started again has none yet
        if (msg.presence) this.presence = msg.presence;
        if (msg.alerts) this.alerts = msg.alerts;
        this.clearTimer('restore');
        this.emit('welcome', msg);
        if (msg.state) {
          // A joining phone draws the current state at once; one that was showing a class
          // (reconnecting, or following the plan) switches at its effectiveAt like any state.
          // Anything queued before the reconnect is superseded by it.
          this.pending = [];
          this.lastSeq = msg.state.seq ?? null;
          if (this.state && msg.state.effectiveAt > this.serverNow()) {
            this.pending.push(msg.state);
            this.remember();
          } else {
            this.apply(msg.state);
          }
          this.schedule();
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
      case 'summary':  // the class finished: what was run
        this.summary = msg;
        this.emit('summary', msg);
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

  /** Follow the plan: when the shown state's timed step has ended (by `aheadMs` from now) and
   *  no server state has taken its place, show what the server will have done (`predictState`:
   *  the next step, on this phone's synced clock). Online, the server's state for that instant
   *  normally came a lead ahead and was applied first; offline, this keeps the class going. The
   *  prediction never moves `lastSeq`: any state from the server replaces it, and one equal to
   *  it changes nothing visible. Returns whether it changed the state. */
  follow(aheadMs = 0) {
    const s = this.state;
    if (!this.plan || s?.status !== 'running' || s.stepEndsAt == null) return false;
    const next = predictState(this.plan, s, this.serverNow() + aheadMs);
    if (next === s) return false;
    this.apply(next);
    return true;
  }

  /** A timer for the earliest pending state or end of the shown timed step: the fallback
   *  when no frames run (hidden tab). */
  schedule() {
    this.clearTimer('flush');
    const times = this.pending.map((s) => s.effectiveAt);
    const s = this.state;
    if (this.plan && s?.status === 'running' && s.stepEndsAt != null) times.push(s.stepEndsAt);
    if (!times.length) return;
    const wait = Math.min(...times) - this.serverNow();
    this.after('flush', Math.max(0, wait), () => { this.flush(); this.follow(); this.schedule(); });
  }

  /** Called by renderLoop (render-loop.js) before each frame is drawn, `frameMs` apart. */
  beforeFrame(frameMs) {
    const flushed = this.pending.length > 0 && this.flush(frameMs / 2);
    if (this.follow(frameMs / 2) || flushed) this.schedule();
  }

  apply(s) {
    const previous = this.state;
    this.state = s;
    if (!previous || previous.step !== s.step || previous.status !== s.status) {
      this.switches.push({ seq: s.seq, status: s.status, step: s.step, at: this.serverNow(), predicted: Boolean(s.predicted) });
      if (this.switches.length > 50) this.switches.shift();
    }
    this.emit('state', s, previous);
    if (!s.predicted) this.remember();
  }

  // --- the class remembered (participant page) ---------------------------------------------

  /** Keeps the plan and the last server state, with the clock offset, for `restore`. */
  remember() {
    if (!this.memoryKey || !this.plan || !this.state || this.state.predicted) return;
    const saved = { plan: this.plan, state: this.state, offset: this.clock.offset, savedAt: this.serverNow() };
    try { localStorage.setItem(this.memoryKey, JSON.stringify(saved)); } catch { /* not kept */ }
  }

  /** With no word from the server yet, shows the class as last remembered, carried forward
   *  on the plan (`follow`); the server's welcome replaces it when it comes. */
  restore() {
    this.clearTimer('restore');
    if (!this.memoryKey || this.plan) return;
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(this.memoryKey)); } catch { /* nothing kept */ }
    if (!saved?.plan || !saved.state) return;
    if (!this.clock.best() && Number.isFinite(saved.offset)) this.clock.roughOffset = saved.offset;
    if (!(this.serverNow() - saved.savedAt < REMEMBER_FOR_MS)) return;
    this.plan = saved.plan;
    this.emit('welcome', { type: 'welcome', class: saved.plan, state: saved.state, restored: true });
    // Marked predicted: not the server's word (and so not remembered again as if it were).
    this.apply({ ...predictState(this.plan, saved.state, this.serverNow()), predicted: true });
    this.schedule();
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
