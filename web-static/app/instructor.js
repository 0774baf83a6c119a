// The instructor console: run the class, see who is there, talk to everyone.
import { Live, classCodeFromPath } from './live.js';
import { renderLoop } from './render-loop.js';
import { exposeForTests } from './test-hook.js';
import { consoleScreen, planOutline, primaryActions, alertLines } from './view-model.js';
import { doneLists, summaryLines, summarySteps, clockTime } from './gym.js';
import { Signals } from './signals.js';
import { byId as $, setText, fillList, connectionIndicator, showNow, Banner } from './widgets.js';

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

let tokenRefused = false;   // the server said this token is wrong: the page only watches
// Without a (right) token the console is a watcher: it follows the class, not counted as a phone.
const live = new Live({
  code,
  hello: () => (token ? { type: 'hello', role: 'instructor', token } : { type: 'hello', role: 'watcher' }),
});
const isInstructor = () => live.role === 'instructor';
const isReplay = () => live.plan?.replay != null;

// --- commands -------------------------------------------------------------------------

function command(name, extra = {}) {
  if (isReplay()) return;   // a replay has no controls (the note says why)
  if (!isInstructor()) { showError(token ? 'Not signed in as the instructor yet.' : 'No instructor token on this page.'); return; }
  if (!live.send({ type: 'command', command: name, ...extra })) showError('Not connected: the command was not sent.');
}

function primary() {
  const action = primaryActions[live.state?.status ?? 'idle'];
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
$('run-again').addEventListener('click', () => {
  confirmThen('Run the class again from the first step, for everyone here?', 'Run again', () => {
    if (!live.send({ type: 'run-again' })) showError('Not connected: the class was not started again.');
  });
});

// Laptop shortcuts, only while no control has focus: Space or Enter on a focused button or
// plan row presses that control (the browser's own behaviour), never the class's pause.
const keys = {
  ' ': primary,
  ArrowLeft: () => command('previous'),
  ArrowRight: () => command('next'),
  e: extend,
  E: extend,
};
const INTERACTIVE = 'button, a[href], input, textarea, select, summary, [contenteditable], [tabindex]:not([tabindex="-1"]), dialog';
function shortcutTarget(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || $('confirm').open || !$('qr-overlay').hidden) return false;
  return !ev.target.closest?.(INTERACTIVE);
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
  const outline = planOutline(plan);
  setText($('plan-total'), outline.total);
  $('plan-list').replaceChildren(...outline.rows.map((row, i) => {
    const li = document.createElement('li');
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'plan-step';
    btn.dataset.index = String(i);
    btn.append(
      span('num', row.num),
      span('title', row.title),
      span('meta', row.meta),
      span('len', row.length),
      span('left', ''),
    );
    btn.setAttribute('aria-label', row.label);
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
  const screen = consoleScreen({
    plan: live.plan, state: live.state, presence: live.presence, now: live.serverNow(),
    // A console that is not the instructor's follows as a watcher (docs/protocol.md).
    role: live.role && live.role !== 'instructor' ? 'watcher' : live.role,
    connection: live.connection, hasToken: Boolean(token), tokenRefused,
  });
  showNow(screen);
  setText($('replay'), screen.replay);
  $('replay').hidden = !screen.replay;
  setText($('treadmill'), screen.treadmill);
  $('treadmill').hidden = !screen.treadmill;
  setText($('stopwatch'), screen.stopwatch ? `⏱ ${screen.stopwatch}` : '');
  $('stopwatch').hidden = !screen.stopwatch;
  setText($('time-left'), screen.timeLeft);
  $('run-again').hidden = !screen.runAgain;
  $('run-again').disabled = screen.runAgainDisabled;
  renderSummary(screen.status === 'finished');
  renderDoneLists(screen);

  const { controls } = screen;
  setText($('primary'), controls.primary.label);
  $('primary').dataset.command = controls.primary.command;
  $('primary').disabled = controls.primary.disabled;
  $('previous').disabled = controls.previous;
  $('next-btn').disabled = controls.next;
  $('extend').disabled = controls.extend;
  $('end').disabled = controls.end;
  setText($('note'), screen.note);
  $('note').hidden = !screen.note;
  // A replay has no controls at all: the buttons go, the note says why.
  document.body.toggleAttribute('data-replay', Boolean(screen.replay));
  for (const btn of $('presets').children) btn.disabled = !screen.canAnnounce;

  const items = $('plan-list').children;
  for (let i = 0; i < items.length && i < screen.rows.length; i++) {
    const row = screen.rows[i];
    const btn = items[i].firstElementChild;
    items[i].classList.toggle('current', row.current);
    items[i].classList.toggle('past', row.past);
    if (row.current) btn.setAttribute('aria-current', 'step'); else btn.removeAttribute('aria-current');
    setText(btn.querySelector('.left'), row.left);
    btn.disabled = row.disabled;
  }

  setText($('participants'), screen.participants);
  setText($('done-count'), screen.done);
}

function renderSummary(finished) {
  const lines = finished ? summaryLines(live.summary) : [];
  $('summary').hidden = lines.length === 0;
  const list = $('summary-list');
  if (list.dataset.text !== lines.join('|')) {
    fillList(list, lines);
    list.dataset.text = lines.join('|');
    fillList($('summary-steps'), finished ? summarySteps(live.summary) : []);
  }
}

function renderDoneLists(screen) {
  const lists = screen.status === 'running' || screen.status === 'paused' ? doneLists(live.presence, screen.index) : null;
  $('done-lists').hidden = !lists;
  if (!lists) return;
  setText($('done-n'), String(lists.doneCount));
  setText($('out-n'), String(lists.outCount));
  setText($('done-names'), lists.done);
  setText($('out-names'), lists.out);
}

function renderNames(p) {
  const names = p.names ?? [];
  fillList($('names'), names);
  $('names-empty').hidden = names.length > 0;
}

// --- server events ------------------------------------------------------------------------

connectionIndicator(live);
live.on('welcome', (msg) => {
  if (msg.class) { buildPlan(msg.class); buildPresets(msg.class); }
  showJoin();
  sent.length = 0;
  for (const a of msg.announcements ?? []) addHistory(a);
  renderHistory();
});
live.on('presence', renderNames);

// --- "I need to stop" alerts: stay until the instructor says they have seen each ----------

// A stop signal must be noticed: a tone (sound is unlocked by the console's first click) and a buzz.
const signals = new Signals();
document.addEventListener('pointerdown', () => { if (!signals.enabled) signals.enable(); }, { once: true });
let alertCount = 0;
function renderAlerts() {
  const lines = alertLines(live.alerts, live.plan, live.serverNow());
  $('alerts').hidden = lines.length === 0;
  const list = $('alert-list');
  list.replaceChildren(...lines.map((line) => {
    const li = document.createElement('li');
    const text = document.createElement('strong');
    text.textContent = line.text;
    const detail = document.createElement('span');
    detail.className = 'muted';
    detail.textContent = ` ${line.detail}`;
    const seen = document.createElement('button');
    seen.type = 'button';
    seen.className = 'primary';
    seen.textContent = 'Seen';
    seen.dataset.client = String(line.client);
    seen.setAttribute('aria-label', `Seen: ${line.text}`);
    seen.addEventListener('click', () => live.send({ type: 'ack-stop', client: line.client }));
    li.append(text, detail, seen);
    return li;
  }));
  if (lines.length > alertCount) { signals.beep(880, 0.3); signals.vibrate([200, 80, 200]); }
  alertCount = lines.length;
}
live.on('alerts', renderAlerts);
setInterval(() => { if (live.alerts.length) renderAlerts(); }, 10_000);   // keep "N s ago" honest

const errorText = {
  'bad-token': 'The instructor token was refused. Open the instructor link that classctl start printed.',
  'unknown-class': `There is no class "${code}" on this server.`,
};
const errorBanner = new Banner('error', 'error-text', 'error-close', 15_000);
function showError(text) { errorBanner.show(text, true); }
live.on('error', (msg) => {
  if (msg.code === 'bad-token') {
    // Lasting, not a banner: the note under the controls says what is wrong and what to do.
    // The token is forgotten, so reconnecting does not send it again: the page watches.
    tokenRefused = true;
    token = null;
    try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* not kept */ }
    return;
  }
  showError(errorText[msg.code] ?? msg.message ?? `Error: ${msg.code}`);
});

// --- announcements ---------------------------------------------------------------------

// Sent announcements (this run's, newest first) and the plan's ready-made ones.
const sent = [];
function addHistory(a) {
  if (sent.some((h) => h.id === a.id && h.at === a.at)) return;
  sent.push(a);
}
function renderHistory() {
  const items = [...sent].sort((a, b) => b.at - a.at).map((a) => `${clockTime(a.at, 0)} ${a.text}`);
  fillList($('announce-history'), items);
  $('history-empty').hidden = items.length > 0;
}
live.on('announce', (msg) => { addHistory(msg); renderHistory(); });

function sendAnnouncement(text) {
  if (isReplay()) return false;
  if (!isInstructor()) { showError('Only the instructor can send announcements.'); return false; }
  if (!live.send({ type: 'announce', text })) { showError('Not connected: the announcement was not sent.'); return false; }
  return true;
}

function buildPresets(plan) {
  const presets = plan.announcements ?? [];
  $('presets').hidden = presets.length === 0;
  $('presets').replaceChildren(...presets.map((text) => {
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'preset';
    btn.textContent = text;
    btn.setAttribute('aria-label', `Send: ${text}`);
    btn.addEventListener('click', () => { if (sendAnnouncement(text)) setText($('announce-count'), 'Sent ✓'); });
    return btn;
  }));
}

const announceBox = $('announce-text');
announceBox.addEventListener('input', () => setText($('announce-count'), `${announceBox.value.length} / 280`));
$('announce-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = announceBox.value.trim();
  if (!text) return;
  if (sendAnnouncement(text)) {
    announceBox.value = '';
    setText($('announce-count'), 'Sent ✓');
  }
});

// --- join link and QR ----------------------------------------------------------------------

// One public link everywhere: the server's (welcome.join, what the QR code encodes), or this
// page's own address until the server has said it.
let joinUrl = `${location.origin}/${code ? `c/${encodeURIComponent(code)}` : ''}`;
const qrUrl = `/c/${encodeURIComponent(code ?? '')}/qr.svg`;
setText($('class-code'), code ?? '');
function showJoin() {
  if (live.join) joinUrl = live.join;
  $('join-link').href = joinUrl;
  setText($('join-link'), joinUrl);
  setText($('qr-link'), joinUrl);
}
showJoin();
$('qr').src = qrUrl;
$('screen-link').href = `/c/${encodeURIComponent(code ?? '')}/screen`;

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
renderLoop(render, live);
