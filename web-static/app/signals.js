// Beeps, speech, vibration and keep-awake for the participant page: the phone is in a
// hand or on the track edge, so every change must be heard or felt, not only seen.

const VOICE_KEY = 'classctl.voice';

export class Signals {
  constructor() {
    this.audio = null;
    this.unlocked = false; // set by the first tap; before it, speech would be refused
    this.voice = storageGet(VOICE_KEY) !== 'off';
  }

  /** Browsers allow sound only after a tap; call this from the tap's handler. */
  enable() {
    this.unlocked = true;
    const Ctx = window.AudioContext ?? window.webkitAudioContext;
    if (Ctx && !this.audio) this.audio = new Ctx();
    this.audio?.resume?.().catch(() => {});
    // iOS unlocks speech only when the first utterance comes from a gesture.
    if (this.voice && 'speechSynthesis' in window) speechSynthesis.speak(new SpeechSynthesisUtterance(''));
    this.beep(880, 0.12);
  }

  get enabled() { return this.audio?.state === 'running'; }

  setVoice(on) {
    this.voice = on;
    storageSet(VOICE_KEY, on ? 'on' : 'off');
    if (!on && 'speechSynthesis' in window) speechSynthesis.cancel();
  }

  /** A short sine tone; frequency in Hz, length in seconds. */
  beep(freq = 880, seconds = 0.18) {
    const ctx = this.audio;
    if (!ctx || ctx.state !== 'running') return;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    const t = ctx.currentTime;
    osc.frequency.value = freq;
    // Ramp in and out: a hard start or stop of a sine clicks.
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.4, t + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + seconds);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t);
    osc.stop(t + seconds + 0.02);
  }

  say(text) {
    if (!this.unlocked || !this.voice || !text || !('speechSynthesis' in window)) return;
    speechSynthesis.cancel(); // the newest instruction matters, not a backlog
    speechSynthesis.speak(new SpeechSynthesisUtterance(text));
  }

  vibrate(pattern) {
    // Chrome refuses (and logs an error) until the page has had a tap.
    if (navigator.userActivation && !navigator.userActivation.hasBeenActive) return;
    navigator.vibrate?.(pattern);
  }

  /** A new step (or the end): long tone, buzz, and the words. */
  change(text) {
    this.beep(660, 0.35);
    this.vibrate([200, 80, 200]);
    this.say(text);
  }

  /** The last seconds of a timed step. */
  pip() {
    this.beep(990, 0.08);
    this.vibrate(60);
  }
}

/**
 * Screen Wake Lock: keeps the phone from sleeping mid-class. The lock is released
 * whenever the page is hidden, so it is asked for again on every return.
 * `report(message | null)` gets an honest sentence when it cannot be had.
 */
export function keepAwake(report) {
  if (!('wakeLock' in navigator)) {
    report(window.isSecureContext
      ? 'This browser cannot keep the screen awake: keep the screen on manually.'
      : 'Keep-awake needs HTTPS: keep the screen on manually.');
    return;
  }
  let lock = null;
  const acquire = async () => {
    if (lock || document.visibilityState !== 'visible') return;
    try {
      lock = await navigator.wakeLock.request('screen');
      report(null);
      lock.addEventListener('release', () => { lock = null; });
    } catch {
      report('The screen may go dark (keep-awake was refused): keep the screen on manually.');
    }
  };
  document.addEventListener('visibilitychange', acquire);
  acquire();
}

// localStorage throws in some private modes; settings are a nicety, not a must.
function storageGet(key) {
  try { return localStorage.getItem(key); } catch { return null; }
}

function storageSet(key, value) {
  try { localStorage.setItem(key, value); } catch { /* not persisted */ }
}

export { storageGet, storageSet };
