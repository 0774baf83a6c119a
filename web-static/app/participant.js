// The participant page: one glanceable screen that follows the class.
import {
  Live, describe, formatClock, formatDistance, formatLength, position, setText, renderLoop, connectionLabels,
  exposeForTests,
} from './live.js';
import { Signals, keepAwake, storageGet, storageSet } from './signals.js';

const $ = (id) => document.getElementById(id);
const NAME_KEY = 'classctl.name';

let name = storageGet(NAME_KEY) ?? '';
const signals = new Signals();
const live = new Live({
  hello: () => (name ? { type: 'hello', role: 'participant', name } : null),
});

// --- what the page has already signalled, so each change beeps/speaks once ---
let shownKey = null;   // "status|step" last rendered
let shownCue = null;
let lastWholeSeconds = null;
const doneSteps = new Set(); // "classStartedAt|step" this phone tapped done on

function render() {
  const now = live.serverNow();
  const view = describe(live.plan, live.state, now);
  const { status, step, index } = view;
  const body = document.body;
  body.dataset.status = status;
  body.dataset.step = index ?? '';

  if (live.plan) {
    setText($('class-title'), live.plan.title ?? 'Backward running');
    document.title = live.plan.title ?? 'Backward running class';
  }

  const inClass = status === 'running' || status === 'paused';
  $('paused-label').hidden = status !== 'paused';
  $('finished').hidden = status !== 'finished';
  $('safety').hidden = !(status === 'idle' || body.classList.contains('show-safety'));
  $('name-form').hidden = status !== 'idle';

  if (!live.plan) {
    // Nothing from the server yet: keep the first paint honest.
    setText($('step-title'), live.connection === 'connected' ? 'Loading…' : connectionLabels[live.connection]);
  } else if (status === 'idle') {
    setText($('position'), `${view.count} steps`);
    setText($('step-title'), 'Waiting for the instructor to start');
    setText($('cue'), '');
  } else if (status === 'finished') {
    setText($('position'), '');
    setText($('step-title'), 'Class finished');
    setText($('cue'), '');
  } else if (step) {
    setText($('position'), position(view));
    setText($('step-title'), step.title);
    setText($('cue'), view.cue?.text ?? '');
  }

  // The big number: time left, or the distance on distance steps.
  const big = $('big');
  big.hidden = !(inClass && step);
  if (inClass && step) {
    setText(big, view.remainingMs != null ? formatClock(view.remainingMs) : formatDistance(step.distanceMeters ?? 0));
    big.classList.toggle('distance', view.remainingMs == null);
  }

  const isDistance = inClass && step && view.remainingMs == null;
  const done = $('done');
  done.hidden = !isDistance;
  if (isDistance) {
    const tapped = doneSteps.has(doneKey(index));
    done.disabled = tapped;
    setText(done, tapped ? '✓ Done, nice work' : 'Done');
  }

  setText($('next'), view.next
    ? `${status === 'idle' ? 'First' : 'Next'}: ${view.next.title} · ${formatLength(view.next)}`
    : inClass ? 'Last step' : '');

  const fill = $('progress-fill');
  const pct = Math.round(view.progress * 1000) / 10;
  fill.style.width = `${pct}%`;
  fill.parentElement.setAttribute('aria-valuenow', String(Math.round(pct)));

  signal(view);
}

/** Beep, buzz and speak on changes: a new step, a new cue, the last 3 seconds. */
function signal(view) {
  const key = `${view.status}|${view.index}`;
  const cue = view.cue?.text ?? null;
  if (shownKey !== null && key !== shownKey) {
    if (view.status === 'finished') signals.change('Class finished. Thank you! Now cool down.');
    else if (view.status === 'paused') signals.change('Class paused');
    else if (view.step) signals.change([view.step.title, cue].filter(Boolean).join('. '));
  } else if (shownKey !== null && cue && cue !== shownCue && view.status === 'running') {
    signals.beep(770, 0.15);
    signals.say(cue);
  }
  if (view.status === 'running' && view.remainingMs != null) {
    const whole = Math.ceil(view.remainingMs / 1000);
    if (whole !== lastWholeSeconds && whole >= 1 && whole <= 3 && lastWholeSeconds !== null) signals.pip();
    lastWholeSeconds = whole;
  } else {
    lastWholeSeconds = null;
  }
  if (live.plan) { shownKey = key; shownCue = cue; }
}

function doneKey(index) {
  return `${live.state?.classStartedAt}|${index}`;
}

// --- events from the server ---------------------------------------------------

live.on('connection', (state) => {
  document.body.dataset.connection = state;
  setText($('conn-text'), connectionLabels[state] ?? state);
});

live.on('welcome', (msg) => {
  const list = $('safety-list');
  list.replaceChildren(...(msg.class?.safety ?? []).map((text) => {
    const li = document.createElement('li');
    li.textContent = text;
    return li;
  }));
});

let announceTimer = null;
function banner(text, alert = false) {
  setText($('announce-text'), text);
  $('announce').hidden = false;
  $('announce').classList.toggle('error', alert);
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { $('announce').hidden = true; }, 60_000);
}

live.on('announce', (msg) => {
  banner(msg.text);
  signals.beep(520, 0.25);
  signals.say(msg.text);
});

live.on('error', (msg) => {
  if (msg.code === 'unknown-class') banner(`No class "${live.code}" here. Check the link or scan the QR code again.`, true);
  else if (msg.code !== 'invalid-command') banner(msg.message ?? 'Something went wrong.', true);
});

// --- controls -----------------------------------------------------------------------

$('announce-close').addEventListener('click', () => { $('announce').hidden = true; });

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
    doneSteps.add(doneKey(index));
    signals.vibrate(40);
  }
});

$('name').value = name;
$('name-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  name = $('name').value.trim().slice(0, 40);
  storageSet(NAME_KEY, name);
  if (name) live.send({ type: 'hello', role: 'participant', name });
  $('name').blur();
});

keepAwake((message) => {
  const note = $('awake-note');
  note.hidden = !message;
  setText(note, message ?? '');
});

exposeForTests(live);

live.connect();
renderLoop(render);
