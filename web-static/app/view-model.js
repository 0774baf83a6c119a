// What the screen shows, as pure functions of (plan, state, presence, server time, ...):
// no DOM, no globals, no clock of its own. Same inputs, same answer; Tests/web runs them in Node.
// The pages hand the results to widgets.js, which only writes them into the DOM.
import { formatBig, formatClock, formatLength, wholeMinutes } from './format.js';
import { treadmill, stopwatch, replayLabel, timeLeftLine } from './gym.js';

/** Where the class is at server time `now`. Frozen at pausedAt while paused, at finishedAt
 *  once finished. `remainingMs` is null on a distance step (it has no end time). */
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

const inClass = (view) => view.status === 'running' || view.status === 'paused';

/** The state the server is in at `now` if nobody has touched the class since `state`, as
 *  ClassEngine.tick gets there: each timed step that ended by `now` gives way to the next, which
 *  starts exactly at that end instant; a distance step (no `stepEndsAt`) waits for the instructor;
 *  the end of the last step finishes the class. Idle, paused and finished states never move.
 *  Returns `state` itself when no step ended, otherwise a new state marked `predicted: true`
 *  (its `seq` is what the server's would be; a phone never takes it for the server's). */
export function predictState(plan, state, now) {
  const steps = plan?.steps ?? [];
  let s = state;
  while (s?.status === 'running' && s.stepEndsAt != null && s.stepEndsAt <= now && Number.isInteger(s.step)) {
    const end = s.stepEndsAt;
    const index = s.step + 1;
    const step = steps[index];
    s = step
      ? { ...s, step: index, stepStartedAt: end, stepEndsAt: step.durationMs == null ? null : end + step.durationMs }
      : { ...s, status: 'finished', step: null, stepStartedAt: null, stepEndsAt: null, finishedAt: end };
    s.pausedAt = null;
    s.effectiveAt = end;
    s.seq = (s.seq ?? 0) + 1;
    s.predicted = true;
  }
  return s;
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

/** How far through the whole class, 0…1. */
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

// --- pieces both pages show ------------------------------------------------------------------

/** "Round 2 of 4" when the step repeats, otherwise "Step 3 of 9". */
export function position(view) {
  if (!view.step) return '';
  if (view.step.rounds > 1) return `Round ${view.step.round} of ${view.step.rounds}`;
  return `Step ${view.index + 1} of ${view.count}`;
}

/** The big number in class: `{text, distance}` (time left, or metres on a distance step), or null. */
export function bigNumber(view) {
  if (!inClass(view) || !view.step) return null;
  return { text: formatBig(view.remainingMs, view.step), distance: view.remainingMs == null };
}

/** The "Next:" line: "First: …" before the start, `last` during the last step; a treadmill
 *  step's settings come with it, so the belt can be set during the rest before it. */
export function nextLine(view, last = '') {
  if (view.next) {
    const belt = treadmill(view.next);
    return `${view.status === 'idle' ? 'First' : 'Next'}: ${view.next.title} · ${formatLength(view.next)}${belt ? ` · ${belt.text}` : ''}`;
  }
  return inClass(view) ? last : '';
}

/** The connection indicator's words (with a dot, never colour alone). */
export const connectionLabels = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  closed: 'Disconnected',
};
export const FOLLOWING_LABEL = 'Offline — following the plan';

/** The indicator's words; `following`: the page holds a running class (see `followingPlan`),
 *  so while the server is out of reach it says, calmly, that it keeps to the plan. */
export function connectionLabel(name, following = false) {
  if (following && (name === 'reconnecting' || name === 'offline')) return FOLLOWING_LABEL;
  return connectionLabels[name] ?? name;
}

/** Whether a phone cut off from the server keeps the class going by itself: it knows the plan
 *  and the class runs (timed steps end on its own clock; see `predictState`). */
export const followingPlan = (plan, state) => Boolean(plan) && state?.status === 'running';

// --- the participant page --------------------------------------------------------------------

/** Which step this phone tapped Done on: one tap per step per class run. */
export const doneKey = (state) => `${state?.classStartedAt}|${state?.step}`;

/** Everything the participant page shows. `tapped`: this phone already tapped Done on the step;
 *  `sawClass`: this phone saw this run before it finished (else it joined after the end). */
export function participantScreen({ plan, state, now, connection, tapped = false, sawClass = true }) {
  const view = describe(plan, state, now);
  const { status, step } = view;
  // (Fields written out, not spread from a shared object: V8 builds spread objects ~40× slower.)
  const screen = {
    view, status, index: view.index, big: bigNumber(view), paused: status === 'paused',
    classTitle: plan?.title ?? 'Backward running',
    documentTitle: plan?.title ?? 'Backward running class',
    position: '',
    stepTitle: '',
    cue: '',
    next: nextLine(view, 'Last step'),
    finished: status === 'finished',
    finishedHeading: sawClass ? 'Thank you!' : 'This class has ended',
    treadmill: inClass(view) ? treadmill(step)?.text ?? '' : '',
    stopwatch: stopwatch(view),
    replay: replayLabel(plan),
    safety: status === 'idle',      // the page also shows it while the Safety toggle is open
    nameForm: status === 'idle',
    done: null,
    progress: Math.round(view.progress * 1000) / 10, // percent, one decimal
  };
  if (!plan) {
    // Nothing from the server yet: keep the first paint honest.
    screen.stepTitle = connection === 'connected' ? 'Loading…' : connectionLabel(connection);
  } else if (status === 'idle') {
    screen.position = `${view.count} steps`;
    screen.stepTitle = 'Waiting for the instructor to start';
  } else if (status === 'finished') {
    screen.stepTitle = sawClass ? 'Class finished' : 'This class has ended';
  } else if (step) {
    screen.position = position(view);
    screen.stepTitle = step.title;
    screen.cue = view.cue?.text ?? '';
  }
  if (inClass(view) && step && view.remainingMs == null) {
    screen.done = { tapped, label: tapped ? '✓ Done, nice work' : 'Done' };
  }
  return screen;
}

/** What the participant's phone should signal now, given what it last signalled (`memory`,
 *  start with `signalMemory`): `change` (a new step or status: the words for the long tone,
 *  or null), `cue` (a new cue's words, or null), `pip` (a whole second ticked in the last 3),
 *  and the `memory` for next time. Nothing is signalled until the plan is known. */
export const signalMemory = { key: null, cue: null, whole: null };

export function signalsFor(memory, view, hasPlan) {
  const key = `${view.status}|${view.index}`;
  const cue = view.cue?.text ?? null;
  let change = null;
  let newCue = null;
  if (memory.key !== null && key !== memory.key) {
    if (view.status === 'finished') change = 'Class finished. Thank you! Now cool down.';
    else if (view.status === 'paused') change = 'Class paused';
    else if (view.step) change = [view.step.title, cue].filter(Boolean).join('. ');
  } else if (memory.key !== null && cue && cue !== memory.cue && view.status === 'running') {
    newCue = cue;
  }
  let whole = null;
  let pip = false;
  if (view.status === 'running' && view.remainingMs != null) {
    whole = Math.ceil(view.remainingMs / 1000);
    pip = whole !== memory.whole && whole >= 1 && whole <= 3 && memory.whole !== null;
  }
  const next = hasPlan ? { key, cue, whole } : { ...memory, whole };
  return { change, cue: newCue, pip, memory: next };
}

// --- the instructor console -------------------------------------------------------------------

/** The primary button per status. A finished class is over (its recording is closed); the
 *  console's separate "Run again" starts it over as a new run (`run-again`). */
export const primaryActions = {
  idle: { command: 'start', label: '▶ Start' },
  running: { command: 'pause', label: '‖ Pause' },
  paused: { command: 'resume', label: '▶ Resume' },
  finished: { command: null, label: '✓ Class finished' },
};

/** The plan list as built once per plan: its heading note and one row per step. */
export function planOutline(plan) {
  const steps = plan?.steps ?? [];
  const minutes = wholeMinutes(stepEstimates(plan).reduce((a, b) => a + b, 0));
  return {
    total: `· ${steps.length} steps · about ${minutes} min`,
    rows: steps.map((step, i) => ({
      num: String(i + 1),
      title: step.title,
      meta: `${step.kind}${step.rounds > 1 ? ` · round ${step.round}/${step.rounds}` : ''}${treadmill(step) ? ` · ${treadmill(step).text}` : ''}`,
      length: formatLength(step),
      label: `Jump to step ${i + 1}: ${step.title}, ${formatLength(step)}${treadmill(step) ? `, ${treadmill(step).text}` : ''}`,
    })),
  };
}

/** Why a console cannot drive the class, as a lasting note (what is wrong, what to do), or ''. */
export function consoleNote({ plan, hasToken, tokenRefused }) {
  if (plan?.replay != null) {
    return `${replayLabel(plan)}: this class plays as it was recorded, so it has no controls. To run it live, start the plan with classctl start.`;
  }
  if (tokenRefused) {
    return 'The instructor token in this link was refused, so this page only watches (it is not counted as a participant). Open the instructor link that classctl start printed, the one ending in #token=….';
  }
  if (!hasToken) {
    return 'This page has no instructor token, so it only watches (it is not counted as a participant). Open the instructor link that classctl start printed.';
  }
  return '';
}

/** Everything the console shows. `role`: welcome.role; `hasToken`: the page has a token;
 *  `tokenRefused`: the server said the token is wrong. */
export function consoleScreen({ plan, state, presence, now, role, connection, hasToken, tokenRefused = false }) {
  const view = describe(plan, state, now);
  const { status, index, step } = view;
  const live = inClass(view);
  const replay = plan?.replay != null;
  // Controls: only what makes sense now is enabled (none in a replay: the server refuses them).
  const can = role === 'instructor' && connection === 'connected' && !replay;
  const action = primaryActions[status] ?? primaryActions.idle;
  return {
    view, status, index, big: bigNumber(view), paused: status === 'paused',
    role: role ?? '',
    classTitle: plan ? plan.title ?? 'Class' : 'Instructor console',
    position: !plan ? '' : status === 'idle' ? 'Not started' : status === 'finished' ? 'Finished' : position(view),
    stepTitle: !plan ? 'Connecting…' : status === 'idle' ? 'Ready to start'
      : status === 'finished' ? 'Class finished' : step?.title ?? '',
    cue: plan && view.cue ? `Cue: ${view.cue.text}` : '',
    next: nextLine(view),
    controls: {
      primary: { label: action.label, command: action.command, disabled: !can || !action.command },
      previous: !can || !live || index === 0,
      next: !can || !live,
      extend: !can || !live || view.remainingMs == null,
      end: !can || !live,
    },
    noToken: !hasToken,
    note: consoleNote({ plan, hasToken, tokenRefused }),
    replay: replayLabel(plan),
    treadmill: live ? treadmill(step)?.text ?? '' : '',
    stopwatch: stopwatch(view),
    timeLeft: plan ? timeLeftLine(view, stepEstimates(plan), now) : '',
    runAgain: status === 'finished' && !replay,
    runAgainDisabled: !can,
    canAnnounce: can,
    // The plan list: past steps ticked, the current one highlighted with its time left.
    rows: (plan?.steps ?? []).map((_, i) => {
      const current = live && i === index;
      return {
        current,
        past: status === 'finished' || (live && i < index),
        left: !current ? '' : view.remainingMs != null ? `${formatClock(view.remainingMs)} left` : 'now',
        disabled: !can,
      };
    }),
    participants: String(presence?.participants ?? 0),
    // `done` counts taps on the current step only.
    done: String(presence && presence.step === index ? presence.done ?? 0 : 0),
  };
}

// --- "I need to stop" ---------------------------------------------------------------------

/** The phone's stop panel. `stop` is what the phone knows: {on, acknowledged} from the server,
 *  `confirming` while the question is open, `pending` between tapping yes and the answer. */
export function stopPanel(view, stop = {}) {
  const inClassNow = view.status === 'running' || view.status === 'paused';
  if (stop.on || stop.pending) {
    return {
      mode: 'sent',
      text: stop.acknowledged
        ? 'The instructor has seen it and is coming. Stay where you are, safe at the side.'
        : 'Stop and step to the side. The instructor is being told.',
    };
  }
  if (!inClassNow) return { mode: 'hidden' };
  return { mode: stop.confirming ? 'confirm' : 'button' };
}

/** One line per open stop signal on the console, oldest first. */
export function alertLines(alerts, plan, now) {
  return (alerts ?? []).map((a) => {
    const who = a.name ? a.name : 'A participant';
    const step = Number.isInteger(a.step) ? plan?.steps?.[a.step] : null;
    const ago = Math.max(0, Math.round((now - a.since) / 1000));
    const agoText = ago < 60 ? `${ago} s ago` : `${Math.floor(ago / 60)} min ago`;
    return {
      client: a.client,
      text: `${who} needs to stop`,
      detail: [step ? `during “${step.title}”` : null, agoText, a.online === false ? 'phone offline' : null]
        .filter(Boolean).join(' · '),
    };
  });
}
