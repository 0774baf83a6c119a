// The hook the browser tests and scripts/sync-bench.py use; no test code lives elsewhere.

/** Exposes `window.__classctl`: what is shown (`status`, `step`), when each change was shown
 *  (`switches`, server time), `serverNow()`, the `live` client itself (sync-bench hooks it),
 *  and `dropConnection(holdMs)` to cut the socket on purpose. `extra`: more page-specific getters. */
export function exposeForTests(live, extra = {}) {
  window.__classctl = Object.defineProperties({
    live,
    serverNow: () => live.serverNow(),
    dropConnection: (holdMs) => live.drop(holdMs),
  }, {
    status: { get: () => live.state?.status ?? null },
    step: { get: () => live.state?.step ?? null },
    switches: { get: () => live.switches },
    ...Object.getOwnPropertyDescriptors(extra),
  });
}
