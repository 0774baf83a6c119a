// DOM widgets both pages use. They only write what view-model.js decided into elements
// found by id (the ids are in participant.html and instructor.html; the browser tests use them).
import { connectionLabel } from './view-model.js';

export const byId = (id) => document.getElementById(id);

/** Set text only when it changed: cheap, and aria-live regions announce only real changes. */
export function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}

/** Replace a list's items with one <li> per text. */
export function fillList(list, texts) {
  list.replaceChildren(...texts.map((text) => {
    const li = document.createElement('li');
    li.textContent = text;
    return li;
  }));
}

/** The connection indicator in the top bar (dot + words) and `<body data-connection>`.
 *  `following()`: whether the page keeps a running class going by itself (`followingPlan`);
 *  then, cut off, it says so calmly (`<body data-following>`), not as an error. */
export function connectionIndicator(live, following = () => false) {
  const show = () => {
    const name = live.connection;
    const calm = following() && connectionLabel(name, true) !== connectionLabel(name);
    document.body.dataset.connection = name;
    document.body.toggleAttribute('data-following', calm);
    setText(byId('conn-text'), connectionLabel(name, calm));
  };
  live.on('connection', show);
  live.on('state', show);
}

/** The "now" card both pages share, from a participantScreen/consoleScreen: `<body>` data
 *  attributes, class title, position, step title, cue, big number, paused label, "Next:" line. */
export function showNow(screen) {
  const body = document.body.dataset;
  body.status = screen.status;
  body.step = screen.index ?? '';
  if (screen.role !== undefined) body.role = screen.role;
  setText(byId('class-title'), screen.classTitle);
  if (screen.documentTitle) document.title = screen.documentTitle;
  setText(byId('position'), screen.position);
  setText(byId('step-title'), screen.stepTitle);
  setText(byId('cue'), screen.cue);
  const big = byId('big');
  big.hidden = !screen.big;
  setText(big, screen.big?.text ?? '');
  big.classList.toggle('distance', Boolean(screen.big?.distance));
  byId('paused-label').hidden = !screen.paused;
  setText(byId('next'), screen.next);
}

/** A dismissable banner (box with a text element and a close button) that hides itself
 *  `hideAfterMs` after it was last shown. */
export class Banner {
  constructor(boxId, textId, closeId, hideAfterMs) {
    this.box = byId(boxId);
    this.text = byId(textId);
    this.hideAfterMs = hideAfterMs;
    this.timer = null;
    byId(closeId).addEventListener('click', () => this.hide());
  }

  show(text, alert = false) {
    setText(this.text, text);
    this.box.hidden = false;
    this.box.classList.toggle('error', alert);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.hide(), this.hideAfterMs);
  }

  hide() { this.box.hidden = true; }
}
