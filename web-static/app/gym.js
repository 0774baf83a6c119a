// What a gym timer adds, as pure functions (no DOM, no globals, no clock of its own):
// treadmill settings, the timer's calls (lead-in, halfway, ten seconds left), the stopwatch of
// a distance step, the class time left, who is done and who is still out, the summary, the
// replay label, and names cut on grapheme clusters. Tests/web/class-experience.test.mjs.
import { formatClock, formatDistance } from './format.js';

// --- treadmill -------------------------------------------------------------------------

/** A treadmill step's settings in the plan's units ("1.8mph" reads "1.8 mph", "3km/h" reads
 *  "3 km/h", incline "6%"), or null. */
export function treadmill(step) {
  if (!step || (step.speed == null && step.incline == null)) return null;
  const parts = [];
  const speed = step.speed == null ? null : String(step.speed).replace(/^(-?[\d.]+)\s*(?=\D)/, '$1 ');
  if (speed != null) parts.push(speed);
  if (step.incline != null) parts.push(`incline ${step.incline}`);
  return { speed, incline: step.incline ?? null, text: parts.join(' · ') };
}

// --- timer calls -------------------------------------------------------------------------

const NOT_WORK = new Set(['briefing', 'rest', 'cooldown']);
/** A timed step people work in (not a briefing, rest or cool-down): it gets the lead-in. */
export const isTimedWork = (step) => Boolean(step) && step.durationMs != null && !step.isRest && !NOT_WORK.has(step.kind);

/** Halfway and ten-seconds calls only on steps at least this long. */
export const CALLS_MIN_MS = 20_000;

/** The timer call due at server time `now`, or null: `{key, kind, say, n}` with `kind` one of
 *  `lead-in` (3, 2, 1 in the last three seconds before a timed work step), `halfway`, `last-ten`.
 *  Each call owns a one-second window and a `key` unique to the class run, step and call: the
 *  page signals a key once. `calls`: the plan's switches (`class.calls`, each on unless false);
 *  `enabled`: this phone's own switch. `view` is `describe(plan, state, now)`. */
export function callsFor(view, state, { calls = {}, enabled = true } = {}) {
  if (!enabled || view.status !== 'running' || !view.step || view.remainingMs == null) return null;
  const remaining = view.remainingMs;
  if (remaining <= 0) return null;
  const whole = Math.ceil(remaining / 1000);
  const run = `${state?.classStartedAt}|${view.index}`;
  if (calls.leadIn !== false && whole <= 3 && isTimedWork(view.next)) {
    return { key: `${run}|lead-${whole}`, kind: 'lead-in', n: whole, say: String(whole) };
  }
  const length = state?.stepEndsAt != null && state?.stepStartedAt != null
    ? state.stepEndsAt - state.stepStartedAt : view.step.durationMs ?? 0;
  if (length < CALLS_MIN_MS) return null;
  if (calls.lastTen !== false && remaining <= 10_000 && remaining > 9_000) {
    return { key: `${run}|ten`, kind: 'last-ten', n: 10, say: '10 seconds' };
  }
  const half = length / 2;
  // Halfway, unless it falls in the last ten seconds' call (a 20 s step: both at 0:10).
  if (calls.halfway !== false && half > 11_000 && remaining <= half && remaining > half - 1000) {
    return { key: `${run}|half`, kind: 'halfway', n: null, say: 'Halfway' };
  }
  return null;
}

// --- distance steps ----------------------------------------------------------------------

/** The stopwatch on a distance step in class: time since the step began ("1:05"), or ''. */
export function stopwatch(view) {
  const inClass = view.status === 'running' || view.status === 'paused';
  if (!inClass || !view.step || view.remainingMs != null) return '';
  return formatClock(Math.floor(view.elapsedMs / 1000) * 1000);
}

// --- the console -------------------------------------------------------------------------

/** Time the class still needs, ms: what is left of this step (its estimate on a distance
 *  step) and the estimates of the steps after it. `estimates`: `stepEstimates(plan)`. */
export function classTimeLeft(view, estimates) {
  const sum = (list) => list.reduce((a, b) => a + b, 0);
  if (view.status === 'finished') return 0;
  if (view.status === 'idle' || view.index === null) return sum(estimates);
  const here = view.remainingMs ?? Math.max(0, (estimates[view.index] ?? 0) - view.elapsedMs);
  return here + sum(estimates.slice(view.index + 1));
}

/** "14:32": the local wall-clock time `ms` after `now` (both epoch ms), 24-hour. */
export function clockTime(now, ms) {
  const d = new Date(now + ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** The console's "class time left" line. */
export function timeLeftLine(view, estimates, now) {
  if (view.status === 'finished') return '';
  const left = classTimeLeft(view, estimates);
  if (view.status === 'idle') return `Class length about ${formatClock(left)}`;
  return `Class time left ${formatClock(left)} · ends about ${clockTime(now, left)}`;
}

/** Who is done on the current step and who is still out: names from presence (`names`,
 *  `doneNames`, instructors only), counts for phones without a name. */
export function doneLists(presence, index) {
  if (!presence || presence.step !== index || index === null) return null;
  const names = presence.names ?? [];
  const doneNames = presence.doneNames ?? [];
  const done = presence.done ?? 0;
  const unnamed = Math.max(0, (presence.participants ?? 0) - names.length);
  const unnamedDone = Math.min(unnamed, Math.max(0, done - doneNames.length));
  const unnamedOut = unnamed - unnamedDone;
  const doneSet = new Set(doneNames);
  const outNames = names.filter((n) => !doneSet.has(n));
  const list = (ns, count) => {
    const parts = [...ns];
    if (count > 0) parts.push(`${count} without a name`);
    return parts.length ? parts.join(', ') : 'nobody';
  };
  return {
    done: list(doneNames, unnamedDone),
    out: list(outNames, unnamedOut),
    doneCount: doneNames.length + unnamedDone,
    outCount: outNames.length + unnamedOut,
  };
}

// --- summary and replay ------------------------------------------------------------------

/** The post-class summary's lines. `taps`: this phone's own done taps (null on the console). */
export function summaryLines(summary, taps = null) {
  if (!summary) return [];
  const lines = [
    `${summary.stepsRun} ${summary.stepsRun === 1 ? 'step' : 'steps'} done`,
    `${formatClock(summary.totalMs ?? 0)} total time`,
  ];
  if (summary.meters > 0) lines.push(`${formatDistance(Math.round(summary.meters))} of distance steps`);
  if (taps !== null) lines.push(`Your done taps: ${taps}`);
  return lines;
}

/** The steps that ran, one line each: "Backward walk · 0:42" ("20 m in 0:42" for a distance). */
export function summarySteps(summary) {
  return (summary?.steps ?? []).map((st) => `${st.title} · ${st.distanceMeters != null
    ? `${formatDistance(Math.round(st.distanceMeters))} in ${formatClock(st.ranMs ?? 0)}` : formatClock(st.ranMs ?? 0)}`);
}

/** "Replay", or "Replay at 2×" when it runs faster or slower than recorded; '' when live. */
export function replayLabel(plan) {
  const speed = plan?.replay;
  if (speed == null) return '';
  return speed === 1 ? 'Replay' : `Replay at ${Number(speed.toFixed(2))}×`;
}

// --- names -----------------------------------------------------------------------------

export const MAX_NAME = 40;

/** `text` trimmed and cut to `max` characters as people count them (grapheme clusters: a flag
 *  or a family emoji is one), never inside one. */
export function cutName(text, max = MAX_NAME) {
  const trimmed = String(text ?? '').trim();
  const parts = typeof Intl !== 'undefined' && Intl.Segmenter
    ? Array.from(new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(trimmed), (s) => s.segment)
    : Array.from(trimmed);
  return parts.slice(0, max).join('').trim();
}
