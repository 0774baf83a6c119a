// The participant page: one glanceable screen that follows the class.
import { Live } from './live.js';
import { renderLoop } from './render-loop.js';
import { exposeForTests } from './test-hook.js';
import { participantScreen, signalsFor, signalMemory, doneKey, stopPanel, followingPlan } from './view-model.js';
import { callsFor, summaryLines, cutName } from './gym.js';
import { byId as $, setText, fillList, connectionIndicator, showNow, Banner } from './widgets.js';
import { Signals, keepAwake, storageGet, storageSet } from './signals.js';

const NAME_KEY = 'classctl.name';
const CALLS_KEY = 'classctl.calls';   // this phone's switch for the timer's calls

let name = storageGet(NAME_KEY) ?? '';
const signals = new Signals();
const live = new Live({
  hello: () => (name ? { type: 'hello', role: 'participant', name } : null),
  remember: true,  // a reload without the server still opens the class (see sw.js)
});

/** A list kept in localStorage ([] when missing or unreadable). */
function storedList(key) {
  try { const list = JSON.parse(storageGet(key) ?? '[]'); return Array.isArray(list) ? list : []; } catch { return []; }
}

// doneKey(state) of every step this phone tapped done on, kept across a reload (the summary
// counts them, and Done stays ticked); the last 200 only.
const TAPS_KEY = `classctl.taps.${live.code ?? ''}`;
const doneSteps = new Set(storedList(TAPS_KEY));
let signalled = signalMemory; // what the page has already signalled, so each change beeps/speaks once
let callsOn = storageGet(CALLS_KEY) !== 'off';
let lastCall = null;          // the key of the last timer call signalled
// classStartedAt of each run this phone saw before it finished (kept across a reload): a phone
// that took part is thanked at the end, one that joins after it is told the class has ended.
const SEEN_RUNS_KEY = `classctl.runs.${live.code ?? ''}`;
const runsSeen = new Set(storedList(SEEN_RUNS_KEY));

/** This phone's done taps in the run `state` belongs to (counted here, per class run). */
const tapsIn = (state) => [...doneSteps].filter((k) => k.startsWith(`${state?.classStartedAt}|`)).length;

function render() {
  const state = live.state;
  if (state && (state.status === 'running' || state.status === 'paused') && !runsSeen.has(state.classStartedAt)) {
    runsSeen.add(state.classStartedAt);
    storageSet(SEEN_RUNS_KEY, JSON.stringify([...runsSeen].slice(-20)));
  }
  const screen = participantScreen({
    plan: live.plan, state, now: live.serverNow(), connection: live.connection,
    tapped: doneSteps.has(doneKey(state)),
    sawClass: runsSeen.has(state?.classStartedAt),
  });
  showNow(screen);
  setText($('replay'), screen.replay);
  $('replay').hidden = !screen.replay;
  setText($('treadmill'), screen.treadmill);
  $('treadmill').hidden = !screen.treadmill;
  setText($('stopwatch'), screen.stopwatch ? `⏱ ${screen.stopwatch} so far` : '');
  $('stopwatch').hidden = !screen.stopwatch;
  $('finished').hidden = !screen.finished;
  if (screen.finished) {
    setText($('finished-heading'), screen.finishedHeading);
    const lines = summaryLines(live.summary, tapsIn(state));
    if ($('summary-list').dataset.text !== lines.join('|')) {
      fillList($('summary-list'), lines);
      $('summary-list').dataset.text = lines.join('|');
    }
  }
  $('safety').hidden = !(screen.safety || document.body.classList.contains('show-safety'));
  $('name-form').hidden = !screen.nameForm;

  const done = $('done');
  done.hidden = !screen.done;
  if (screen.done) {
    done.disabled = screen.done.tapped;
    setText(done, screen.done.label);
  }

  const fill = $('progress-fill');
  fill.style.width = `${screen.progress}%`;
  fill.parentElement.setAttribute('aria-valuenow', String(Math.round(screen.progress)));

  showStop(screen.view);
  signal(screen.view);
}

// --- "I need to stop" ---------------------------------------------------------------------

const stop = { on: false, acknowledged: false, confirming: false, pending: false };
let stopMode = null;

function showStop(view) {
  const panel = stopPanel(view, stop);
  if (panel.mode === stopMode && panel.mode !== 'sent') return;
  const entering = panel.mode !== stopMode;
  stopMode = panel.mode;
  $('stop').hidden = panel.mode !== 'button';
  $('stop-confirm').hidden = panel.mode !== 'confirm';
  $('stop-sent').hidden = panel.mode !== 'sent';
  if (panel.mode === 'sent') setText($('stop-sent-text'), panel.text);
  if (entering && panel.mode === 'confirm') $('stop-yes').focus();
}

$('stop').addEventListener('click', () => { stop.confirming = true; });
$('stop-no').addEventListener('click', () => { stop.confirming = false; $('stop').focus(); });
$('stop-yes').addEventListener('click', () => {
  stop.confirming = false;
  if (live.send({ type: 'stop', on: true })) {
    stop.pending = true;
    signals.vibrate([80, 60, 80]);
  } else {
    banner.show('Not connected: the instructor was not told. Stop anyway and wave to them.', true);
  }
});
$('stop-undo').addEventListener('click', () => {
  live.send({ type: 'stop', on: false });
  stop.on = false; stop.pending = false; stop.acknowledged = false;
});
live.on('stop', (msg) => {
  stop.on = Boolean(msg.on);
  stop.pending = false;
  stop.acknowledged = Boolean(msg.acknowledged);
  if (stop.acknowledged) signals.vibrate(60);
  stopMode = null;   // redraw the text
});

/** Beep, buzz and speak on changes: a new step, a new cue, the last 3 seconds. */
function signal(view) {
  const due = signalsFor(signalled, view, Boolean(live.plan));
  signalled = due.memory;
  if (due.change !== null) signals.change(due.change);
  if (due.cue) {
    signals.beep(770, 0.15);
    signals.say(due.cue);
  }
  // The timer's calls (switchable per plan and per phone): a lead-in's count replaces the pip.
  const call = live.plan ? callsFor(view, live.state, { calls: live.plan.calls ?? {}, enabled: callsOn }) : null;
  if (call && call.key !== lastCall) {
    lastCall = call.key;
    if (call.kind === 'lead-in') { signals.beep(call.n === 1 ? 1175 : 880, 0.12); signals.vibrate(60); } else signals.beep(700, 0.2);
    signals.say(call.say);
    calls.push({ kind: call.kind, say: call.say, at: live.serverNow() });
    return;
  }
  if (due.pip) signals.pip();
}
const calls = [];   // the calls made, for the browser tests (window.__classctl.calls)

// --- events from the server ---------------------------------------------------

connectionIndicator(live, () => followingPlan(live.plan, live.state));

live.on('welcome', (msg) => fillList($('safety-list'), msg.class?.safety ?? []));

const banner = new Banner('announce', 'announce-text', 'announce-close', 60_000);

// The last announcement shown (server time), so one sent while this phone was away — a network
// gap, a server restart — is shown when it is back (welcome.announcements), and none twice.
const SEEN_KEY = 'classctl.announcedAt';
const MISSED_WINDOW_MS = 10 * 60_000;
let seenAt = Number(storageGet(SEEN_KEY) ?? 0) || 0;

function announce(msg) {
  if (Number.isFinite(msg.at)) {
    if (msg.at <= seenAt) return;
    seenAt = msg.at;
    storageSet(SEEN_KEY, String(seenAt));
  }
  banner.show(msg.text);
  signals.beep(520, 0.25);
  signals.say(msg.text);
}

live.on('announce', announce);
live.on('welcome', (msg) => {
  const recent = (msg.announcements ?? []).filter((a) => a.at > seenAt && a.at > live.serverNow() - MISSED_WINDOW_MS);
  const newest = recent[recent.length - 1];
  if (newest) announce(newest);
});

live.on('error', (msg) => {
  if (msg.code === 'unknown-class') banner.show(`No class "${live.code}" here. Check the link or scan the QR code again.`, true);
  else if (msg.code !== 'invalid-command') banner.show(msg.message ?? 'Something went wrong.', true);
});

// --- controls -----------------------------------------------------------------------

$('sound-enable').addEventListener('click', () => {
  signals.enable();
  $('sound-enable').hidden = true;
});

function showVoice() {
  const btn = $('voice');
  btn.setAttribute('aria-pressed', String(signals.voice));
  setText(btn, signals.voice ? '♪ Voice: on' : '♪ Voice: off');
}
$('voice').addEventListener('click', () => { signals.setVoice(!signals.voice); showVoice(); });
showVoice();

function showCalls() {
  const btn = $('calls');
  const planOff = live.plan?.calls && !Object.values(live.plan.calls).some(Boolean);
  btn.hidden = Boolean(planOff);   // the plan switched every call off: nothing to switch here
  btn.setAttribute('aria-pressed', String(callsOn));
  setText(btn, callsOn ? '⏱ Calls: on' : '⏱ Calls: off');
}
$('calls').addEventListener('click', () => {
  callsOn = !callsOn;
  storageSet(CALLS_KEY, callsOn ? 'on' : 'off');
  showCalls();
});
live.on('welcome', showCalls);
showCalls();

$('safety-toggle').addEventListener('click', () => {
  const open = document.body.classList.toggle('show-safety');
  $('safety-toggle').setAttribute('aria-expanded', String(open));
  const still = matchMedia('(prefers-reduced-motion: reduce)').matches;
  if (open) $('safety').scrollIntoView({ behavior: still ? 'auto' : 'smooth', block: 'nearest' });
});

$('done').addEventListener('click', () => {
  const index = live.state?.step;
  if (!Number.isInteger(index)) return;
  if (live.send({ type: 'done', step: index })) {
    doneSteps.add(doneKey(live.state));
    storageSet(TAPS_KEY, JSON.stringify([...doneSteps].slice(-200)));
    signals.vibrate(40);
  }
});

$('name').value = name;
$('name-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  name = cutName($('name').value);   // 40 characters as people count them, no emoji split
  $('name').value = name;
  storageSet(NAME_KEY, name);
  const sent = name ? live.send({ type: 'hello', role: 'participant', name }) : false;
  setText($('name-saved'), !name ? 'Name cleared: you stay anonymous.'
    : sent ? `✓ Saved: the instructor sees “${name}”.` : `✓ Saved: “${name}” goes to the instructor once connected.`);
  $('name').blur();
});
$('name').addEventListener('input', () => setText($('name-saved'), ''));

keepAwake((message) => {
  const note = $('awake-note');
  note.hidden = !message;
  setText(note, message ?? '');
});

exposeForTests(live, { get calls() { return calls; }, get callsOn() { return callsOn; } });

// Offline reloads: the service worker keeps the page's files (network first, so updates come).
// Service workers need a secure context; on plain http the page simply needs the server.
if (location.protocol === 'https:' && 'serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js').catch(() => {});
}

live.connect();
renderLoop(render, live);
