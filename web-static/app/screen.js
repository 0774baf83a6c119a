// The big screen at the track (a TV or projector, /c/CODE/screen): before the start a lobby
// with the QR code, the join link and who joined; during the class the step, the countdown,
// round N of M, the treadmill settings and what comes next, in type readable from 10 m.
// It connects as a `watcher`: it follows the class and is not counted as a participant.
import { Live, classCodeFromPath } from './live.js';
import { renderLoop } from './render-loop.js';
import { exposeForTests } from './test-hook.js';
import { participantScreen, nextLine, describe } from './view-model.js';
import { summaryLines } from './gym.js';
import { byId as $, setText, fillList, connectionIndicator, showNow } from './widgets.js';

const code = classCodeFromPath(location.pathname);
const live = new Live({ code, hello: () => ({ type: 'hello', role: 'watcher' }) });

$('qr').src = `/c/${encodeURIComponent(code ?? '')}/qr.svg`;
const ownLink = `${location.origin}/c/${encodeURIComponent(code ?? '')}`;

function render() {
  const now = live.serverNow();
  const screen = participantScreen({ plan: live.plan, state: live.state, now, connection: live.connection });
  showNow(screen);
  const status = screen.status;
  const inClass = status === 'running' || status === 'paused';
  $('lobby').hidden = status !== 'idle' || !live.plan;
  $('class').hidden = !inClass;
  $('finished').hidden = status !== 'finished';
  setText($('replay'), screen.replay);
  $('replay').hidden = !screen.replay;
  setText($('treadmill'), screen.treadmill);
  $('treadmill').hidden = !screen.treadmill;
  setText($('stopwatch'), screen.stopwatch ? `⏱ ${screen.stopwatch}` : '');
  $('stopwatch').hidden = !screen.stopwatch;
  $('progress-fill').style.width = `${screen.progress}%`;
  $('progress-fill').parentElement.setAttribute('aria-valuenow', String(Math.round(screen.progress)));

  if (status === 'idle') {
    setText($('join-link'), (live.join ?? ownLink).replace(/^https?:\/\//, ''));
    setText($('first-step'), nextLine(describe(live.plan, live.state, now)));
  }
  const lines = status === 'finished' ? summaryLines(live.summary) : [];
  const list = $('summary-list');
  if (list.dataset.text !== lines.join('|')) { fillList(list, lines); list.dataset.text = lines.join('|'); }
}

/** Who joined: the count, and the names phones gave (the server sends names to consoles and
 *  watchers, not to participants). */
function renderPeople(p) {
  const n = p?.participants ?? 0;
  setText($('joined'), String(n));
  setText($('joined-word'), n === 1 ? 'phone joined' : 'phones joined');
  fillList($('lobby-names'), p?.names ?? []);
}

connectionIndicator(live);
live.on('presence', renderPeople);
exposeForTests(live);
live.connect();
renderLoop(render, live);
