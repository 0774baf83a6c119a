// State scheduling and message handling of web-static/app/live.js, without a socket or a browser:
// the few browser globals its constructor touches are stubbed, and server time is set by hand.
// Run: node --test Tests/web/
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Live, classCodeFromPath } from '../../web-static/app/live.js';

globalThis.addEventListener ??= () => {};
globalThis.document ??= { addEventListener() {}, visibilityState: 'visible' };
globalThis.WebSocket ??= { CONNECTING: 0, OPEN: 1 };
globalThis.navigator ??= { onLine: true };

const made = [];
afterEach(() => { for (const live of made.splice(0)) for (const name of [...live.timers.keys()]) live.clearTimer(name); });

/** A Live whose server time is `clock.now` (its local time `clock.local`) and whose socket
 *  records what is sent. */
function fakeLive(options = {}) {
  const live = new Live({ code: 'TEST', ...options });
  made.push(live);
  const clock = { now: 1_000_000, local: 5_000 };
  live.serverNow = () => clock.now;
  live.local = () => clock.local;
  const sent = [];
  live.ws = { readyState: 1, send: (text) => sent.push(JSON.parse(text)), close() { this.closed = true; } };
  const shown = [];
  live.on('state', (s) => shown.push(s.seq));
  return { live, clock, sent, shown };
}
const state = (seq, effectiveAt, extra = {}) => JSON.stringify({
  type: 'state', seq, status: 'running', step: seq, effectiveAt, ...extra });

test('a state waits for its effectiveAt, then the newest due one is shown', () => {
  const { live, clock, shown } = fakeLive();
  live.receive(state(1, 1_000_300));
  live.receive(state(2, 1_000_600));
  assert.deepEqual(shown, []);
  assert.equal(live.pending.length, 2);
  clock.now = 1_000_299;
  assert.equal(live.flush(), false);
  clock.now = 1_000_300;
  assert.equal(live.flush(), true);
  assert.deepEqual(shown, [1]);
  clock.now = 1_000_700;                    // both due: only the newest is drawn
  live.receive(state(3, 1_000_650));
  assert.deepEqual(shown, [1, 3]);
  assert.equal(live.pending.length, 0);
  assert.deepEqual(live.switches.map((s) => [s.seq, s.at]), [[1, 1_000_300], [3, 1_000_700]]);
});

test('before a frame, a state due within half a frame is applied', () => {
  const { live, clock, shown } = fakeLive();
  live.receive(state(1, 1_000_008));
  live.beforeFrame(16);                     // 8 ms ahead: applied now
  assert.deepEqual(shown, [1]);
  live.receive(state(2, 1_000_010));
  clock.now = 1_000_001;
  live.beforeFrame(16);                     // 9 ms ahead: the next frame is nearer
  assert.deepEqual(shown, [1]);
});

test('repeated or stale states are ignored; a gap asks for a sync', () => {
  const { live, clock, sent, shown } = fakeLive();
  clock.now = 2_000_000;
  live.receive(state(5, 1_999_000));
  live.receive(state(5, 1_999_000));
  live.receive(state(4, 1_999_000));
  assert.deepEqual(shown, [5]);
  assert.deepEqual(sent, []);
  live.receive(state(8, 1_999_500));
  assert.deepEqual(shown, [5, 8]);
  assert.deepEqual(sent, [{ type: 'sync' }]);
  live.receive(state(9, 1_999_600, { status: 'running', step: 8 }));
  assert.equal(live.switches.length, 2);    // same step and status: not a switch
});

test('a welcome draws its state at once and supersedes anything queued', () => {
  const { live, shown } = fakeLive();
  live.receive(state(1, 9_000_000));
  const welcome = { type: 'welcome', serverTime: 1_000_000, role: 'participant',
    class: { title: 'T', steps: [] }, state: { seq: 7, status: 'paused', step: 0, effectiveAt: 1 },
    presence: { participants: 3 } };
  const presences = [];
  live.on('presence', (p) => presences.push(p.participants));
  live.receive(JSON.stringify(welcome));
  assert.deepEqual(shown, [7]);
  assert.deepEqual(live.pending, []);
  assert.deepEqual([live.plan.title, live.role, live.lastSeq, presences], ['T', 'participant', 7, [3]]);
  live.receive(state(7, 1));                // the same state again: ignored
  assert.deepEqual(shown, [7]);
});

test('time answers become clock samples; bad JSON and unknown types are ignored', () => {
  const { live, clock } = fakeLive();
  live.receive('not json');
  live.receive(JSON.stringify({ type: 'from-the-future' }));
  const t0 = clock.local - 10;
  live.receive(JSON.stringify({ type: 'time', id: 1, t0, t1: t0 + 5_000, t2: t0 + 5_000 }));
  assert.equal(live.clock.samples.length, 1);
  assert.ok(Math.abs(live.clock.samples[0].offset - 5_000) < 20);
});

test('an unknown class is fatal: no more reconnecting', () => {
  const { live } = fakeLive();
  const errors = [];
  live.on('error', (m) => errors.push(m.code));
  live.receive(JSON.stringify({ type: 'error', code: 'unknown-class' }));
  assert.deepEqual([errors, live.fatal], [['unknown-class'], true]);
});

test('the class code comes from /c/CODE', () => {
  assert.equal(classCodeFromPath('/c/K7QP'), 'K7QP');
  assert.equal(classCodeFromPath('/c/K7QP/instructor'), 'K7QP');
  assert.equal(classCodeFromPath('/c/a%20b'), 'a b');
  assert.equal(classCodeFromPath('/'), null);
});

// --- following the plan without the server ---------------------------------------------------

const PLAN = { title: 'Timed', steps: [
  { title: 'A', durationMs: 4_000 }, { title: 'B', durationMs: 3_000 }, { title: 'C', durationMs: null },
] };
const welcome = (state) => JSON.stringify({ type: 'welcome', serverTime: 1_000_000, role: 'participant',
  class: PLAN, state: { seq: 3, status: 'running', step: 0, stepStartedAt: 999_000, stepEndsAt: 1_003_000,
    pausedAt: null, effectiveAt: 999_000, ...state } });

test('a timed step that ended with no word from the server gives way to the next, on the phone', () => {
  const { live, clock, shown } = fakeLive();
  live.receive(welcome());
  clock.now = 1_002_990;
  live.beforeFrame(16);                     // 10 ms before the end: not yet
  assert.equal(live.state.step, 0);
  clock.now = 1_002_995;
  live.beforeFrame(16);                     // within half a frame of the end: the next step
  assert.deepEqual([live.state.step, live.state.stepStartedAt, live.state.stepEndsAt, live.state.predicted],
    [1, 1_003_000, 1_006_000, true]);
  assert.equal(live.lastSeq, 3, 'a prediction is not a server state');
  clock.now = 1_010_000;                    // B ended too; C is a distance step and waits
  live.beforeFrame(16);
  live.beforeFrame(16);
  assert.deepEqual([live.state.step, live.state.stepEndsAt], [2, null]);
  assert.deepEqual(live.switches.map((s) => [s.step, s.predicted]), [[0, false], [1, true], [2, true]]);
  assert.deepEqual(shown, [3, 4, 5]);
});

test('the server state equal to the prediction changes nothing; a different one is a clear jump', () => {
  const { live, clock } = fakeLive();
  live.receive(welcome());
  clock.now = 1_003_100;
  live.follow();
  assert.equal(live.state.predicted, true);
  // The server's own state for that instant, late: the same step, so no new switch.
  live.receive(state(4, 1_003_000, { step: 1, stepStartedAt: 1_003_000, stepEndsAt: 1_006_000 }));
  assert.equal(live.state.predicted, undefined);
  assert.equal(live.switches.length, 2);
  // The instructor paused while the phone was away: that wins over the plan.
  clock.now = 1_004_000;
  live.receive(state(5, 1_003_500, { status: 'paused', step: 1, pausedAt: 1_003_500 }));
  assert.deepEqual([live.state.status, live.switches.length], ['paused', 3]);
  clock.now = 1_020_000;
  assert.equal(live.follow(), false, 'paused: nothing to follow');
});

test('a welcome after a reconnect waits for its effectiveAt like any state', () => {
  const { live, clock } = fakeLive();
  live.receive(welcome());
  clock.now = 1_002_800;                    // the server has already moved on, effective at 1_003_000
  live.receive(welcome({ seq: 4, step: 1, stepStartedAt: 1_003_000, stepEndsAt: 1_006_000, effectiveAt: 1_003_000 }));
  assert.equal(live.state.step, 0);
  clock.now = 1_003_000;
  live.flush();
  assert.deepEqual([live.state.step, live.state.predicted, live.lastSeq], [1, undefined, 4]);
});

test('a quiet link is probed, and dropped when a probe goes unanswered', () => {
  const { live, clock, sent } = fakeLive();
  const step = (ms) => { clock.local += ms; live.checkLink(); };
  live.receive(welcome());                  // at local 5_000
  step(500); step(500);
  assert.deepEqual(sent, [], 'not quiet yet');
  step(500);                                // 1.5 s of silence: a time probe
  assert.deepEqual(sent.map((m) => m.type), ['time']);
  step(500);
  assert.equal(sent.length, 1, 'one probe per quiet spell');
  live.receive(JSON.stringify({ type: 'presence', participants: 1 }));   // anything counts as an answer
  for (let i = 0; i < 5; i++) step(500);
  assert.equal(sent.length, 2);
  assert.ok(live.ws, 'answered: still connected');
  const ws = live.ws;
  for (let i = 0; i < 4; i++) step(500);    // the second probe, 2 s unanswered
  assert.equal(live.ws, null);
  assert.equal(ws.closed, true);
  assert.equal(live.connection, 'reconnecting');
  live.clearTimer('reconnect');
});

test('a late check (throttled tab, busy page) judges nothing', () => {
  const { live, clock } = fakeLive();
  live.receive(welcome());
  live.checkLink();
  clock.local += 2_000;
  live.checkLink();                         // quiet: probe sent, answer due by +2 s
  clock.local += 60_000;
  live.checkLink();                         // a minute late: messages may be queued behind it
  assert.ok(live.ws);
  clock.local += 500;
  live.checkLink();                         // on time, still nothing: dead
  assert.equal(live.ws, null);
  live.clearTimer('reconnect');
});

test('anything from the server puts the indicator back to connected', () => {
  const { live } = fakeLive();
  live.setConnection('offline');
  live.receive(JSON.stringify({ type: 'time', id: 1, t0: 1, t1: 2, t2: 2 }));
  assert.equal(live.connection, 'connected');
});

test('the participant page remembers the class and shows it, carried forward, without the server', () => {
  const store = new Map();
  globalThis.localStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, String(v)) };
  try {
    const first = fakeLive({ remember: true });
    first.live.receive(welcome());
    assert.ok(store.has('classctl.class.TEST'));
    first.clock.now = 1_003_500;
    first.live.follow();                    // predictions are not remembered
    assert.equal(JSON.parse(store.get('classctl.class.TEST')).state.step, 0);

    const { live, clock, shown } = fakeLive({ remember: true });   // the reload
    const welcomes = [];
    live.on('welcome', (m) => welcomes.push(m.restored));
    clock.now = 1_004_000;
    live.restore();
    assert.deepEqual([live.plan.title, live.state.step, live.state.stepStartedAt, welcomes], ['Timed', 1, 1_003_000, [true]]);
    assert.equal(live.lastSeq, null, 'the next server state is taken whatever its seq');
    assert.equal(shown.length, 1);

    const stale = fakeLive({ remember: true });                     // twelve hours on: forgotten
    stale.clock.now = 1_000_000 + 13 * 3600_000;
    stale.live.restore();
    assert.equal(stale.live.plan, null);
  } finally {
    delete globalThis.localStorage;
  }
});
