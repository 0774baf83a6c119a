// The page's estimate of server time: NTP-style samples from `time` exchanges
// (docs/protocol.md, docs/sync.md). No DOM; `localNow` reads the clock only when called.

/** Local time in ms. performance.* is monotonic, so a wall-clock jump on the phone
 *  (NTP correction, manual change) cannot move our estimate of server time. */
export const localNow = () => performance.timeOrigin + performance.now();

const SAMPLE_MAX_AGE_MS = 120_000;
const DRIFT_BOUND = 100e-6;    // two clocks may drift apart by up to 100 ppm (0.1 ms/s)
const BEST_SAMPLES = 3;        // the offset is the mean of this many most trustworthy samples

/** Keeps time samples and answers with the offset of the most trustworthy ones. A sample's
 *  error is bounded by half its round trip (a fully one-sided path) plus the drift since it
 *  was taken, so a fresh sample beats an old one whose round trip was barely shorter.
 *  Averaging the best few (not just the best) halves out the jitter left in each: on a
 *  150 ms ± 20% link it cuts the p95 error from ~9 to ~7 ms (docs/sync.md).
 *  `now` arguments default to `localNow()`; tests pass their own. */
export class ClockSync {
  samples = [];
  roughOffset = 0; // from `welcome.serverTime`, until a real sample exists

  /** One exchange: t0 sent and t3 received on our clock, t1 received and t2 sent on the server's. */
  add(t0, t1, t2, t3) {
    const rtt = (t3 - t0) - (t2 - t1);
    const offset = ((t1 - t0) + (t2 - t3)) / 2;
    if (!(rtt >= 0) || !Number.isFinite(offset)) return;
    this.samples.push({ offset, rtt, at: t3 });
    const oldest = t3 - SAMPLE_MAX_AGE_MS;
    this.samples = this.samples.filter((s) => s.at >= oldest);
  }

  /** The samples by error bound, most trustworthy first. */
  ranked(now = localNow()) {
    const bound = (s) => s.rtt / 2 + Math.max(0, now - s.at) * DRIFT_BOUND;
    return this.samples.map((s) => ({ s, b: bound(s) })).sort((x, y) => x.b - y.b).map((x) => x.s);
  }

  best(now = localNow()) { return this.ranked(now)[0] ?? null; }

  /** Server time minus local time, as known at local time `now`. */
  offsetAt(now = localNow()) {
    const top = this.ranked(now).slice(0, BEST_SAMPLES);
    if (!top.length) return this.roughOffset;
    return top.reduce((sum, s) => sum + s.offset, 0) / top.length;
  }

  get offset() { return this.offsetAt(); }
}
