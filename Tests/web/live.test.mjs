// State scheduling and message handling of web-static/app/live.js, without a socket or a browser:
// the few browser globals its constructor touches are stubbed, and server time is set by hand.
// Run: node --test Tests/web/
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Live, classCodeFromPath } from '../../web-static/app/live.js';

globalThis.addEventListener ??= () => {};
globalThis.document ??= { addEventListener() {}, visibilityState: 'visible' };
globalThis.WebSocket ??= { OPEN: 1 };

const made = [];
afterEach(() => { for (const live of made.splice(0)) for (const name of [...live.timers.keys()]) live.clearTimer(name); });

/** A Live whose server time is `clock.now` and whose socket records what is sent. */
function fakeLive() {
  const live = new Live({ code: 'TEST' });
  made.push(live);
  const clock = { now: 1_000_000 };
  live.serverNow = () => clock.now;
  const sent = [];
  live.ws = { readyState: 1, send: (text) => sent.push(JSON.parse(text)) };
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
  const { live } = fakeLive();
  live.receive('not json');
  live.receive(JSON.stringify({ type: 'from-the-future' }));
  const t0 = performance.timeOrigin + performance.now() - 10;
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
