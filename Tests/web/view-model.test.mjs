// The pure view model of web-static/app/view-model.js: what each page shows for a plan, a state
// and a server time. Run: node --test Tests/web/
import { describe as suite, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  describe, currentCue, stepEstimates, position, bigNumber, nextLine, connectionLabel, predictState,
  followingPlan,
  participantScreen, signalsFor, signalMemory, doneKey, planOutline, consoleScreen,
} from '../../web-static/app/view-model.js';

// The welcome.class the server sends for (walk 60 s; jog 25 m × 2 with 30 s rest; cool-down 90 s).
const step = (index, kind, title, extra) => ({
  index, kind, title, round: 1, rounds: 1, durationMs: null, distanceMeters: null,
  speed: null, incline: null, isRest: kind === 'rest', cues: [], ...extra,
});
const PLAN = {
  code: 'VM', title: 'Intervals', totalMs: 180_000, totalMeters: 50, safety: ['Clear space behind you'],
  steps: [
    step(0, 'walk', 'Backward walk', { durationMs: 60_000,
      cues: [{ atMs: 0, text: 'Short steps' }, { atMs: 20_000, text: 'Stand tall' }] }),
    step(1, 'jog', 'Backward jog', { round: 1, rounds: 2, distanceMeters: 25 }),
    step(2, 'rest', 'Rest', { round: 1, rounds: 2, durationMs: 30_000 }),
    step(3, 'jog', 'Backward jog', { round: 2, rounds: 2, distanceMeters: 25 }),
    step(4, 'cooldown', 'Cool-down', { durationMs: 90_000 }),
  ],
};

const T = 1_764_140_000_000; // server time of the start
const IDLE = { seq: 0, status: 'idle', step: null, stepStartedAt: null, stepEndsAt: null, pausedAt: null,
  classStartedAt: null, finishedAt: null };
const running = (index, startedAt, endsAt = null, extra = {}) => ({
  ...IDLE, seq: 1, status: 'running', step: index, stepStartedAt: startedAt, stepEndsAt: endsAt,
  classStartedAt: T, ...extra });

suite('describe: where the class is', () => {
  test('the countdown runs, freezes while paused, and carries on after resume', () => {
    const walk = running(0, T, T + 60_000);
    assert.equal(describe(PLAN, walk, T + 10_000).remainingMs, 50_000);
    assert.equal(describe(PLAN, walk, T + 10_000).elapsedMs, 10_000);
    // Paused at +15 s: the same 45 s left whatever the time now.
    const paused = { ...walk, status: 'paused', pausedAt: T + 15_000 };
    for (const now of [T + 15_000, T + 40_000, T + 500_000]) {
      const v = describe(PLAN, paused, now);
      assert.equal(v.remainingMs, 45_000);
      assert.equal(v.elapsedMs, 15_000);
    }
    // Resumed at +40 s: the engine shifts start and end by the 25 s paused.
    const resumed = running(0, T + 25_000, T + 85_000);
    assert.equal(describe(PLAN, resumed, T + 40_000).remainingMs, 45_000);
    assert.equal(describe(PLAN, resumed, T + 50_000).remainingMs, 35_000);
    assert.equal(bigNumber(describe(PLAN, resumed, T + 50_000)).text, '0:35');
    assert.equal(describe(PLAN, resumed, T + 200_000).remainingMs, 0); // never negative
  });

  test('a distance step has no countdown: the big number is its distance', () => {
    const v = describe(PLAN, running(1, T + 60_000), T + 75_000);
    assert.equal(v.remainingMs, null);
    assert.equal(v.elapsedMs, 15_000);
    assert.deepEqual(bigNumber(v), { text: '25 m', distance: true });
    assert.deepEqual(bigNumber(describe(PLAN, running(0, T, T + 60_000), T + 1)), { text: '1:00', distance: false });
  });

  test('the cue due now is the latest one whose time has passed', () => {
    const walk = running(0, T, T + 60_000);
    assert.equal(describe(PLAN, walk, T).cue.text, 'Short steps');
    assert.equal(describe(PLAN, walk, T + 19_999).cue.text, 'Short steps');
    assert.equal(describe(PLAN, walk, T + 20_000).cue.text, 'Stand tall');
    assert.equal(describe(PLAN, running(4, T, T + 90_000), T).cue, null);
    assert.equal(currentCue([{ atMs: 5_000, text: 'b' }, { atMs: 0, text: 'a' }], 6_000).text, 'b'); // any order
    assert.equal(currentCue([{ atMs: 5_000, text: 'b' }], 4_000), null);
  });

  test('round N of M on repeated steps and on the rest between rounds, else step N of M', () => {
    const at = (i) => position(describe(PLAN, running(i, T), T));
    assert.deepEqual([0, 1, 2, 3, 4].map(at),
      ['Step 1 of 5', 'Round 1 of 2', 'Round 1 of 2', 'Round 2 of 2', 'Step 5 of 5']);
    assert.equal(position(describe(PLAN, IDLE, T)), '');
  });

  test('the next step: the first before the start, none once finished or on the last', () => {
    assert.equal(describe(PLAN, IDLE, T).next.title, 'Backward walk');
    assert.equal(describe(PLAN, running(1, T), T).next.title, 'Rest');
    assert.equal(describe(PLAN, running(4, T, T + 90_000), T).next, null);
    assert.equal(describe(PLAN, { ...IDLE, status: 'finished', finishedAt: T }, T).next, null);
    assert.equal(describe(null, null, T).next, null);
  });

  test('idle and finished states, and no plan at all', () => {
    const idle = describe(PLAN, IDLE, T);
    assert.deepEqual([idle.status, idle.index, idle.step, idle.remainingMs, idle.progress], ['idle', null, null, null, 0]);
    const done = describe(PLAN, { ...IDLE, status: 'finished', step: null, finishedAt: T + 1_000 }, T + 99_000);
    assert.deepEqual([done.status, done.step, done.cue, done.progress], ['finished', null, null, 1]);
    assert.equal(bigNumber(done), null);
    const none = describe(null, null, T);
    assert.deepEqual([none.status, none.count, none.step], ['idle', 0, null]);
  });

  test('progress: distance steps are estimated from the plan\'s spare time; an extended step does not overrun', () => {
    // totalMs equals the timed steps (180 s), so no spare time: 1 m/s, 25 s per jog.
    assert.deepEqual(stepEstimates(PLAN), [60_000, 25_000, 30_000, 25_000, 90_000]);
    assert.deepEqual(stepEstimates({ ...PLAN, totalMs: 280_000 }), [60_000, 50_000, 30_000, 50_000, 90_000]);
    assert.equal(describe(PLAN, running(0, T, T + 60_000), T + 30_000).progress, 30_000 / 230_000);
    // Extended by 60 s: 60 s into a 120 s slot is half of the step's 60 s estimate.
    assert.equal(describe(PLAN, running(0, T, T + 120_000), T + 60_000).progress, 30_000 / 230_000);
    // 10 s into the first jog's 25 s estimate, after the 60 s walk.
    assert.equal(describe(PLAN, running(1, T + 60_000), T + 70_000).progress, 70_000 / 230_000);
  });
});

suite('shared pieces', () => {
  test('the "Next:" line', () => {
    assert.equal(nextLine(describe(PLAN, IDLE, T)), 'First: Backward walk · 1:00');
    assert.equal(nextLine(describe(PLAN, running(0, T, T + 60_000), T)), 'Next: Backward jog · 25 m');
    assert.equal(nextLine(describe(PLAN, running(1, T), T)), 'Next: Rest · 0:30');
    assert.equal(nextLine(describe(PLAN, running(4, T, T + 90_000), T), 'Last step'), 'Last step');
    assert.equal(nextLine(describe(PLAN, running(4, T, T + 90_000), T)), '');
    assert.equal(nextLine(describe(PLAN, { ...IDLE, status: 'finished' }, T), 'Last step'), '');
  });

  test('connection labels', () => {
    assert.equal(connectionLabel('connected'), 'Connected');
    assert.equal(connectionLabel('reconnecting'), 'Reconnecting…');
    assert.equal(connectionLabel('closed'), 'Disconnected');
    assert.equal(connectionLabel('something-new'), 'something-new');
    // A phone keeping a running class going says so, calmly; connected or closed, it does not.
    assert.equal(connectionLabel('reconnecting', true), 'Offline — following the plan');
    assert.equal(connectionLabel('offline', true), 'Offline — following the plan');
    assert.equal(connectionLabel('connected', true), 'Connected');
    assert.equal(connectionLabel('closed', true), 'Disconnected');
    assert.equal(followingPlan(PLAN, running(0, T, T + 60_000)), true);
    assert.equal(followingPlan(PLAN, { ...running(0, T, T + 60_000), status: 'paused', pausedAt: T }), false);
    assert.equal(followingPlan(null, running(0, T, T + 60_000)), false);
  });
});

suite('predictState: the plan followed without the server', () => {
  // Three timed steps, a distance step, and a timed last step.
  const TIMED = { ...PLAN, steps: [
    step(0, 'walk', 'Walk', { durationMs: 10_000 }),
    step(1, 'jog', 'Jog', { durationMs: 20_000 }),
    step(2, 'walk', 'Walk again', { durationMs: 5_000 }),
    step(3, 'jog', 'Jog 25 m', { distanceMeters: 25 }),
    step(4, 'cooldown', 'Cool-down', { durationMs: 30_000 }),
  ] };
  const start = { ...running(0, T, T + 10_000), seq: 4, effectiveAt: T, serverTime: T - 300 };

  test('nothing ended: the very same state', () => {
    assert.equal(predictState(TIMED, start, T + 9_999), start);
  });

  test('each timed step ends exactly at its end instant, as the server ticks', () => {
    const at = predictState(TIMED, start, T + 10_000);
    assert.deepEqual(at, { ...start, seq: 5, step: 1, stepStartedAt: T + 10_000, stepEndsAt: T + 30_000,
      effectiveAt: T + 10_000, predicted: true });
    assert.equal(start.step, 0, 'the given state is not changed');
    // Across two more boundaries in one go: starts chain from the ends, not from `now`.
    const later = predictState(TIMED, start, T + 34_000);
    assert.deepEqual([later.step, later.stepStartedAt, later.stepEndsAt, later.seq], [2, T + 30_000, T + 35_000, 6]);
  });

  test('a distance step waits, however long', () => {
    const s = predictState(TIMED, start, T + 3_600_000);
    assert.deepEqual([s.status, s.step, s.stepStartedAt, s.stepEndsAt, s.seq], ['running', 3, T + 35_000, null, 7]);
    assert.equal(predictState(TIMED, s, T + 7_200_000), s);
  });

  test('an extended step ends at its new end', () => {
    const extended = { ...start, stepEndsAt: T + 40_000 };
    assert.equal(predictState(TIMED, extended, T + 39_000), extended);
    assert.equal(predictState(TIMED, extended, T + 40_000).stepStartedAt, T + 40_000);
  });

  test('paused, idle and finished states do not move', () => {
    const paused = { ...start, status: 'paused', pausedAt: T + 5_000 };
    assert.equal(predictState(TIMED, paused, T + 60_000), paused);
    assert.equal(predictState(TIMED, IDLE, T + 60_000), IDLE);
    const finished = { ...IDLE, status: 'finished', finishedAt: T, classStartedAt: T - 1 };
    assert.equal(predictState(TIMED, finished, T + 60_000), finished);
    assert.equal(predictState(TIMED, null, T), null);
  });

  test('the last timed step ends the class, as the server would', () => {
    const last = { ...running(4, T, T + 30_000), seq: 9 };
    const s = predictState(TIMED, last, T + 45_000);
    assert.deepEqual(s, { ...last, seq: 10, status: 'finished', step: null, stepStartedAt: null, stepEndsAt: null,
      pausedAt: null, finishedAt: T + 30_000, effectiveAt: T + 30_000, predicted: true });
    assert.equal(predictState(TIMED, s, T + 90_000), s);
    // A plan that does not know the step (or no plan): the class ends rather than loops.
    assert.equal(predictState(null, start, T + 10_000).status, 'finished');
  });
});

suite('participant screen', () => {
  const screen = (state, now, extra = {}) => participantScreen({ plan: PLAN, state, now, connection: 'connected', ...extra });

  test('before the plan arrives: the connection state, honestly', () => {
    assert.equal(participantScreen({ plan: null, state: null, now: T, connection: 'connected' }).stepTitle, 'Loading…');
    const s = participantScreen({ plan: null, state: null, now: T, connection: 'reconnecting' });
    assert.equal(s.stepTitle, 'Reconnecting…');
    assert.equal(s.classTitle, 'Backward running');
    assert.equal(s.documentTitle, 'Backward running class');
  });

  test('idle: waiting, step count, safety and name form, first step', () => {
    const s = screen(IDLE, T);
    assert.equal(s.classTitle, 'Intervals');
    assert.equal(s.position, '5 steps');
    assert.equal(s.stepTitle, 'Waiting for the instructor to start');
    assert.equal(s.next, 'First: Backward walk · 1:00');
    assert.ok(s.safety && s.nameForm && !s.finished && !s.paused);
    assert.deepEqual([s.big, s.done, s.progress], [null, null, 0]);
  });

  test('running a timed step, then paused', () => {
    const walk = running(0, T, T + 60_000);
    const s = screen(walk, T + 21_000);
    assert.deepEqual([s.status, s.index, s.position, s.stepTitle, s.cue], ['running', 0, 'Step 1 of 5', 'Backward walk', 'Stand tall']);
    assert.deepEqual(s.big, { text: '0:39', distance: false });
    assert.equal(s.next, 'Next: Backward jog · 25 m');
    assert.ok(!s.safety && !s.nameForm && !s.paused && s.done === null);
    assert.equal(s.progress, 9.1); // 21 of 230 s, one decimal
    const p = screen({ ...walk, status: 'paused', pausedAt: T + 21_000 }, T + 50_000);
    assert.ok(p.paused);
    assert.equal(p.big.text, '0:39');
  });

  test('a distance step offers Done until this phone tapped it', () => {
    const jog = running(3, T + 120_000);
    const s = screen(jog, T + 130_000);
    assert.deepEqual([s.position, s.big.text, s.next], ['Round 2 of 2', '25 m', 'Next: Cool-down · 1:30']);
    assert.deepEqual(s.done, { tapped: false, label: 'Done' });
    assert.deepEqual(screen(jog, T + 130_000, { tapped: true }).done, { tapped: true, label: '✓ Done, nice work' });
    assert.equal(doneKey(jog), `${T}|3`);
  });

  test('the last step says so; finished shows the thanks', () => {
    assert.equal(screen(running(4, T, T + 90_000), T).next, 'Last step');
    const f = screen({ ...IDLE, status: 'finished', step: null, finishedAt: T }, T + 5_000);
    assert.deepEqual([f.stepTitle, f.position, f.cue, f.next, f.big, f.progress], ['Class finished', '', '', '', null, 100]);
    assert.ok(f.finished && !f.safety && !f.nameForm);
  });
});

suite('participant signals', () => {
  const run = (frames) => {
    let memory = signalMemory;
    return frames.map(([state, now, hasPlan = true]) => {
      const due = signalsFor(memory, describe(PLAN, state, now), hasPlan);
      memory = due.memory;
      return [due.change, due.cue, due.pip];
    });
  };
  const walk = running(0, T, T + 60_000);

  test('nothing on the first frame, then the new step with its cue, then a new cue', () => {
    assert.deepEqual(run([
      [IDLE, T - 1_000],
      [walk, T],
      [walk, T + 10_000],
      [walk, T + 20_000],
      [walk, T + 21_000],
    ]), [
      [null, null, false],
      ['Backward walk. Short steps', null, false],
      [null, null, false],
      [null, 'Stand tall', false],
      [null, null, false],
    ]);
  });

  test('a pip as each of the last three seconds starts, not at zero', () => {
    // Time left is rounded up, so "3" starts at exactly 3.000 s left.
    const pips = run([56_500, 57_000, 57_500, 58_001, 59_001, 60_000].map((ms) => [walk, T + ms]))
      .map(([, , pip]) => pip);
    assert.deepEqual(pips, [false, true, false, true, true, false]);
  });

  test('pause and finish are spoken; nothing before the plan is known', () => {
    const paused = { ...walk, status: 'paused', pausedAt: T + 5_000 };
    const finished = { ...IDLE, status: 'finished', finishedAt: T + 9_000 };
    assert.deepEqual(run([[walk, T + 4_000], [paused, T + 6_000], [finished, T + 9_000]]).map(([c]) => c),
      [null, 'Class paused', 'Class finished. Thank you! Now cool down.']);
    // Without a plan the page remembers nothing, so the first frame with one is not a "change".
    assert.deepEqual(run([[IDLE, T, false], [walk, T + 1_000, false], [walk, T + 2_000]]).map(([c]) => c),
      [null, null, null]);
  });
});

suite('instructor console', () => {
  const screen = (state, extra = {}) => consoleScreen({
    plan: PLAN, state, presence: null, now: T + 10_000, role: 'instructor', connection: 'connected',
    hasToken: true, ...extra });

  test('the plan outline', () => {
    const o = planOutline(PLAN);
    assert.equal(o.total, '· 5 steps · about 4 min'); // 230 s
    assert.deepEqual(o.rows[2], { num: '3', title: 'Rest', meta: 'rest · round 1/2', length: '0:30',
      label: 'Jump to step 3: Rest, 0:30' });
    assert.equal(o.rows[0].meta, 'walk');
  });

  test('idle: Start is the only control', () => {
    const s = screen(IDLE);
    assert.deepEqual([s.position, s.stepTitle, s.next], ['Not started', 'Ready to start', 'First: Backward walk · 1:00']);
    assert.deepEqual(s.controls, { primary: { label: '▶ Start', command: 'start', disabled: false },
      previous: true, next: true, extend: true, end: true });
    assert.ok(s.rows.every((r) => !r.current && !r.past && r.left === '' && !r.disabled));
  });

  test('running: the current row has its time left, earlier rows are past', () => {
    const s = screen(running(2, T, T + 30_000), { presence: { participants: 4, done: 2, step: 2 } });
    assert.deepEqual([s.position, s.stepTitle, s.cue, s.big.text], ['Round 1 of 2', 'Rest', '', '0:20']);
    assert.deepEqual(s.rows.map((r) => [r.current, r.past, r.left]),
      [[false, true, ''], [false, true, ''], [true, false, '0:20 left'], [false, false, ''], [false, false, '']]);
    assert.deepEqual(s.controls.primary, { label: '‖ Pause', command: 'pause', disabled: false });
    assert.deepEqual([s.controls.previous, s.controls.next, s.controls.extend, s.controls.end], [false, false, false, false]);
    assert.deepEqual([s.participants, s.done], ['4', '2']);
    // `done` counts taps on the current step only.
    assert.equal(screen(running(3, T), { presence: { participants: 4, done: 2, step: 2 } }).done, '0');
  });

  test('first step and distance steps: no Previous, no +30 s; cue shown with its label', () => {
    const first = screen(running(0, T, T + 60_000));
    assert.equal(first.controls.previous, true);
    assert.equal(first.cue, 'Cue: Short steps');
    const jog = screen(running(1, T));
    assert.equal(jog.controls.extend, true);
    assert.equal(jog.rows[1].left, 'now');
    assert.equal(jog.big.text, '25 m');
  });

  test('paused, finished, watching without a token, disconnected', () => {
    const p = screen({ ...running(0, T, T + 60_000), status: 'paused', pausedAt: T + 5_000 });
    assert.deepEqual([p.controls.primary.label, p.controls.primary.command, p.paused], ['▶ Resume', 'resume', true]);
    const f = screen({ ...IDLE, status: 'finished', finishedAt: T });
    assert.deepEqual([f.position, f.stepTitle, f.controls.primary.disabled, f.controls.primary.command],
      ['Finished', 'Class finished', true, null]);
    assert.ok(f.rows.every((r) => r.past));
    const watcher = screen(running(0, T, T + 60_000), { role: 'participant', hasToken: false });
    assert.ok(watcher.noToken && watcher.controls.primary.disabled && watcher.controls.next && watcher.rows[0].disabled);
    assert.equal(watcher.role, 'participant');
    const offline = screen(IDLE, { connection: 'reconnecting' });
    assert.ok(offline.controls.primary.disabled && !offline.noToken);
  });

  test('before the plan arrives', () => {
    const s = consoleScreen({ plan: null, state: null, presence: null, now: T, role: null, connection: 'connecting', hasToken: true });
    assert.deepEqual([s.classTitle, s.position, s.stepTitle, s.cue, s.next, s.role], ['Instructor console', '', 'Connecting…', '', '', '']);
    assert.deepEqual(s.rows, []);
  });
});

// --- "I need to stop" ---------------------------------------------------------------------
import { stopPanel, alertLines } from '../../web-static/app/view-model.js';

test('the stop panel: a button in class, a question, then what to do', () => {
  const running = { status: 'running' };
  assert.equal(stopPanel({ status: 'idle' }).mode, 'hidden');
  assert.equal(stopPanel({ status: 'finished' }).mode, 'hidden');
  assert.equal(stopPanel(running).mode, 'button');
  assert.equal(stopPanel({ status: 'paused' }).mode, 'button');
  assert.equal(stopPanel(running, { confirming: true }).mode, 'confirm');
  const sent = stopPanel(running, { pending: true });
  assert.equal(sent.mode, 'sent');
  assert.match(sent.text, /being told/);
  assert.match(stopPanel(running, { on: true, acknowledged: true }).text, /has seen it/);
  // Still shown after the class ends: a participant who stopped is not forgotten.
  assert.equal(stopPanel({ status: 'finished' }, { on: true }).mode, 'sent');
});

test('alert lines name the participant, the step and how long ago', () => {
  const plan = { steps: [{ title: 'Walk' }, { title: 'Backward jog' }] };
  const lines = alertLines([
    { client: 4, name: 'Ana', since: 10_000, step: 1, online: true },
    { client: 9, name: null, since: 0, step: null, online: false },
  ], plan, 130_000);
  assert.equal(lines[0].text, 'Ana needs to stop');
  assert.equal(lines[0].detail, 'during “Backward jog” · 2 min ago');
  assert.equal(lines[1].text, 'A participant needs to stop');
  assert.equal(lines[1].detail, '2 min ago · phone offline');
  assert.deepEqual(alertLines(undefined, plan, 0), []);
});
