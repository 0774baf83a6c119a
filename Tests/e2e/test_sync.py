"""Functional checks of the sync harness (scripts/sync-bench.py), not of its figures:
the delaying link delays and keeps order, the injected clock is wrong by the shift while
`__trueNow` stays right, the analysis pairs changes with phones, and a one-phone run of the
whole harness against the real server yields a sample for every change."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "sync-bench.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("sync_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["sync_bench"] = module
    spec.loader.exec_module(module)
    return module


bench = load_bench()


# --- the delaying link ------------------------------------------------------------------------

async def echo_through_link(delay_ms: float, jitter: float, chunks: list[bytes]):
    async def echo(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    link = bench.DelayLink(server.sockets[0].getsockname()[1], delay_ms, jitter, random.Random(7))
    port = await link.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # The first chunk alone, timed there and back.
    start = time.monotonic()
    writer.write(chunks[0])
    first = await asyncio.wait_for(reader.readexactly(len(chunks[0])), 5)
    round_trip_ms = (time.monotonic() - start) * 1000
    for c in chunks[1:]:
        writer.write(c)
        await writer.drain()
        await asyncio.sleep(0.002)  # separate chunks, so jitter could reorder them if allowed
    rest = await asyncio.wait_for(reader.readexactly(sum(map(len, chunks[1:]))), 5)
    writer.close()
    await link.close()
    server.close()
    return first + rest, round_trip_ms


def test_link_delays_each_direction_and_keeps_order():
    chunks = [f"chunk {i:03d};".encode() for i in range(40)]
    got, first_ms = asyncio.run(echo_through_link(60, 0.5, chunks))
    assert got == b"".join(chunks)          # nothing lost, nothing reordered despite ±50% jitter
    assert first_ms >= 2 * 60 * 0.5 - 1     # there and back, each at least delay − jitter
    assert first_ms < 2 * 60 * 1.5 + 100    # and not stuck


def test_link_without_delay_is_fast():
    got, first_ms = asyncio.run(echo_through_link(0, 0, [b"hello"]))
    assert got == b"hello"
    assert first_ms < 50


# --- the analysis ----------------------------------------------------------------------------------

def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert bench.percentile(values, 50) == 50
    assert bench.percentile(values, 95) == 95
    assert bench.percentile([3.0], 95) == 3.0
    assert bench.percentile([], 95) != bench.percentile([], 95)  # NaN for no data


def state(seq, status, step, effective_at, ends_at=None):
    return {"seq": seq, "status": status, "step": step, "effectiveAt": effective_at,
            "stepEndsAt": ends_at, "arrivedAt": effective_at - 300}


def test_changes_are_step_or_status_changes_with_their_cause():
    states = [
        state(1, "running", 0, 1000, ends_at=4000),   # start: a command
        state(2, "running", 1, 4000, ends_at=7000),   # timed step ran out: auto
        state(3, "running", 1, 4500, ends_at=8000),   # extend: same step and status, not a change
        state(4, "paused", 1, 5000),                  # pause: a command
    ]
    changes = bench.changes_from(states)
    assert [(c["seq"], c["cause"]) for c in changes] == [(1, "command"), (2, "auto"), (4, "command")]
    assert changes[0]["leadSeenMs"] == 300


def test_samples_pair_each_change_with_the_phone_record():
    link = bench.DelayLink(1, 20, 0.2, random.Random(1))
    phone = bench.Phone("p", 20, 3000, 0, link)
    phone.record = {
        "applies": [{"seq": 1, "trueAt": 1004.0, "estAt": 1001.0}],
        "paints": [{"seq": None, "trueAt": 500.0}, {"seq": 1, "trueAt": 1012.0}, {"seq": 1, "trueAt": 1030.0}],
    }
    changes = [{"seq": 1, "cause": "command", "status": "running", "step": 0, "effectiveAt": 1000},
               {"seq": 2, "cause": "auto", "status": "running", "step": 1, "effectiveAt": 4000}]
    rows = bench.samples_for(phone, changes)
    assert rows[0]["appliedErrMs"] == 4.0
    assert rows[0]["clockErrMs"] == -3.0      # the page thought it was 3 ms earlier than it was
    assert rows[0]["timerLateMs"] == 1.0
    assert rows[0]["paintedErrMs"] == 12.0    # the first paint of that seq
    assert rows[1]["appliedErrMs"] is None    # this phone never showed seq 2: counted as missed
    s = bench.summarize(rows, "appliedErrMs")
    assert (s["n"], s["missing"], s["max"]) == (1, 1, 4.0)


def test_spread_is_across_phones_per_change():
    rows = [{"seq": 1, "e": 5.0}, {"seq": 1, "e": -3.0}, {"seq": 2, "e": 1.0}, {"seq": 2, "e": 2.0}]
    s = bench.summarize(rows, "e")
    assert s["spreadMax"] == 8.0
    assert s["p95"] == 5.0


# --- the wrong clock in a real page ----------------------------------------------------------------

def test_injected_clock_is_shifted_and_true_clock_is_not(browser, tmp_path):
    import http.server
    import threading

    (tmp_path / "index.html").write_text("<!doctype html><title>clock</title>")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        driver = browser()
        driver.allowed_errors.append("favicon.ico")
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {
            "source": bench.PAGE_SCRIPT % {"shift": 12000, "drift": 0}})
        driver.get(f"http://127.0.0.1:{httpd.server_address[1]}/index.html")
        before = time.time() * 1000
        page = driver.execute_script(
            "return {date: Date.now(), perf: performance.timeOrigin + performance.now(), truth: __trueNow()}")
        after = time.time() * 1000
        assert before - 50 <= page["truth"] <= after + 50
        assert abs(page["date"] - page["truth"] - 12000) < 5
        assert abs(page["perf"] - page["truth"] - 12000) < 5
    finally:
        httpd.shutdown()


# --- a whole (tiny) run against the real server --------------------------------------------------------

def test_one_phone_run_records_every_change(classctl_bin, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--bin", str(classctl_bin.parent), "--out", str(out),
         "--delays", "40", "--shifts", "5000", "--drifts", "0", "--steps", "3", "--settle", "2"],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [json.loads(l) for f in out.glob("*.jsonl") for l in f.read_text().splitlines()]
    changes = [l for l in lines if l["kind"] == "change"]
    samples = [l for l in lines if l["kind"] == "sample"]
    assert len(changes) >= 3  # at least start, a step change and finished
    assert "command" in {c["cause"] for c in changes}
    assert len(samples) == len(changes)
    # Every change was applied; loose bound: a clock still 5 s off would be far outside it.
    assert all(s["appliedErrMs"] is not None for s in samples)
    assert all(abs(s["appliedErrMs"]) < 250 for s in samples), samples
    assert "| all | painted |" in proc.stdout
