// Formatting of times and distances for both pages. Pure: no DOM, no clock.

/** 83_400 → "1:24" (rounded up: "0:00" only when time is really up); "1:02:03" past an hour. */
export function formatClock(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** 25 → "25 m", 1500 → "1.5 km", 2000 → "2 km". */
export function formatDistance(meters) {
  return meters >= 1000 ? `${(meters / 1000).toFixed(meters % 1000 === 0 ? 0 : 1)} km` : `${meters} m`;
}

/** "4:00" for a timed step, "25 m" for a distance step, "" for neither. */
export function formatLength(step) {
  if (step.durationMs != null) return formatClock(step.durationMs);
  if (step.distanceMeters != null) return formatDistance(step.distanceMeters);
  return '';
}

/** The big number of a step in class: the time left, or the distance when it has no end time. */
export function formatBig(remainingMs, step) {
  return remainingMs != null ? formatClock(remainingMs) : formatDistance(step.distanceMeters ?? 0);
}

/** Whole minutes, rounded: 1_530_000 → 26. */
export const wholeMinutes = (ms) => Math.round(ms / 60000);
