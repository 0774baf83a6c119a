// The instructor console: run the class, see who is there, talk to everyone.
import {
  Live, describe, formatClock, formatDistance, formatLength, position, setText, renderLoop,
  connectionLabels, classCodeFromPath, stepEstimates, exposeForTests,
} from './live.js';

const $ = (id) => document.getElementById(id);
const code = classCodeFromPath(location.pathname);

// The token comes in the URL fragment (never sent to the server or in a Referer).
// Keep it for this tab only and take it out of the address bar, history and screenshots.
const TOKEN_KEY = `classctl.token.${code ?? ''}`;
const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromHash) {
  try { sessionStorage.setItem(TOKEN_KEY, fromHash); } catch { /* kept in memory below */ }
  history.replaceState(null, '', location.pathname + location.search);
}
let token = fromHash;
try { token = sessionStorage.getItem(TOKEN_KEY) ?? token; } catch { /* private mode */ }

const live = new Live({
  code,
  hello: () => (token ? { type: 'hello', role: 'instructor', token } : null),
});
const isInstructor = () => live.role === 'instructor';

// --- commands -------------------------------------------------------------------------

function command(name, extra = {}) {
  if (!isInstructor()) { showError(token ? 'Not signed in as the instructor yet.' : 'No instructor token on this page.'); return; }
  if (!live.send({ type: 'command', command: name, ...extra })) showError('Not connected: the command was not sent.');
}

const primaryAction = {
  idle: { command: 'start', label: '▶ Start' },
  running: { command: 'pause', label: '‖ Pause' },
  paused: { command: 'resume', label: '▶ Resume' },
  // A finished class is final (its recording is closed); a new class is a new `classctl start`.
  finished: { command: null, label: '✓ Class finished' },
};

function primary() {
  const action = primaryAction[live.state?.status ?? 'idle'];
  if (action.command) command(action.command);
}

const extend = () => command('extend', { seconds: 30 });

function endClass() {
  confirmThen('End the class for everyone now?', 'End class', () => command('end'));
}

function jump(index) {
  const step = live.plan?.steps?.[index];
  if (!step) return;
  confirmThen(`Jump to step ${index + 1}: ${step.title}?`, 'Jump', () => command('jump', { step: index }));
}

/** A <dialog> instead of confirm(): styled, big on a phone, and does not block the page's timers. */
function confirmThen(question, okLabel, action) {
  const dialog = $('confirm');
  if (dialog.open) return;
  setText($('confirm-text'), question);
  setText($('confirm-ok'), okLabel);
  dialog.returnValue = '';
  dialog.onclose = () => { if (dialog.returnValue === 'ok') action(); };
  dialog.showModal();
  $('confirm-ok').focus();
}

$('primary').addEventListener('click', primary);
$('previous').addEventListener('click', () => command('previous'));
$('next-btn').addEventListener('click', () => command('next'));
$('extend').addEventListener('click', extend);
$('end').addEventListener('click', endClass);

// Laptop shortcuts. Space is handled on keydown and swallowed on keyup, or a focused
// button would also be "clicked" by it.
const keys = {
  ' ': primary,
  ArrowLeft: () => command('previous'),
  ArrowRight: () => command('next'),
  e: extend,
  E: extend,
};
function shortcutTarget(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || $('confirm').open) return false;
  return !ev.target.closest?.('input, textarea, select, [contenteditable]');
}
document.addEventListener('keydown', (ev) => {
  const fn = keys[ev.key];
  if (!fn || !shortcutTarget(ev)) return;
  ev.preventDefault();
  if (!ev.repeat) fn();
});
document.addEventListener('keyup', (ev) => {
  if (ev.key === ' ' && shortcutTarget(ev)) ev.preventDefault();
});

// --- rendering --------------------------------------------------------------------------

function buildPlan(plan) {
  const est = stepEstimates(plan);
  setText($('plan-total'), `· ${plan.steps.length} steps · about ${Math.round(est.reduce((a, b) => a + b, 0) / 60000)} min`);
  $('plan-list').replaceChildren(...plan.steps.map((step, i) => {
    const li = document.createElement('li');
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'plan-step';
    btn.dataset.index = String(i);
    const round = step.rounds > 1 ? ` · round ${step.round}/${step.rounds}` : '';
    btn.append(
      span('num', String(i + 1)),
      span('title', step.title),
      span('meta', `${step.kind}${round}`),
      span('len', formatLength(step)),
      span('left', ''),
    );
    btn.setAttribute('aria-label', `Jump to step ${i + 1}: ${step.title}, ${formatLength(step)}`);
    btn.addEventListener('click', () => jump(i));
    li.append(btn);
    return li;
  }));
}

function span(cls, text) {
  const el = document.createElement('span');
  el.className = cls;
  el.textContent = text;
  return el;
}

function render() {
  const view = describe(live.plan, live.state, live.serverNow());
  const { status, step, index } = view;
  document.body.dataset.status = status;
  document.body.dataset.step = index ?? '';
  document.body.dataset.role = live.role ?? '';

  if (live.plan) {
    setText($('class-title'), live.plan.title ?? 'Class');
    setText($('position'), status === 'idle' ? 'Not started' : status === 'finished' ? 'Finished' : position(view));
    setText($('step-title'), status === 'idle' ? 'Ready to start'
      : status === 'finished' ? 'Class finished' : step?.title ?? '');
    setText($('cue'), view.cue ? `Cue: ${view.cue.text}` : '');
  }
  const inClass = status === 'running' || status === 'paused';
  setText($('big'), !inClass || !step ? ''
    : view.remainingMs != null ? formatClock(view.remainingMs) : formatDistance(step.distanceMeters ?? 0));
  $('paused-label').hidden = status !== 'paused';
  setText($('next'), view.next ? `${status === 'idle' ? 'First' : 'Next'}: ${view.next.title} · ${formatLength(view.next)}` : '');

  // Controls: only what makes sense now is enabled.
  const can = isInstructor() && live.connection === 'connected';
  const action = primaryAction[status] ?? primaryAction.idle;
  setText($('primary'), action.label);
  $('primary').dataset.command = action.command;
  $('primary').disabled = !can || !action.command;
  $('previous').disabled = !can || !inClass || index === 0;
  $('next-btn').disabled = !can || !inClass;
  $('extend').disabled = !can || !inClass || view.remainingMs == null;
  $('end').disabled = !can || !inClass;
  $('no-token').hidden = Boolean(token);

  // The plan list: past steps ticked, the current one highlighted with its time left.
  const items = $('plan-list').children;
  for (let i = 0; i < items.length; i++) {
    const btn = items[i].firstElementChild;
    const current = inClass && i === index;
    items[i].classList.toggle('current', current);
    items[i].classList.toggle('past', status === 'finished' || (inClass && i < index));
    if (current) btn.setAttribute('aria-current', 'step'); else btn.removeAttribute('aria-current');
    setText(btn.querySelector('.left'), current
      ? (view.remainingMs != null ? `${formatClock(view.remainingMs)} left` : 'now') : '');
    btn.disabled = !can;
  }

  const p = live.presence;
  setText($('participants'), String(p?.participants ?? 0));
  // `done` counts taps on the current step only.
  setText($('done-count'), String(p && p.step === index ? p.done ?? 0 : 0));
}

function renderNames(p) {
  const names = p.names ?? [];
  $('names').replaceChildren(...names.map((n) => {
    const li = document.createElement('li');
    li.textContent = n;
    return li;
  }));
  $('names-empty').hidden = names.length > 0;
}

// --- server events ------------------------------------------------------------------------

live.on('connection', (state) => {
  document.body.dataset.connection = state;
  setText($('conn-text'), connectionLabels[state] ?? state);
});
live.on('welcome', (msg) => { if (msg.class) buildPlan(msg.class); });
live.on('presence', renderNames);

const errorText = {
  'bad-token': 'The instructor token was refused. Open the instructor link that classctl start printed.',
  throttled: 'Too many wrong tokens from this device: wait a minute, then reload.',
  'unknown-class': `There is no class "${code}" on this server.`,
};
let errorTimer = null;
function showError(text) {
  setText($('error-text'), text);
  $('error').hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { $('error').hidden = true; }, 15_000);
}
live.on('error', (msg) => showError(errorText[msg.code] ?? msg.message ?? `Error: ${msg.code}`));
$('error-close').addEventListener('click', () => { $('error').hidden = true; });

// --- announcements ---------------------------------------------------------------------

const announceBox = $('announce-text');
announceBox.addEventListener('input', () => setText($('announce-count'), `${announceBox.value.length} / 280`));
$('announce-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = announceBox.value.trim();
  if (!text) return;
  if (!isInstructor()) { showError('Only the instructor can send announcements.'); return; }
  if (live.send({ type: 'announce', text })) {
    announceBox.value = '';
    setText($('announce-count'), 'Sent ✓');
  } else {
    showError('Not connected: the announcement was not sent.');
  }
});

// --- join link and QR ----------------------------------------------------------------------

const joinUrl = `${location.origin}/${code ? `c/${encodeURIComponent(code)}` : ''}`;
const qrUrl = `/c/${encodeURIComponent(code ?? '')}/qr.svg`;
setText($('class-code'), code ?? '');
$('join-link').href = joinUrl;
setText($('join-link'), joinUrl);
setText($('qr-link'), joinUrl);
$('qr').src = qrUrl;

function showQR(open) {
  $('qr-overlay').hidden = !open;
  $('qr-full').setAttribute('aria-pressed', String(open));
  if (open) { $('qr-big').src = qrUrl; $('qr-close').focus(); } else { $('qr-full').focus(); }
}
$('qr-full').addEventListener('click', () => showQR(true));
$('qr-close').addEventListener('click', () => showQR(false));
document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !$('qr-overlay').hidden) showQR(false); });

$('copy-link').addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(joinUrl);
    setText($('copy-link'), 'Copied ✓');
  } catch {
    // No clipboard on plain http: select the text so a long-press / Ctrl+C copies it.
    getSelection().selectAllChildren($('join-link'));
    setText($('copy-link'), 'Selected: copy it');
  }
});

exposeForTests(live, { get role() { return live.role; } });

live.connect();
renderLoop(render);
