// The pages' frame loop. It is also where pending states land: see renderLoop.

/** Calls `frame()` on every animation frame while visible, and twice a second while
 *  hidden (rAF stops then, but state changes should still be applied and spoken).
 *
 *  Before drawing, each Live in `lives` applies a pending state if its effectiveAt is nearer
 *  to this frame than to the next one (`Live.beforeFrame`). Applying it from a timer instead
 *  would show it only at the next frame, 0 to 1 frame late (0-16.7 ms at 60 Hz, +8 ms on
 *  average); this way the change lands within half a frame of effectiveAt, early or late. */
export function renderLoop(frame, ...lives) {
  let last = null;
  const gaps = [];  // the last few frame intervals; their minimum is the display's period
  const tick = (ts) => {
    if (last !== null) {
      gaps.push(ts - last);
      if (gaps.length > 30) gaps.shift();
    }
    last = ts;
    // A dropped frame makes one long gap: the smallest recent gap is the real period.
    const frameMs = gaps.length ? Math.min(34, Math.max(4, Math.min(...gaps))) : 1000 / 60;
    for (const live of lives) live.beforeFrame(frameMs);
    frame();
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  setInterval(() => { if (document.visibilityState !== 'visible') frame(); }, 500);
}
