// ClockSync of web-static/app/clock.js with known samples. Run: node --test Tests/web/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockSync, localNow } from '../../web-static/app/clock.js';

// A server clock 5 000 ms ahead of ours; `up` and `down` are the one-way delays.
function exchange(clock, t0, up, down, serverWork = 0, offset = 5_000) {
  const t1 = t0 + up + offset;
  const t2 = t1 + serverWork;
  const t3 = t0 + up + serverWork + down;
  clock.add(t0, t1, t2, t3);
  return t3;
}

test('one symmetric exchange gives the exact offset and its round trip', () => {
  const c = new ClockSync();
  exchange(c, 1_000, 20, 20, 3);
  assert.equal(c.samples.length, 1);
  assert.equal(c.samples[0].rtt, 40);              // the server's 3 ms are not part of it
  assert.equal(c.offsetAt(1_100), 5_000);
  assert.equal(c.best(1_100).offset, 5_000);
});

test('an asymmetric path is off by half the difference of the two ways', () => {
  const c = new ClockSync();
  exchange(c, 0, 30, 10);
  assert.equal(c.samples[0].offset, 5_010);         // ((up − down) / 2 = 10 ms)
  assert.equal(c.samples[0].rtt, 40);
});

test('the offset is the mean of the three samples with the smallest error bound', () => {
  const c = new ClockSync();
  exchange(c, 0, 50, 50);        // rtt 100, offset exact
  exchange(c, 200, 5, 1);        // rtt 6, offset +2
  exchange(c, 400, 2, 6);        // rtt 8, offset −2
  exchange(c, 600, 10, 2);       // rtt 12, offset +4
  exchange(c, 800, 80, 10);      // rtt 90, offset +35
  const now = 1_000;
  assert.deepEqual(c.ranked(now).map((s) => s.rtt), [6, 8, 12, 90, 100]);
  assert.equal(c.offsetAt(now), 5_000 + (2 - 2 + 4) / 3);
});

test('a fresher sample wins when its longer round trip is outweighed by the older one\'s drift', () => {
  // Bound = rtt / 2 + age × 100 ppm: 60 s of age costs 6 ms, as much as 12 ms more round trip.
  const fresher = (rtt) => {
    const c = new ClockSync();
    exchange(c, 0, 5, 5, 0, 5_000);              // rtt 10, taken at 10
    exchange(c, 60_000, rtt / 2, rtt / 2, 0, 5_009);   // taken 60 s later
    return c;
  };
  assert.equal(fresher(20).best(60_100).rtt, 20);    // 10 + 0.01 < 5 + 6.01
  assert.equal(fresher(24).best(60_100).rtt, 10);    // 12 + 0.01 > 5 + 6.01
  assert.equal(fresher(20).best(100_000).rtt, 20);   // the order stays as both age
});

test('samples older than two minutes are forgotten when a new one comes', () => {
  const c = new ClockSync();
  exchange(c, 0, 5, 5);
  exchange(c, 100_000, 5, 5);
  assert.equal(c.samples.length, 2);
  exchange(c, 130_000, 5, 5);
  assert.deepEqual(c.samples.map((s) => s.at), [100_010, 130_010]);
});

test('impossible samples are ignored; without samples the rough welcome offset is used', () => {
  const c = new ClockSync();
  c.roughOffset = 1_234;
  c.add(100, 5_000, 5_000, 90);             // answer before question: negative round trip
  c.add(100, NaN, 5_000, 120);
  c.add(100, 5_000, 5_000);                 // missing t3
  assert.equal(c.samples.length, 0);
  assert.equal(c.best(200), null);
  assert.equal(c.offsetAt(200), 1_234);
});

test('localNow reads the monotonic clock', () => {
  const a = localNow();
  const b = localNow();
  assert.ok(b >= a && Math.abs(a - Date.now()) < 1_000);
});
