// Shared client for the participant page and the instructor console:
// one WebSocket to /ws with reconnect, an NTP-style estimate of server time,
// and states applied at their `effectiveAt` so every phone switches together.
// Protocol: docs/protocol.md.

/** Local time in ms. performance.* is monotonic, so a wall-clock jump on the phone
 *  (NTP correction, manual change) cannot move our estimate of server time. */
export const localNow = () => performance.timeOrigin + performance.now();

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
const SAMPLE_MAX_AGE_MS = 120_000;
const DRIFT_BOUND = 100e-6;    // two clocks may drift apart by up to 100 ppm (0.1 ms/s)
const BEST_SAMPLES = 3;        // the offset is the mean of this many most trustworthy samples
const PROBE_TIMEOUT_MS = 5_000;    // no answer to a `time` in this long: the socket is dead

/** Keeps time samples and answers with the offset of the most trustworthy ones. A sample's
 *  error is bounded by half its round trip (a fully one-sided path) plus the drift since it
 *  was taken, so a fresh sample beats an old one whose round trip was barely shorter.
 *  Averaging the best few (not just the best) halves out the jitter left in each: on a
 *  150 ms ± 20% link it cuts the p95 error from ~9 to ~7 ms (docs/sync.md). */
export class ClockSync {
  samples = [];
  roughOffset = 0; // from `welcome.serverTime`, until a real sample exists

  add(t0, t1, t2, t3) {
    const rtt = (t3 - t0) - (t2 - t1);
    const offset = ((t1 - t0) + (t2 - t3)) / 2;
    if (!(rtt >= 0) || !Number.isFinite(offset)) return;
    this.samples.push({ offset, rtt, at: t3 });
    const oldest = t3 - SAMPLE_MAX_AGE_MS;
    this.samples = this.samples.filter((s) => s.at >= oldest);
  }

  /** The samples by error bound, most trustworthy first. */
  ranked(now = localNow()) {
    const bound = (s) => s.rtt / 2 + Math.max(0, now - s.at) * DRIFT_BOUND;
    return this.samples.map((s) => ({ s, b: bound(s) })).sort((x, y) => x.b - y.b).map((x) => x.s);
  }

  best() { return this.ranked()[0] ?? null; }

  get offset() {
    const top = this.ranked().slice(0, BEST_SAMPLES);
    if (!top.length) return this.roughOffset;
    return top.reduce((sum, s) => sum + s.offset, 0) / top.length;
  }
}

/**
 * The live connection. Events (subscribe with `on`):
 *  welcome(msg), state(state, previous), presence(msg), announce(msg), error(msg),
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
    liveClients.add(this);

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
        this.emit('welcome', msg);
        if (msg.state) {
          // A (re)joining phone draws the current state at once; anything queued
          // before the reconnect is superseded by it.
          this.pending = [];
          this.lastSeq = msg.state.seq ?? null;
          this.apply(msg.state);
        }
        if (msg.presence) this.emit('presence', msg.presence);
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

  /** Called by renderLoop before each frame is drawn, `frameMs` apart. */
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

// --- what to show: pure functions of (plan, state, server time) -------------------

/** Where the class is at server time `now`. Frozen at pausedAt while paused. */
export function describe(plan, state, now) {
  const steps = plan?.steps ?? [];
  const status = state?.status ?? 'idle';
  const index = Number.isInteger(state?.step) ? state.step : null;
  const step = index === null ? null : steps[index] ?? null;
  const at = status === 'paused' && state.pausedAt != null ? state.pausedAt
    : status === 'finished' && state.finishedAt != null ? state.finishedAt
    : now;
  const elapsedMs = step && state.stepStartedAt != null ? Math.max(0, at - state.stepStartedAt) : 0;
  const remainingMs = step && state.stepEndsAt != null ? Math.max(0, state.stepEndsAt - at) : null;
  const next = status === 'idle' ? steps[0] ?? null
    : status === 'finished' ? null
    : index === null ? null : steps[index + 1] ?? null;
  return {
    status, index, step, next, elapsedMs, remainingMs,
    count: steps.length,
    cue: step ? currentCue(step.cues, elapsedMs) : null,
    progress: progress(plan, state, index, elapsedMs),
  };
}

/** The latest cue whose `atMs` has passed. */
export function currentCue(cues, elapsedMs) {
  let found = null;
  for (const c of cues ?? []) {
    if (c.atMs <= elapsedMs && (!found || c.atMs >= found.atMs)) found = c;
  }
  return found;
}

/** Rough duration of every step; distance steps have none, so they get an estimate:
 *  their share of whatever `totalMs` has beyond the timed steps, or a walking pace. */
export function stepEstimates(plan) {
  const steps = plan?.steps ?? [];
  const timed = steps.reduce((sum, s) => sum + (s.durationMs ?? 0), 0);
  const meters = steps.reduce((sum, s) => sum + (s.durationMs == null ? s.distanceMeters ?? 0 : 0), 0);
  const spare = Math.max(0, (plan?.totalMs ?? 0) - timed);
  const msPerMeter = meters > 0 && spare > 0 ? spare / meters : 1000; // 1 m/s, a backward walk
  return steps.map((s) => s.durationMs ?? (s.distanceMeters ?? 0) * msPerMeter);
}

function progress(plan, state, index, elapsedMs) {
  const status = state?.status ?? 'idle';
  if (status === 'finished') return 1;
  if (status === 'idle' || index === null) return 0;
  const est = stepEstimates(plan);
  const total = est.reduce((a, b) => a + b, 0);
  if (total <= 0) return 0;
  const before = est.slice(0, index).reduce((a, b) => a + b, 0);
  // An extended step stretches; the bar should not run past the step's slot.
  const length = state.stepEndsAt != null && state.stepStartedAt != null
    ? state.stepEndsAt - state.stepStartedAt : est[index] ?? 0;
  const within = length > 0 ? Math.min(1, elapsedMs / length) : 0;
  return Math.min(1, (before + within * (est[index] ?? 0)) / total);
}

/** 83_400 → "1:24" (rounded up: "0:00" only when time is really up). */
export function formatClock(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export function formatDistance(meters) {
  return meters >= 1000 ? `${(meters / 1000).toFixed(meters % 1000 === 0 ? 0 : 1)} km` : `${meters} m`;
}

/** "4:00" for a timed step, "25 m" for a distance step. */
export function formatLength(step) {
  if (step.durationMs != null) return formatClock(step.durationMs);
  if (step.distanceMeters != null) return formatDistance(step.distanceMeters);
  return '';
}

/** "Round 2 of 4" when the step repeats, otherwise "Step 3 of 9". */
export function position(view) {
  if (!view.step) return '';
  if (view.step.rounds > 1) return `Round ${view.step.round} of ${view.step.rounds}`;
  return `Step ${view.index + 1} of ${view.count}`;
}

/** Set text only when it changed: cheap, and aria-live regions announce only real changes. */
export function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}

/** Every Live on the page: renderLoop lets each apply its due states before drawing. */
const liveClients = new Set();

/** Calls `frame()` on every animation frame while visible, and twice a second while
 *  hidden (rAF stops then, but state changes should still be applied and spoken).
 *
 *  Before drawing, each Live applies a pending state if its effectiveAt is nearer to this
 *  frame than to the next one. Applying it from a timer instead would show it only at the
 *  next frame, 0 to 1 frame late (0-16.7 ms at 60 Hz, +8 ms on average); this way the
 *  change lands within half a frame of effectiveAt, early or late. */
/** The test hook both pages expose as `window.__classctl`: what is shown, and when each change
 *  was shown (server time), plus a way to cut the connection on purpose. */
export function exposeForTests(live, extra = {}) {
  window.__classctl = Object.defineProperties({
    live,
    serverNow: () => live.serverNow(),
    dropConnection: (holdMs) => live.drop(holdMs),
  }, {
    status: { get: () => live.state?.status ?? null },
    step: { get: () => live.state?.step ?? null },
    switches: { get: () => live.switches },
    ...Object.getOwnPropertyDescriptors(extra),
  });
}

export function renderLoop(frame) {
  let last = null;
  const gaps = [];  // the last few frame intervals; their minimum is the display's period
  const tick = (ts) => {
    if (last !== null) {
      gaps.push(ts - last);
      if (gaps.length > 30) gaps.shift();
    }
    last = ts;
    // A dropped frame makes one long gap: the smallest recent gap is the real period.
    const frameMs = gaps.length ? Math.min(34, Math.max(4, Math.min(...gaps))) : 1000 / 60;
    for (const live of liveClients) live.beforeFrame(frameMs);
    frame();
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  setInterval(() => { if (document.visibilityState !== 'visible') frame(); }, 500);
}

/** The connection indicator shared by both pages: dot + words (never colour alone). */
export const connectionLabels = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  closed: 'Disconnected',
};
