// Formatters of web-static/app/format.js. Run: node --test Tests/web/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatClock, formatDistance, formatLength, formatBig, wholeMinutes } from '../../web-static/app/format.js';

test('clock rounds up to the whole second, and shows 0:00 only when time is up', () => {
  assert.equal(formatClock(83_400), '1:24');
  assert.equal(formatClock(60_000), '1:00');
  assert.equal(formatClock(59_001), '1:00');
  assert.equal(formatClock(1), '0:01');
  assert.equal(formatClock(0), '0:00');
  assert.equal(formatClock(-5_000), '0:00');
});

test('clock past an hour has hours and two-digit minutes', () => {
  assert.equal(formatClock(3_600_000), '1:00:00');
  assert.equal(formatClock(3_723_000), '1:02:03');
  assert.equal(formatClock(36_000_000 - 1), '10:00:00');
});

test('distances: metres below a kilometre, km with one decimal unless whole', () => {
  assert.equal(formatDistance(25), '25 m');
  assert.equal(formatDistance(999), '999 m');
  assert.equal(formatDistance(1000), '1 km');
  assert.equal(formatDistance(1500), '1.5 km');
  assert.equal(formatDistance(2000), '2 km');
});

test('a step length is its duration, else its distance, else nothing', () => {
  assert.equal(formatLength({ durationMs: 240_000, distanceMeters: null }), '4:00');
  assert.equal(formatLength({ durationMs: null, distanceMeters: 25 }), '25 m');
  assert.equal(formatLength({ durationMs: 30_000, distanceMeters: 100 }), '0:30');
  assert.equal(formatLength({ durationMs: null, distanceMeters: null }), '');
});

test('the big number is the time left, or the distance on a step with no end time', () => {
  assert.equal(formatBig(4_200, { distanceMeters: null }), '0:05');
  assert.equal(formatBig(null, { distanceMeters: 25 }), '25 m');
  assert.equal(formatBig(null, {}), '0 m');
  assert.equal(wholeMinutes(1_530_000), 26);
  assert.equal(wholeMinutes(29_000), 0);
});
