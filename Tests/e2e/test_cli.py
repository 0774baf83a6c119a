"""classctl as an instructor and an operator use it: start, refusals, config, signals, recordings."""
import asyncio
import json
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest
import websockets

from helpers import ROOT, start_classctl, run_classctl

TOKEN = "e2e-instructor-token-000000000001"
PLAN = """title: CLI test class
goal: custom
segments:
  - {kind: walk, title: Backward walk, duration: 2s, cues: [{at: 0s, text: Short steps}]}
  - {kind: jog, title: Backward jog, distance: 25m}
  - {kind: cooldown, title: Cool-down, duration: 30s}
"""


def write_plan(tmp_path, text=PLAN, name="plan.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_start_prints_links_and_serves_pages(tmp_path):
    p = start_classctl("--host", "127.0.0.1", "--port", "0", "--code", "TESTA", "--token", TOKEN,
                       "--record-dir", str(tmp_path / "rec"))
    try:
        out = p.output()
        assert f"join:        http://127.0.0.1:{p.port}/c/TESTA" in out
        assert f"/c/TESTA/instructor#token={TOKEN}" in out
        assert "recording:   " + str(tmp_path / "rec") in out
        assert "Scan to join" in out
        assert f"  listening:   http://127.0.0.1:{p.port}\n" in out
        import urllib.request
        page = urllib.request.urlopen(f"http://127.0.0.1:{p.port}/c/TESTA").read().decode()
        assert "<html" in page.lower()
        health = urllib.request.urlopen(f"http://127.0.0.1:{p.port}/healthz").read()
        assert health == b"ok\n"
    finally:
        assert p.stop() == 0
    # The token never appears in the logs (only in the banner line we print on purpose).
    assert p.output().count(TOKEN) == 1


def test_listening_line_says_all_interfaces(tmp_path):
    """Regression: on --host 0.0.0.0 the banner said `listening: http://127.0.0.1:PORT`, as if
    the class were reachable from this machine only. It now names the address it is bound to."""
    import urllib.request
    from conftest import LISTENING, listening_url
    p = start_classctl("--host", "0.0.0.0", "--port", "0", "--code", "ALLIF", "--record-dir", str(tmp_path / "rec"))
    try:
        lines = [line for line in p.output().splitlines() if "listening:" in line]
        assert lines == [f"  listening:   http://0.0.0.0:{p.port} (all interfaces)"]
        # The end-to-end fixtures still find the port in it, and reach it over loopback.
        assert listening_url(LISTENING.search(lines[0])) == f"http://127.0.0.1:{p.port}"
        assert urllib.request.urlopen(f"http://127.0.0.1:{p.port}/healthz").read() == b"ok\n"
    finally:
        assert p.stop() == 0


def test_builtin_default_class(tmp_path):
    p = start_classctl("--host", "127.0.0.1", "--port", "0", "--record-dir", str(tmp_path))
    try:
        import urllib.request
        classes = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{p.port}/api/classes").read())
        assert len(classes) == 1 and classes[0]["status"] == "idle"
        assert "backward" in classes[0]["title"].lower()
    finally:
        p.stop()


def test_refuses_taken_port(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    r = run_classctl("start", "--host", "127.0.0.1", "--port", str(port), "--record-dir", str(tmp_path))
    s.close()
    assert r.returncode == 1
    assert f"port {port} is already in use" in r.stderr


def test_refuses_invalid_plan(tmp_path):
    bad = write_plan(tmp_path, "title: Broken\nsegments:\n  - {kind: walk, title: W, duration: '90'}\n", name="bad.yaml")
    r = run_classctl("start", str(bad), "--host", "127.0.0.1", "--port", "0", "--record-dir", str(tmp_path))
    assert r.returncode == 1
    assert "needs a unit" in r.stderr
    assert "not valid; nothing was started" in r.stderr


def test_refuses_unwritable_record_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run_classctl("start", "--host", "127.0.0.1", "--port", "0", "--record-dir", str(blocker / "sub"))
    assert r.returncode == 1
    assert "not writable" in r.stderr


def test_config_precedence(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("host: 127.0.0.1\nport: 0\ncode: FROMFILE\nlead_ms: 100\n")
    # File alone.
    p = start_classctl("--config", str(cfg), "--record-dir", str(tmp_path))
    assert "/c/FROMFILE" in p.output()
    p.stop()
    # Environment beats the file.
    p = start_classctl("--config", str(cfg), "--record-dir", str(tmp_path), env={"CLASSCTL_CODE": "FROMENV"})
    assert "/c/FROMENV" in p.output()
    p.stop()
    # Flags beat both.
    p = start_classctl("--config", str(cfg), "--record-dir", str(tmp_path), "--code", "FROMFLAG", env={"CLASSCTL_CODE": "FROMENV"})
    assert "/c/FROMFLAG" in p.output()
    p.stop()
    # The shipped config file is valid and documents every setting.
    shipped = ROOT / "config" / "classctl.yaml"
    r = run_classctl("start", "--config", str(shipped), "--port", "70000")
    assert r.returncode == 2 and "out of range" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("prot: 80\n")
    r = run_classctl("start", "--config", str(bad))
    assert r.returncode == 2 and "unknown setting 'prot'" in r.stderr


async def drive(port, code, commands):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws?class={code}") as ws:
        await ws.recv()  # welcome
        await ws.send(json.dumps({"type": "hello", "role": "instructor", "token": TOKEN}))
        while json.loads(await ws.recv())["type"] != "welcome":
            pass
        for c in commands:
            await ws.send(json.dumps({"type": "command", "command": c}))
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if m["type"] in ("state", "error"):
                    break


def read_recording(path):
    lines = Path(path).read_text().splitlines()
    return json.loads(lines[0]), [json.loads(l) for l in lines[1:] if l.strip()]


async def phone_until_closed(p, code, signals):
    """A phone in a started class while the server gets `signals` (0.3 s apart); returns the
    statuses it saw and the close code it got."""
    async with websockets.connect(f"ws://127.0.0.1:{p.port}/ws?class={code}") as ws:
        await drive(p.port, code, ["start"])
        for i, sig in enumerate(signals):
            if i:
                await asyncio.sleep(0.3)
            p.proc.send_signal(sig)
        statuses = []
        try:
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 8))
                if m["type"] == "state":
                    statuses.append(m["status"])
        except websockets.ConnectionClosed as e:
            return statuses, e.rcvd.code if e.rcvd else None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_one_signal_suspends_the_class_and_the_same_command_resumes_it(tmp_path, sig):
    """docs/deploy.md: SIGTERM (docker stop, a systemd restart) and a first Ctrl-C stop the
    server without ending the class; phones are told the server restarts (1012)."""
    rec = tmp_path / "rec"
    args = (str(write_plan(tmp_path)), "--host", "127.0.0.1", "--port", "0", "--code", "SIG", "--token", TOKEN,
            "--record-dir", str(rec), "--lead-ms", "50")
    p = start_classctl(*args)

    statuses, code = asyncio.run(phone_until_closed(p, "SIG", [sig]))
    assert "finished" not in statuses, "a deploy does not end the class"
    assert code == 1012
    assert p.proc.wait(10) == 0
    files = list(rec.glob("*.jsonl"))
    assert len(files) == 1
    header, events = read_recording(files[0])
    assert events[-1]["kind"] == "suspended"
    assert ("command", "end") not in [(e.get("kind"), (e.get("command") or {}).get("type")) for e in events]

    again = start_classctl(*args)
    try:
        assert re.search(r"resuming class SIG at step [12] of 3", again.output()), again.output()
        assert len(list(rec.glob("*.jsonl"))) == 1, "the same recording goes on"
    finally:
        again.stop(signal.SIGKILL)


def test_two_signals_end_the_class_for_good(tmp_path):
    rec = tmp_path / "rec"
    args = (str(write_plan(tmp_path)), "--host", "127.0.0.1", "--port", "0", "--code", "END", "--token", TOKEN,
            "--record-dir", str(rec), "--lead-ms", "50")
    p = start_classctl(*args)

    statuses, code = asyncio.run(phone_until_closed(p, "END", [signal.SIGINT, signal.SIGINT]))
    assert "finished" in statuses, "participants see the class end"
    assert code == 1001
    assert p.proc.wait(10) == 0
    files = list(rec.glob("*.jsonl"))
    header, events = read_recording(files[0])
    kinds = [(e.get("kind"), (e.get("command") or {}).get("type")) for e in events]
    assert ("command", "start") in kinds and ("command", "end") in kinds
    assert not list(rec.glob(".*.token")), "an ended class keeps no token file"
    # A finished class is never resumed: the same command starts a new one.
    again = start_classctl(*args)
    try:
        assert "resuming" not in again.output()
        assert len(list(rec.glob("*.jsonl"))) == 2
    finally:
        again.stop(signal.SIGKILL)


def test_kill_9_loses_nothing_already_shown(tmp_path):
    rec = tmp_path / "rec"
    p = start_classctl(str(write_plan(tmp_path)), "--host", "127.0.0.1", "--port", "0", "--code", "KILL", "--token", TOKEN,
                       "--record-dir", str(rec), "--lead-ms", "50")
    asyncio.run(drive(p.port, "KILL", ["start", "pause", "resume", "next"]))
    p.proc.kill()
    p.proc.wait()
    files = list(rec.glob("*.jsonl"))
    header, events = read_recording(files[0])
    commands = [e["command"]["type"] for e in events if e.get("kind") == "command"]
    assert commands == ["start", "pause", "resume", "next"]
    # The recording replays: `classctl export` turns it back into a valid plan.
    r = run_classctl("export", str(files[0]), "--output", str(tmp_path / "asrun.yaml"))
    assert r.returncode == 0, r.stderr
    assert run_classctl("validate", str(tmp_path / "asrun.yaml")).returncode == 0


def test_replay_runs_recorded_commands(tmp_path):
    rec = tmp_path / "rec"
    p = start_classctl(str(write_plan(tmp_path)), "--host", "127.0.0.1", "--port", "0", "--code", "REC", "--token", TOKEN,
                       "--record-dir", str(rec), "--lead-ms", "50")
    asyncio.run(drive(p.port, "REC", ["start", "next"]))
    p.stop()
    recording = next(rec.glob("*.jsonl"))
    r = start_classctl(str(recording), "--host", "127.0.0.1", "--port", "0", "--code", "RPL", "--record-dir", str(tmp_path / "rec2"))

    async def watch():
        async with websockets.connect(f"ws://127.0.0.1:{r.port}/ws?class=RPL") as ws:
            steps = []
            deadline = time.time() + 8
            while time.time() < deadline and len(steps) < 2:
                m = json.loads(await asyncio.wait_for(ws.recv(), 8))
                if m["type"] in ("state", "welcome"):
                    st = m["state"] if m["type"] == "welcome" else m
                    if st["status"] == "running":
                        steps.append(st["step"])
            return steps
    async def console():
        token = __import__("re").search(r"#token=([0-9a-f]+)", r.output()).group(1)
        async with websockets.connect(f"ws://127.0.0.1:{r.port}/ws?class=RPL") as ws:
            welcome = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "hello", "role": "instructor", "token": token}))
            await ws.send(json.dumps({"type": "command", "command": "pause"}))
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if m["type"] == "error":
                    return welcome, m
    try:
        steps = asyncio.run(watch())
        assert steps[:1] == [0] or 1 in steps
        # Issue 15: a replay says so, and plays as recorded (no controls that could make it drift).
        welcome, error = asyncio.run(console())
        assert welcome["class"]["replay"] == 1
        assert error["code"] == "replay"
    finally:
        r.stop()


def test_validate_show_new_exit_codes(tmp_path):
    good = write_plan(tmp_path)
    assert run_classctl("validate", str(good)).returncode == 0
    bad = write_plan(tmp_path, "title: X\nsegments:\n  - {kind: walk, title: W, durration: 5min}\n", name="bad.yaml")
    r = run_classctl("validate", str(bad))
    assert r.returncode == 1
    assert "did you mean 'duration'" in r.stdout + r.stderr
    assert run_classctl("validate").returncode == 2
    assert run_classctl("validate", str(tmp_path / "missing.yaml")).returncode == 2
    show = run_classctl("show", str(good))
    assert show.returncode == 0 and "Backward jog" in show.stdout
    new = run_classctl("new", "--goal", "fitness", "--minutes", "20")
    assert new.returncode == 0
    (tmp_path / "new.yaml").write_text(new.stdout)
    assert run_classctl("validate", str(tmp_path / "new.yaml")).returncode == 0
    for f in sorted((ROOT / "config" / "classes").glob("*.yaml")):
        r = run_classctl("validate", str(f))
        assert r.returncode == 0 and "0 warnings" in r.stdout, f"{f.name}: {r.stdout}"


def test_help_reads_well():
    r = run_classctl("--help")
    assert r.returncode == 0
    for sub in ["start", "validate", "show", "new", "replay", "export"]:
        assert sub in r.stdout
    r = run_classctl("--generate-completion-script", "bash")
    assert r.returncode == 0 and "classctl" in r.stdout


def test_an_unknown_class_code_gets_a_page_that_says_so(tmp_path):
    """Issue 15: an unknown code gave a bare text line; now the page's look, the right status,
    and what to do."""
    import urllib.error
    import urllib.request
    p = start_classctl("--host", "127.0.0.1", "--port", "0", "--code", "REAL", "--token", TOKEN,
                       "--record-dir", str(tmp_path / "rec"))
    try:
        for path in ("/c/NOPE", "/c/NOPE/instructor"):
            req = urllib.request.Request(f"http://127.0.0.1:{p.port}{path}", headers={"If-None-Match": '"x"'})
            try:
                urllib.request.urlopen(req, timeout=5)
                raise AssertionError("expected 404")
            except urllib.error.HTTPError as e:
                assert e.code == 404
                assert e.headers["Content-Type"].startswith("text/html")
                body = e.read().decode()
                assert "No class here" in body and "/app/style.css" in body and "QR code" in body
    finally:
        p.stop()
