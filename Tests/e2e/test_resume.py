"""A class that survives its server (issue 13): kill -9 and the same command line again resume
the same class — same code, same step and timing, the same instructor link — from its recording;
a torn last line is cut off with a warning, a corrupt recording stops the start; the recording
never holds the token."""
import asyncio
import json
import re
import signal
import time
from pathlib import Path

import websockets

from helpers import start_classctl, run_classctl

PLAN = """\
title: Resume test
goal: custom
segments:
  - {kind: walk, title: Walk one, duration: 4s}
  - {kind: walk, title: Walk two, duration: 60s}
  - {kind: jog, title: Jog, distance: 20m}
"""


def plan_file(tmp_path):
    p = tmp_path / "plan.yaml"
    p.write_text(PLAN)
    return p


def links(output):
    code = re.search(r"join:\s+http://[^\s]+/c/([A-Z0-9-]+)", output).group(1)
    token = re.search(r"#token=([0-9a-f]+)", output).group(1)
    return code, token


async def welcome(port, code, token=None, commands=()):
    """Connects as a phone (or, with a token, as the instructor); returns the welcome's
    state and what the commands produced."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws?class={code}") as ws:
        first = json.loads(await ws.recv())
        assert first["type"] == "welcome", first
        states = []
        if token:
            await ws.send(json.dumps({"type": "hello", "role": "instructor", "token": token}))
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if m["type"] == "welcome":
                    assert m["role"] == "instructor"
                    break
                assert m["type"] != "error", m
            for c in commands:
                await ws.send(json.dumps({"type": "command", "command": c}))
                while True:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if m["type"] == "error":
                        raise AssertionError(m)
                    if m["type"] == "state":
                        states.append(m)
                        break
        return first["state"], states


def test_kill_9_then_the_same_command_resumes_the_same_class(tmp_path):
    rec = tmp_path / "rec"
    args = (str(plan_file(tmp_path)), "--host", "127.0.0.1", "--port", "0", "--record-dir", str(rec), "--lead-ms", "50")
    first = start_classctl(*args)   # random code and token, as a user runs it
    code, token = links(first.output())
    _, states = asyncio.run(welcome(first.port, code, token, ["start"]))
    started = states[-1]["stepStartedAt"]
    time.sleep(1.0)
    first.proc.kill()
    first.proc.wait()

    # The recording is safe to share: no token in it, only a salted hash.
    recording = next(rec.glob("class-*.jsonl"))
    text = recording.read_text()
    assert token not in text
    assert json.loads(text.splitlines()[0])["instructorTokenHash"].startswith("pbkdf2-sha256$")

    time.sleep(4.0)   # "Walk one" (4 s) ends while the server is down
    second = start_classctl(*args)
    try:
        out = second.output()
        assert f"resuming class {code} at step 2 of 3" in out, out
        assert links(out) == (code, token), "the same join link and instructor link"
        state, _ = asyncio.run(welcome(second.port, code))
        assert state["status"] == "running" and state["step"] == 1
        assert state["stepStartedAt"] == started + 4000, "the next step began at the old deadline"
        # The instructor's old link still drives the class.
        _, states = asyncio.run(welcome(second.port, code, token, ["next"]))
        assert states[-1]["step"] == 2
        header_lines = recording.read_text().splitlines()
        kinds = [json.loads(l)["kind"] for l in header_lines[1:]]
        assert kinds.count("auto-advance") == 1 and "resumed" in kinds
        assert len(list(rec.glob("class-*.jsonl"))) == 1
    finally:
        second.stop(signal.SIGKILL)


def test_a_torn_last_line_is_cut_with_a_warning(tmp_path):
    rec = tmp_path / "rec"
    args = (str(plan_file(tmp_path)), "--host", "127.0.0.1", "--port", "0", "--code", "TORN",
            "--token", "torn-token-0123456789", "--record-dir", str(rec), "--lead-ms", "50")
    first = start_classctl(*args)
    asyncio.run(welcome(first.port, "TORN", "torn-token-0123456789", ["start"]))
    first.proc.kill()
    first.proc.wait()
    recording = next(rec.glob("class-*.jsonl"))
    with open(recording, "a") as f:
        f.write('{"at":17648,"command":{"type":"pa')   # a write cut short by the crash
    second = start_classctl(*args)
    try:
        assert "resuming class TORN" in second.output()
        assert re.search(r"warning.*truncated or unreadable last line", second.output(), re.I), second.output()
        asyncio.run(welcome(second.port, "TORN", "torn-token-0123456789", ["pause"]))
    finally:
        second.stop(signal.SIGKILL)
    # The file reads cleanly again: the torn bytes were cut, the new events follow.
    r = run_classctl("export", str(recording), "--output", str(tmp_path / "asrun.yaml"))
    assert r.returncode == 0, r.stderr
    lines = recording.read_text().splitlines()
    assert all(json.loads(l) for l in lines)
    assert json.loads(lines[-1])["command"]["type"] == "pause"


def test_a_corrupt_recording_stops_the_start_with_its_line(tmp_path):
    rec = tmp_path / "rec"
    args = (str(plan_file(tmp_path)), "--host", "127.0.0.1", "--port", "0", "--code", "BAD",
            "--token", "bad-token-0123456789", "--record-dir", str(rec), "--lead-ms", "50")
    first = start_classctl(*args)
    asyncio.run(welcome(first.port, "BAD", "bad-token-0123456789", ["start", "pause", "resume"]))
    first.proc.kill()
    first.proc.wait()
    recording = next(rec.glob("class-*.jsonl"))
    lines = recording.read_text().splitlines()
    lines[2] = "this is not JSON"
    recording.write_text("\n".join(lines) + "\n")
    r = run_classctl(*(["start"] + list(args)), timeout=20)
    assert r.returncode == 1
    assert f"{recording}:3:" in r.stderr and "--fresh" in r.stderr, r.stderr
    # --fresh starts a new class beside it.
    fresh = start_classctl(*args, "--fresh")
    try:
        assert "resuming" not in fresh.output()
    finally:
        fresh.stop(signal.SIGKILL)


def test_a_finished_class_is_not_resumed(tmp_path):
    rec = tmp_path / "rec"
    args = (str(plan_file(tmp_path)), "--host", "127.0.0.1", "--port", "0", "--record-dir", str(rec))
    first = start_classctl(*args)
    code, token = links(first.output())
    asyncio.run(welcome(first.port, code, token, ["start", "end"]))
    first.proc.kill()
    first.proc.wait()
    assert not list(rec.glob(".*.token")), "the token file goes with the class's end"
    second = start_classctl(*args)
    try:
        assert "resuming" not in second.output()
        assert len(list(rec.glob("class-*.jsonl"))) == 2
    finally:
        second.stop(signal.SIGKILL)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_phones_and_console_ride_out_a_server_crash(tmp_path, browser):
    """kill -9 mid-class, the same command again: three Chromium phones and the console come
    back by themselves to the same class (same code, step and step start; no reload, no name
    typed again) and the console's old link still commands it."""
    from selenium.webdriver.common.by import By
    from test_browser import wait_until, text, body, open_instructor, open_phone

    rec = tmp_path / "rec"
    port = free_port()
    args = (str(plan_file(tmp_path)), "--host", "127.0.0.1", "--port", str(port), "--record-dir", str(rec), "--lead-ms", "100")
    first = start_classctl(*args)
    code, token = links(first.output())

    class Server:   # what open_phone / open_instructor need
        participant_url = f"http://127.0.0.1:{port}/c/{code}"
        instructor_url = f"http://127.0.0.1:{port}/c/{code}/instructor#token={token}"

    inst = open_instructor(browser, Server)
    phones = [open_phone(browser, Server) for _ in range(3)]
    for d in phones + [inst]:
        d.allowed_errors.append("ERR_CONNECTION_REFUSED")   # while the server is down
    phones[0].find_element(By.ID, "name").send_keys("Ana")
    phones[0].find_element(By.ID, "name-form").submit()
    inst.find_element(By.ID, "primary").click()
    for p in phones:
        wait_until(lambda p=p: text(p, "step-title") == "Walk one", 5, "Walk one")
    wait_until(lambda: "Ana" in text(inst, "names"), 5, "Ana on the console")
    inst.find_element(By.ID, "next-btn").click()   # to "Walk two" (60 s)
    for p in phones:
        wait_until(lambda p=p: text(p, "step-title") == "Walk two", 5, "Walk two")
    state_before, _ = asyncio.run(welcome(port, code))

    first.proc.kill()
    first.proc.wait()
    time.sleep(1.5)
    second = start_classctl(*args)
    try:
        assert f"resuming class {code} at step 2 of 3" in second.output()
        state_after, _ = asyncio.run(welcome(port, code))
        assert state_after["step"] == 1
        assert state_after["stepStartedAt"] == state_before["stepStartedAt"]
        for p in phones + [inst]:
            wait_until(lambda p=p: body(p, "connection") == "connected", 20, "reconnected by itself")
        for p in phones:
            assert text(p, "step-title") == "Walk two"
            assert p.execute_script("return location.pathname") == f"/c/{code}"
        wait_until(lambda: body(inst, "role") == "instructor", 10, "the console is the instructor again")
        wait_until(lambda: "Ana" in text(inst, "names"), 10, "Ana's name came back without typing it")
        inst.find_element(By.ID, "next-btn").click()   # the old link still drives the class
        for p in phones:
            wait_until(lambda p=p: text(p, "step-title") == "Jog", 5, "Jog after next")
    finally:
        second.stop(signal.SIGKILL)
