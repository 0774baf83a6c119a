// Issue 15's pure logic (web-static/app/gym.js and what view-model.js builds from it):
// treadmill settings, the timer's calls, the stopwatch, class time left, who is done, the
// summary, the replay label, names cut on grapheme clusters. Run: node --test Tests/web/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  treadmill, callsFor, isTimedWork, stopwatch, classTimeLeft, clockTime, timeLeftLine,
  doneLists, summaryLines, summarySteps, replayLabel, cutName,
} from '../../web-static/app/gym.js';
import { describe, participantScreen, consoleScreen, planOutline, nextLine, stepEstimates } from '../../web-static/app/view-model.js';

const T0 = 1_764_140_000_000;
const step = (i, over) => ({
  index: i, kind: 'walk', title: `Step ${i}`, durationMs: 60_000, distanceMeters: null,
  speed: null, incline: null, cues: [], round: 1, rounds: 1, isRest: false, ...over,
});
const plan = {
  title: 'Treadmill class',
  totalMs: 300_000,
  calls: { leadIn: true, halfway: true, lastTen: true },
  steps: [
    step(0, { kind: 'briefing', title: 'Welcome', durationMs: 10_000 }),
    step(1, { kind: 'treadmill', title: 'Incline walk', durationMs: 60_000, speed: '1.8mph', incline: '6%', rounds: 2 }),
    step(2, { kind: 'rest', title: 'Rest', durationMs: 30_000, isRest: true, rounds: 2 }),
    step(3, { kind: 'treadmill', title: 'Incline walk', durationMs: 60_000, speed: '3km/h', incline: '8%', round: 2, rounds: 2 }),
    step(4, { kind: 'walk', title: 'Backward walk', durationMs: null, distanceMeters: 20 }),
    step(5, { kind: 'cooldown', title: 'Cool-down', durationMs: 20_000 }),
  ],
};
const running = (index, startedAt = T0) => {
  const s = plan.steps[index];
  return {
    seq: 5, status: 'running', step: index, stepStartedAt: startedAt,
    stepEndsAt: s.durationMs == null ? null : startedAt + s.durationMs,
    pausedAt: null, effectiveAt: startedAt, classStartedAt: T0 - 1000, finishedAt: null,
  };
};
const callAt = (index, msIn, opts = { calls: plan.calls }) => {
  const state = running(index);
  return callsFor(describe(plan, state, T0 + msIn), state, opts);
};

test('treadmill settings read in the plan\'s units', () => {
  assert.deepEqual(treadmill(plan.steps[1]), { speed: '1.8 mph', incline: '6%', text: '1.8 mph · incline 6%' });
  assert.equal(treadmill(plan.steps[3]).text, '3 km/h · incline 8%');
  assert.equal(treadmill({ speed: null, incline: '5%' }).text, 'incline 5%');
  assert.equal(treadmill(plan.steps[2]), null);
  assert.equal(treadmill(null), null);
});

test('the phone shows the belt settings on a treadmill step and in "Next:" before one', () => {
  const now = T0 + 1000;
  const tm = participantScreen({ plan, state: running(1), now, connection: 'connected' });
  assert.equal(tm.treadmill, '1.8 mph · incline 6%');
  const rest = participantScreen({ plan, state: running(2), now, connection: 'connected' });
  assert.equal(rest.treadmill, '');
  assert.equal(rest.next, 'Next: Incline walk · 1:00 · 3 km/h · incline 8%');
  assert.equal(nextLine(describe(plan, running(4), now)), 'Next: Cool-down · 0:20');
});

test('the console shows them on the current step and in the plan list', () => {
  const screen = consoleScreen({ plan, state: running(3), presence: null, now: T0, role: 'instructor', connection: 'connected', hasToken: true });
  assert.equal(screen.treadmill, '3 km/h · incline 8%');
  const rows = planOutline(plan).rows;
  assert.match(rows[1].meta, /treadmill · round 1\/2 · 1\.8 mph · incline 6%/);
  assert.match(rows[1].label, /1\.8 mph · incline 6%$/);
  assert.doesNotMatch(rows[2].meta, /mph/);
});

test('lead-in: 3, 2, 1 in the last seconds before a timed work step, never before a rest or distance step', () => {
  assert.equal(callAt(0, 6_500), null);
  assert.deepEqual(callAt(0, 7_000), { key: `${T0 - 1000}|0|lead-3`, kind: 'lead-in', n: 3, say: '3' });
  assert.equal(callAt(0, 8_200).say, '2');
  assert.equal(callAt(0, 9_999).say, '1');
  assert.equal(callAt(0, 10_000), null);   // the step is over
  // Rest before round 2 (treadmill): yes. Round 1 before the rest: no lead-in.
  assert.equal(callAt(2, 28_000).kind, 'lead-in');
  assert.notEqual(callAt(1, 58_000)?.kind, 'lead-in');
  // Before a distance step or a cool-down: no lead-in.
  assert.equal(callAt(3, 58_000), null);
  assert.ok(isTimedWork(plan.steps[1]) && !isTimedWork(plan.steps[2]) && !isTimedWork(plan.steps[4]) && !isTimedWork(plan.steps[5]));
});

test('halfway and ten seconds left, each in its own second, on steps of 20 s or more', () => {
  assert.equal(callAt(1, 29_000), null);
  assert.equal(callAt(1, 30_000).kind, 'halfway');
  assert.equal(callAt(1, 30_900).kind, 'halfway');
  assert.equal(callAt(1, 31_100), null);
  assert.equal(callAt(1, 50_000).kind, 'last-ten');
  assert.equal(callAt(1, 50_000).say, '10 seconds');
  assert.equal(callAt(1, 51_100), null);
  // A 20 s cool-down: ten seconds left only (halfway would say the same instant).
  assert.equal(callAt(5, 10_000).kind, 'last-ten');
  const keys = new Set([callAt(1, 30_000).key, callAt(1, 50_000).key, callAt(3, 30_000).key]);
  assert.equal(keys.size, 3);
});

test('calls are switched off by the plan (each one) or by the phone (all)', () => {
  assert.equal(callAt(1, 30_000, { calls: { ...plan.calls, halfway: false } }), null);
  assert.equal(callAt(1, 50_000, { calls: { ...plan.calls, lastTen: false } }), null);
  assert.equal(callAt(0, 7_000, { calls: { ...plan.calls, leadIn: false } }), null);
  assert.equal(callAt(1, 30_000, { calls: plan.calls, enabled: false }), null);
  // Paused or distance: nothing.
  const paused = { ...running(1), status: 'paused', pausedAt: T0 + 30_000 };
  assert.equal(callsFor(describe(plan, paused, T0 + 30_000), paused, { calls: plan.calls }), null);
  assert.equal(callAt(4, 5_000), null);
});

test('the stopwatch of a distance step counts from the step\'s start, and stops with a pause', () => {
  assert.equal(stopwatch(describe(plan, running(4), T0 + 65_400)), '1:05');
  assert.equal(stopwatch(describe(plan, running(1), T0 + 5_000)), '');
  const paused = { ...running(4), status: 'paused', pausedAt: T0 + 12_000 };
  assert.equal(stopwatch(describe(plan, paused, T0 + 99_000)), '0:12');
});

test('class time left and when it ends', () => {
  const est = stepEstimates(plan);
  const total = est.reduce((a, b) => a + b, 0);
  assert.equal(classTimeLeft(describe(plan, null, T0), est), total);
  const v = describe(plan, running(1), T0 + 20_000);
  assert.equal(classTimeLeft(v, est), 40_000 + est.slice(2).reduce((a, b) => a + b, 0));
  const d = new Date(2026, 0, 1, 14, 0, 0).getTime();
  assert.equal(clockTime(d, 32 * 60_000), '14:32');
  assert.match(timeLeftLine(v, est, T0), /^Class time left \d+:\d\d · ends about \d\d:\d\d$/);
  assert.equal(timeLeftLine(describe(plan, { status: 'finished', finishedAt: T0 }, T0), est, T0), '');
});

test('who is done and who is still out: names, and counts for phones without one', () => {
  const presence = { participants: 5, done: 3, step: 4, names: ['Ana', 'Bo', 'Cy'], doneNames: ['Ana'] };
  assert.deepEqual(doneLists(presence, 4), {
    done: 'Ana, 2 without a name', out: 'Bo, Cy', doneCount: 3, outCount: 2,
  });
  assert.deepEqual(doneLists({ participants: 1, done: 0, step: 4, names: [], doneNames: [] }, 4),
    { done: 'nobody', out: '1 without a name', doneCount: 0, outCount: 1 });
  assert.equal(doneLists(presence, 3), null);   // presence of another step
});

test('the summary: steps, time, distance, and this phone\'s own taps', () => {
  const summary = { type: 'summary', stepsRun: 5, totalMs: 1_512_000, meters: 150, steps: [] };
  assert.deepEqual(summaryLines(summary, 2), ['5 steps done', '25:12 total time', '150 m of distance steps', 'Your done taps: 2']);
  assert.deepEqual(summaryLines({ stepsRun: 1, totalMs: 61_000, meters: 0 }), ['1 step done', '1:01 total time']);
  assert.deepEqual(summaryLines(null, 1), []);
  assert.deepEqual(summarySteps({ steps: [
    { index: 1, title: 'Backward walk', ranMs: 42_000, distanceMeters: 20 },
    { index: 2, title: 'Incline walk', ranMs: 90_000, distanceMeters: null },
  ] }), ['Backward walk · 20 m in 0:42', 'Incline walk · 1:30']);
  assert.deepEqual(summarySteps(null), []);
});

test('joining after the end says the class has ended; a phone that was there is thanked', () => {
  const finished = { seq: 9, status: 'finished', step: null, classStartedAt: T0, finishedAt: T0 + 1000 };
  const late = participantScreen({ plan, state: finished, now: T0 + 5000, connection: 'connected', sawClass: false });
  assert.equal(late.stepTitle, 'This class has ended');
  assert.equal(late.finishedHeading, 'This class has ended');
  const there = participantScreen({ plan, state: finished, now: T0 + 5000, connection: 'connected' });
  assert.equal(there.finishedHeading, 'Thank you!');
});

test('a replay is labelled, with its speed, and its console has no controls', () => {
  assert.equal(replayLabel(plan), '');
  assert.equal(replayLabel({ replay: 1 }), 'Replay');
  assert.equal(replayLabel({ replay: 2 }), 'Replay at 2×');
  assert.equal(replayLabel({ replay: 0.5 }), 'Replay at 0.5×');
  const replay = { ...plan, replay: 2 };
  const screen = consoleScreen({ plan: replay, state: running(1), presence: null, now: T0, role: 'instructor', connection: 'connected', hasToken: true });
  assert.equal(screen.replay, 'Replay at 2×');
  assert.ok(screen.controls.primary.disabled && screen.controls.next && screen.controls.end);
  assert.ok(screen.rows.every((r) => r.disabled));
  assert.match(screen.note, /^Replay at 2×: .*no controls/);
  assert.equal(participantScreen({ plan: replay, state: running(1), now: T0, connection: 'connected' }).replay, 'Replay at 2×');
});

test('the console says lastingly why it cannot drive the class', () => {
  const base = { plan, state: running(1), presence: null, now: T0, connection: 'connected' };
  const refused = consoleScreen({ ...base, role: 'watcher', hasToken: false, tokenRefused: true });
  assert.match(refused.note, /refused/);
  assert.match(refused.note, /instructor link that classctl start printed/);
  assert.ok(refused.controls.primary.disabled);
  assert.match(consoleScreen({ ...base, role: 'watcher', hasToken: false }).note, /no instructor token/);
  assert.equal(consoleScreen({ ...base, role: 'instructor', hasToken: true }).note, '');
});

test('names are cut at 40 characters as people count them, never inside an emoji', () => {
  const family = '👨‍👩‍👧';
  const flag = '🇯🇵';
  assert.equal(cutName(`${'a'.repeat(39)}${family}xyz`), `${'a'.repeat(39)}${family}`);
  assert.equal(cutName(`${'a'.repeat(38)}${flag}${family}${flag}`), `${'a'.repeat(38)}${flag}${family}`);
  assert.equal(cutName('  Ana  '), 'Ana');
  assert.equal(cutName('e\u0301'.repeat(50)).length, 80);   // 40 characters of e + combining accent
  assert.equal(cutName(''), '');
});
