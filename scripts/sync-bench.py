#!/usr/bin/env python3
"""How closely do phones switch together? A harness with delayed links and wrong clocks.

It starts the real `classctl start`, gives every simulated phone its own delaying TCP proxy
(one-way delay D ms, uniform jitter, order preserved) and its own wrong clock (shifted by
seconds and drifting), opens the participant page through that proxy in headless Chromium,
drives a class of short timed steps plus instructor commands (next, pause, resume), and
compares the TRUE instant each page switched with the `effectiveAt` the server scheduled.

All processes share this machine's clock, so the truth is available: the injected script
keeps the real `performance` clock (`window.__trueNow()`) before it fakes the page's one.

Per change and phone it records two instants:
  applied  Live.apply() ran (the state became current in live.js);
  painted  the DOM showed it (body data-step/data-status changed in the rAF render).
"painted" is what the target refers to: the step change the participant sees.

Usage: scripts/sync-bench.py [--delays 20,80,150] [--shifts -7000,3000,12000] [--steps 16]
Output: a Markdown table on stdout, test-output/sync/<run>.jsonl and <run>.md.
See docs/sync.md for the method and the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"listening:\s+http://[\d.]+:(\d+)")


# --- delayed links --------------------------------------------------------------------------

class DelayLink:
    """One phone's network: a TCP proxy on 127.0.0.1 that holds every chunk, in each
    direction, for `delay_ms` ± `jitter` (uniform share of the delay) before forwarding it.
    A chunk never overtakes the one before it (TCP keeps order, so a real link's jitter
    shows up as bunching, not reordering)."""

    def __init__(self, upstream_port: int, delay_ms: float, jitter: float, rng: random.Random):
        self.upstream_port = upstream_port
        self.delay_ms = delay_ms
        self.jitter = jitter
        self.rng = rng
        self.port = 0
        self.lateness_ms: list[float] = []  # how late each chunk left vs its planned instant
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self.server:
            self.server.close()

    def _one_way_s(self) -> float:
        spread = self.delay_ms * self.jitter
        return (self.delay_ms + self.rng.uniform(-spread, spread)) / 1000

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(self._pipe(client_r, up_w), self._pipe(up_r, client_w),
                                 return_exceptions=True)
        except asyncio.CancelledError:
            pass  # shutting down: asyncio's server would log a cancelled handler as an error
        finally:
            for w in (client_w, up_w):
                w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def deliver() -> None:
            while (item := await queue.get()) is not None:
                release, data = item
                wait = release - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.lateness_ms.append((loop.time() - release) * 1000)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        sender = asyncio.create_task(deliver())
        last_release = 0.0
        try:
            while data := await reader.read(65536):
                last_release = max(loop.time() + self._one_way_s(), last_release)
                await queue.put((last_release, data))
        except (ConnectionError, OSError):
            pass
        finally:
            await queue.put(None)
        try:
            await sender
        except (ConnectionError, OSError):
            pass


# --- the page's wrong clock and the recorder ---------------------------------------------------

# Runs before any page script (CDP Page.addScriptToEvaluateOnNewDocument). Fakes the page's
# clocks (performance.timeOrigin/now and Date.now: shifted by SHIFT ms, running DRIFT ppm
# fast) and records, on the real clock, what live.js does. It hooks the `Live` instance when
# participant.js publishes `window.__classctl`, so live.js itself needs no test code.
PAGE_SCRIPT = r"""
(() => {
  const SHIFT = %(shift)s, DRIFT = %(drift)s;
  const perf = performance;
  const realNow = perf.now.bind(perf);
  const realOrigin = perf.timeOrigin;
  const realDateNow = Date.now.bind(Date);
  const trueNow = () => realOrigin + realNow();
  const fakePerfNow = () => realNow() * (1 + DRIFT * 1e-6);
  Object.defineProperty(perf, 'now', { value: fakePerfNow, configurable: true });
  Object.defineProperty(perf, 'timeOrigin', { get: () => realOrigin + SHIFT, configurable: true });
  Date.now = () => Math.floor(realOrigin + SHIFT + fakePerfNow());
  window.__trueNow = trueNow;

  const rec = { shift: SHIFT, drift: DRIFT, states: [], applies: [], paints: [], clock: [],
                dateSkew: realDateNow() - trueNow(), visibility: [] };
  window.__syncBench = rec;

  function hook(live) {
    const receiveState = live.receiveState.bind(live);
    live.receiveState = (s) => {
      rec.states.push({ seq: s.seq, status: s.status, step: s.step, effectiveAt: s.effectiveAt,
                        serverTime: s.serverTime, trueAt: trueNow() });
      receiveState(s);
    };
    const apply = live.apply.bind(live);
    live.apply = (s) => {
      rec.applies.push({ seq: s.seq, status: s.status, step: s.step, effectiveAt: s.effectiveAt,
                         trueAt: trueNow(), estAt: live.serverNow(), predicted: Boolean(s.predicted) });
      apply(s);
    };
    // The estimate's error on the true clock (the server's clock is this machine's).
    setInterval(() => {
      rec.clock.push({ trueAt: trueNow(), err: live.serverNow() - trueNow(),
                       samples: live.clock.samples.length, rtt: live.clock.best()?.rtt ?? null });
    }, 250);
    // render() rewrites body data-status/data-step on every frame; keep only real changes.
    let shown = null;
    new MutationObserver(() => {
      const b = document.body;
      if (!b) return;
      const key = `${b.dataset.status}|${b.dataset.step}`;
      if (key === shown) return;
      shown = key;
      rec.paints.push({ status: b.dataset.status, step: b.dataset.step, seq: live.state?.seq ?? null,
                        trueAt: trueNow() });
    }).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-status', 'data-step'] });
  }

  let api;
  Object.defineProperty(window, '__classctl', {
    configurable: true,
    get: () => api,
    set: (v) => { api = v; if (v && v.live) hook(v.live); },
  });
  // Frame pacing: how many frames, and the long gaps (a busy CPU drops frames).
  rec.frames = { count: 0, longGaps: 0, maxGap: 0 };
  let lastFrame = null;
  const frame = (ts) => {
    if (lastFrame !== null) {
      const gap = ts - lastFrame;
      if (gap > 25) rec.frames.longGaps += 1;
      if (gap > rec.frames.maxGap) rec.frames.maxGap = gap;
    }
    lastFrame = ts;
    rec.frames.count += 1;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  document.addEventListener('visibilitychange', () => rec.visibility.push([trueNow(), document.visibilityState]));
})();
"""


# --- the server, the instructor and an observer on a direct link -------------------------------

def make_plan(steps: int, step_s: int) -> str:
    lines = ["title: Sync bench", "goal: custom", 'safety: ["Clear space behind you"]', "segments:"]
    kinds = ["walk", "jog", "rest"]
    for i in range(steps):
        lines.append(f"  - {{kind: {kinds[i % 3]}, title: Step {i + 1}, duration: {step_s}s}}")
    return "\n".join(lines) + "\n"


def start_server(binary: Path, plan: Path, code: str, token: str, lead_ms: int, record_dir: Path,
                 web_root: Path, log_path: Path) -> tuple[subprocess.Popen, int]:
    args = [str(binary), "start", str(plan), "--host", "127.0.0.1", "--port", "0", "--code", code,
            "--token", token, "--lead-ms", str(lead_ms), "--record-dir", str(record_dir),
            "--web-root", str(web_root), "--fresh"]
    log = open(log_path, "w")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
    port: list[int] = []
    ready = threading.Event()

    def pump() -> None:  # keep reading, or a chatty server blocks on a full pipe
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if not port and (m := LISTENING.search(line)):
                port.append(int(m.group(1)))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    ready.wait(20)
    if not port:
        proc.kill()
        raise SystemExit(f"classctl did not print 'listening:' (log: {log_path})")
    return proc, port[0]


class Instructor:
    """A `websockets` instructor on a direct link. It also keeps every `state` it gets:
    that is the server's schedule (seq → effectiveAt) the phones are compared with."""

    def __init__(self, port: int, code: str, token: str):
        self.url = f"ws://127.0.0.1:{port}/ws?class={code}"
        self.token = token
        self.states: list[dict] = []
        self.errors: list[dict] = []
        self.ws = None

    async def connect(self) -> None:
        import websockets
        self.ws = await websockets.connect(self.url, max_size=1 << 20)
        await self.ws.send(json.dumps({"type": "hello", "role": "instructor", "token": self.token}))
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if msg.get("type") == "state":
                msg["arrivedAt"] = time.time() * 1000
                self.states.append(msg)
            elif msg.get("type") == "welcome" and msg.get("role") == "instructor":
                self.role_ok = True
            elif msg.get("type") == "error":
                self.errors.append(msg)

    async def command(self, name: str) -> None:
        await self.ws.send(json.dumps({"type": "command", "command": name}))

    async def close(self) -> None:
        await self.ws.close()


class Loop:
    """An asyncio loop on its own thread (proxies, instructor) while Selenium runs here."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def cancel_all() -> None:  # open links' pumps: end them before the loop goes
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self.run(cancel_all(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


# --- browsers --------------------------------------------------------------------------------

CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--mute-audio",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows", "--window-size=500,844")


def new_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROME_BIN") or shutil.which("chromium") or "chromium"
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    driver_path = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)


@dataclass
class Phone:
    name: str
    delay_ms: int
    shift_ms: int
    drift_ppm: float
    link: DelayLink
    driver: object = None
    window: str = ""
    record: dict = field(default_factory=dict)


def open_phone(phone: Phone, driver, first: bool, code: str) -> None:
    if not first:
        driver.switch_to.new_window("window")
    phone.driver, phone.window = driver, driver.current_window_handle
    # CDP commands go to the current window's target: each window gets its own clock.
    driver.execute_cdp_cmd("Page.enable", {})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {
        "source": PAGE_SCRIPT % {"shift": phone.shift_ms, "drift": phone.drift_ppm}})
    # Headless windows are all "visible", but a window is never occluded only if it has focus
    # emulation: keep rAF running at 60 Hz in every window.
    driver.execute_cdp_cmd("Emulation.setFocusEmulationEnabled", {"enabled": True})
    driver.get(f"http://127.0.0.1:{phone.link.port}/c/{code}")


def page_eval(phone: Phone, script: str):
    phone.driver.switch_to.window(phone.window)
    return phone.driver.execute_script(script)


# --- analysis ----------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p95 is a value that occurred)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def changes_from(states: list[dict]) -> list[dict]:
    """The states that changed what a phone shows (step or status), with how they came:
    `auto` when a timed step ran out (effectiveAt = the previous state's stepEndsAt)."""
    out, prev = [], None
    for s in sorted(states, key=lambda s: s["seq"]):
        if prev is None or (s["status"], s["step"]) != (prev["status"], prev["step"]):
            auto = bool(prev and prev["status"] == "running" and prev.get("stepEndsAt") == s["effectiveAt"])
            out.append({**s, "cause": "auto" if auto else "command",
                        "leadSeenMs": s["effectiveAt"] - s["arrivedAt"]})
        prev = s
    return out


def samples_for(phone: Phone, changes: list[dict]) -> list[dict]:
    """One row per (change, phone): applied and painted error = true instant − effectiveAt."""
    rec = phone.record
    # The first time each seq became current: the phone's own prediction at a timed step's end
    # (when the server's state for it came late, see Live.follow) or the server's state.
    applies: dict[int, dict] = {}
    for a in rec.get("applies", []):
        applies.setdefault(a["seq"], a)
    received = {st["seq"]: st for st in rec.get("states", [])}
    paints: dict[int, dict] = {}
    for p in rec.get("paints", []):
        if p["seq"] is not None:
            paints.setdefault(p["seq"], p)
    rows = []
    for c in changes:
        a = applies.get(c["seq"])
        p = paints.get(c["seq"])
        got = received.get(c["seq"])
        rows.append({
            "phone": phone.name, "delayMs": phone.delay_ms, "shiftMs": phone.shift_ms,
            "driftPpm": phone.drift_ppm, "seq": c["seq"], "cause": c["cause"],
            "status": c["status"], "step": c["step"], "effectiveAt": c["effectiveAt"],
            "appliedErrMs": None if a is None else a["trueAt"] - c["effectiveAt"],
            # split of the applied error: the clock estimate's error + how late the timer fired
            "clockErrMs": None if a is None else a["estAt"] - a["trueAt"],
            "timerLateMs": None if a is None else a["estAt"] - c["effectiveAt"],
            "paintedErrMs": None if p is None else p["trueAt"] - c["effectiveAt"],
            # > 0: the state reached the page only after it was due (server or link too slow)
            "arrivedLateMs": None if got is None else got["trueAt"] - c["effectiveAt"],
        })
    return rows


def summarize(rows: list[dict], key: str) -> dict:
    errs = [r[key] for r in rows if r[key] is not None]
    by_change: dict[tuple, list[float]] = {}
    for r in rows:
        if r[key] is not None:  # a change is one seq of one run
            by_change.setdefault((r.get("run"), r["seq"]), []).append(r[key])
    spreads = [max(v) - min(v) for v in by_change.values() if len(v) > 1]
    absolute = [abs(e) for e in errs]
    return {
        "n": len(errs), "missing": sum(1 for r in rows if r[key] is None),
        "meanMs": sum(errs) / len(errs) if errs else math.nan,
        "p50": percentile(absolute, 50), "p95": percentile(absolute, 95),
        "max": max(absolute, default=math.nan),
        "spreadP95": percentile(spreads, 95), "spreadMax": max(spreads, default=math.nan),
    }


def fmt(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def error_table(rows: list[dict], delays: list[int]) -> list[str]:
    """|true instant − effectiveAt| per link class, and the spread across phones per change."""
    out = ["| link | measured | changes×phones | mean (signed) | p50 abs | p95 abs | max abs | spread p95 | spread max |",
           "|---|---|---|---|---|---|---|---|---|"]
    groups = [(f"{d} ms", [r for r in rows if r["delayMs"] == d]) for d in delays]
    groups.append(("all", rows))
    for key, label in (("paintedErrMs", "painted"), ("appliedErrMs", "applied")):
        for name, group in groups:
            s = summarize(group, key)
            out.append(f"| {name} | {label} | {s['n']}" + (f" ({s['missing']} missed)" if s["missing"] else "")
                       + f" | {fmt(s['meanMs'])} | {fmt(s['p50'])} | {fmt(s['p95'])} | {fmt(s['max'])}"
                       f" | {fmt(s['spreadP95'])} | {fmt(s['spreadMax'])} |")
    return out


def pool(paths: list[str]) -> int:
    """Pools the samples of earlier runs (their .jsonl files, or folders of them) in one table."""
    rows, runs = [], 0
    for p in paths:
        files = sorted(Path(p).glob("*.jsonl")) if Path(p).is_dir() else [Path(p)]
        for f in files:
            lines = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
            runs += 1
            rows += [{"run": f.stem, **r} for r in lines if r.get("kind") == "sample"]
    if not rows:
        print("no samples found", file=sys.stderr)
        return 1
    print(f"{runs} runs, {len(rows)} changes×phones")
    print()
    print("\n".join(error_table(rows, sorted({r["delayMs"] for r in rows}))))
    return 0


def report(rows: list[dict], phones: list[Phone], changes: list[dict], meta: dict) -> str:
    out = []
    n_changes = len(changes)
    causes = {c: sum(1 for ch in changes if ch["cause"] == c) for c in ("auto", "command")}
    out.append(f"{len(phones)} phones, {n_changes} changes ({causes['auto']} auto-advances, "
               f"{causes['command']} commands), lead {meta['leadMs']} ms, jitter ±{meta['jitter'] * 100:.0f}%")
    out.append("")
    out += error_table(rows, meta["delays"])
    out.append("")
    out.append("Applied error split (ms): clock = the estimate of server time minus the truth at apply;"
               " timer = the estimate at apply minus effectiveAt.")
    out.append("")
    out.append("| phone | link | clock shift | drift | clock err mean / max abs | timer late mean / max | painted p95 abs | frames > 25 ms / longest |")
    out.append("|---|---|---|---|---|---|---|---|")
    for ph in phones:
        mine = [r for r in rows if r["phone"] == ph.name and r["clockErrMs"] is not None]
        ce = [r["clockErrMs"] for r in mine]
        tl = [r["timerLateMs"] for r in mine]
        pe = [abs(r["paintedErrMs"]) for r in rows if r["phone"] == ph.name and r["paintedErrMs"] is not None]
        frames = ph.record.get("frames", {})
        out.append(f"| {ph.name} | {ph.delay_ms} ms | {ph.shift_ms / 1000:+.0f} s | {ph.drift_ppm:+.0f} ppm"
                   f" | {fmt(sum(ce) / len(ce) if ce else math.nan)} / {fmt(max(map(abs, ce), default=math.nan))}"
                   f" | {fmt(sum(tl) / len(tl) if tl else math.nan)} / {fmt(max(tl, default=math.nan))}"
                   f" | {fmt(percentile(pe, 95))}"
                   f" | {frames.get('longGaps', '–')} / {fmt(frames.get('maxGap'))} |")
    out.append("")
    late = [x for ph in phones for x in ph.link.lateness_ms]
    arrived_late = [r for r in rows if r["arrivedLateMs"] is not None and r["arrivedLateMs"] > 0]
    out.append(f"States that reached a page after their effectiveAt: {len(arrived_late)} of {len(rows)}"
               + (f" (by up to {fmt(max(r['arrivedLateMs'] for r in arrived_late))} ms)" if arrived_late else "")
               + ".")
    out.append(f"Load: CPU busy {meta['cpuBusy'] * 100:.0f}% of {os.cpu_count()} cores during the class "
               f"(load average {meta['loadAvg']:.1f} at the end); "
               f"proxy chunks late vs plan p95 {fmt(percentile(late, 95))} ms, max {fmt(max(late, default=math.nan))} ms; "
               f"states seen by the instructor {fmt(min((c['leadSeenMs'] for c in changes), default=math.nan))} ms "
               f"before effectiveAt at the least.")
    return "\n".join(out)


def cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


# --- the run --------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delays", default="20,80,150", help="one-way link delays in ms (default 20,80,150)")
    ap.add_argument("--shifts", default="-7000,3000,12000", help="clock shifts in ms, one phone per delay×shift")
    ap.add_argument("--drifts", default="50,0,-50", help="clock drift in ppm, paired with --shifts")
    ap.add_argument("--jitter", type=float, default=0.2, help="uniform jitter as a share of the delay (0.2 = ±20%%)")
    ap.add_argument("--steps", type=int, default=16, help="timed steps in the plan")
    ap.add_argument("--step-seconds", type=int, default=3)
    ap.add_argument("--lead-ms", type=int, default=300)
    ap.add_argument("--windows-per-browser", type=int, default=3, help="phones per Chromium instance")
    ap.add_argument("--settle", type=float, default=4.0, help="seconds after the pages connect, for clock sync")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bin", default=os.environ.get("CLASSCTL_BIN", str(ROOT / ".build" / "release")))
    ap.add_argument("--web-root", default=str(ROOT / "web-static"),
                    help="the pages to serve (default: this tree's web-static, live.js included)")
    ap.add_argument("--out", default=str(ROOT / "test-output" / "sync"))
    ap.add_argument("--pool", nargs="+", metavar="JSONL_OR_DIR",
                    help="no run: print one table of the samples of earlier runs")
    args = ap.parse_args()
    if args.pool:
        return pool(args.pool)

    delays = [int(x) for x in args.delays.split(",")]
    shifts = [int(x) for x in args.shifts.split(",")]
    drifts = [float(x) for x in args.drifts.split(",")]
    if len(drifts) != len(shifts):
        ap.error("--drifts needs one value per --shifts value")
    binary = Path(args.bin) / "classctl"
    if not binary.is_file():
        ap.error(f"no classctl at {binary}: swift build -c release --product classctl, or --bin")
    rng = random.Random(args.seed)
    code, token = "SYNC", secrets.token_hex(8)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    work = Path(tempfile.mkdtemp(prefix="sync-bench-"))
    plan = work / "plan.yaml"
    plan.write_text(make_plan(args.steps, args.step_seconds))
    (work / "records").mkdir()

    server, port = start_server(binary, plan, code, token, args.lead_ms, work / "records",
                                Path(args.web_root), work / "server.log")
    loop = Loop()
    drivers = []
    phones: list[Phone] = []
    try:
        for d in delays:
            for s, dr in zip(shifts, drifts):
                link = DelayLink(port, d, args.jitter, random.Random(rng.random()))
                loop.run(link.start())
                phones.append(Phone(f"d{d}{s / 1000:+.0f}s", d, s, dr, link))
        for i, phone in enumerate(phones):
            first = i % args.windows_per_browser == 0
            if first:
                drivers.append(new_driver())
            open_phone(phone, drivers[-1], first, code)
        for phone in phones:  # every page connected and welcomed
            deadline = time.monotonic() + 20
            while not page_eval(phone, "return !!(window.__classctl && window.__classctl.live.plan)"):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{phone.name}: the page never got `welcome`")
                time.sleep(0.1)
        hidden = [p.name for p in phones if page_eval(p, "return document.visibilityState") != "visible"]
        if hidden:
            print(f"warning: pages not visible (rAF throttled): {hidden}", file=sys.stderr)
        time.sleep(args.settle)

        instructor = Instructor(port, code, token)
        loop.run(instructor.connect())
        cpu0 = cpu_times()
        t_start = time.monotonic()
        # The class: timed steps advance by themselves; between them, commands at random
        # instants. A command landing right after an auto-advance makes a phone skip the
        # first of the two states (it shows the newest due one): counted as "missed".
        loop.run(instructor.command("start"))
        class_s = args.steps * args.step_seconds
        step_s = args.step_seconds
        script = []
        t = 1.0
        while t < class_s * 0.8:
            t += rng.uniform(step_s * 0.7, step_s * 1.6)
            script.append((t, rng.choice(["next", "pause"])))
        paused = False
        for at, cmd in script:
            while time.monotonic() - t_start < at:
                time.sleep(0.01)
            if cmd == "pause" and not paused:
                loop.run(instructor.command("pause"))
                paused = True
                time.sleep(rng.uniform(0.8, 1.5))
                loop.run(instructor.command("resume"))
                paused = False
            elif cmd == "next":
                loop.run(instructor.command("next"))
        # Let the remaining timed steps run out (bounded).
        deadline = time.monotonic() + class_s + 10
        while (not instructor.states or instructor.states[-1]["status"] != "finished") and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        cpu1 = cpu_times()
        busy = 1 - (cpu1[1] - cpu0[1]) / max(1, cpu1[0] - cpu0[0])

        for phone in phones:
            phone.record = page_eval(phone, "return window.__syncBench")
        loop.run(instructor.close())

        changes = [c for c in changes_from(instructor.states) if c["status"] != "idle"]
        rows = [{"run": run_id, **r} for ph in phones for r in samples_for(ph, changes)]
        meta = {"run": run_id, "leadMs": args.lead_ms, "jitter": args.jitter, "delays": delays,
                "shifts": shifts, "drifts": drifts, "steps": args.steps, "stepSeconds": args.step_seconds,
                "windowsPerBrowser": args.windows_per_browser, "cpuBusy": busy,
                "loadAvg": os.getloadavg()[0], "webRoot": args.web_root,
                "instructorErrors": instructor.errors}
        text = report(rows, phones, changes, meta)
        print(text)
        with open(out_dir / f"{run_id}.jsonl", "w") as f:
            f.write(json.dumps({"kind": "meta", **meta}) + "\n")
            for key in ("paintedErrMs", "appliedErrMs"):
                for d in [*delays, None]:
                    group = [r for r in rows if d is None or r["delayMs"] == d]
                    f.write(json.dumps({"kind": "summary", "measured": key, "delayMs": d or "all",
                                        **summarize(group, key)}) + "\n")
            for c in changes:
                f.write(json.dumps({"kind": "change", **c}) + "\n")
            for r in rows:
                f.write(json.dumps({"kind": "sample", **r}) + "\n")
            for ph in phones:
                clock = ph.record.get("clock", [])
                f.write(json.dumps({"kind": "phone", "phone": ph.name, "delayMs": ph.delay_ms,
                                    "shiftMs": ph.shift_ms, "driftPpm": ph.drift_ppm,
                                    "dateSkewMs": ph.record.get("dateSkew"), "frames": ph.record.get("frames"),
                                    "clockErr": [[round(c["trueAt"]), round(c["err"], 2), c["rtt"]] for c in clock],
                                    "proxyLateP95Ms": percentile(ph.link.lateness_ms, 95)}) + "\n")
        (out_dir / f"{run_id}.md").write_text(text + "\n")
        print(f"\nwritten: {out_dir / (run_id + '.jsonl')} and .md", file=sys.stderr)
        return 0
    finally:
        for d in drivers:
            try:
                d.quit()
            except Exception:
                pass
        for ph in phones:
            loop.run(ph.link.close())
        loop.stop()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
