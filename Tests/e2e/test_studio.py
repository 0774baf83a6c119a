"""`classctl serve`, a studio server (issue 14): classes opened with the studio key over
`POST /api/classes` or `classctl start PLAN --server URL`, side by side with their own codes,
tokens, recordings and metrics; limits with clear errors; finished classes leave after a grace;
unfinished ones are resumed when the server starts again."""
import asyncio
import json
import re
import signal
import time
import urllib.error
import urllib.request

import websockets

from helpers import Proc, BIN, ROOT, run_classctl

KEY = "studio-key-0123456789abcdef"
PLAN = (ROOT / "config" / "classes" / "knee-rehab.yaml").read_bytes()


def serve(tmp_path, *extra):
    return Proc([str(BIN / "classctl"), "serve", "--host", "127.0.0.1", "--port", "0",
                 "--record-dir", str(tmp_path / "rec"), *extra],
                r"listening:\s+http://127\.0\.0\.1:(\d+)", env={"CLASSCTL_STUDIO_KEY": KEY})


def post(port, body=PLAN, key=KEY):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/classes", data=body, method="POST")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def hello(port, code, token=None):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws?class={code}") as ws:
        w = json.loads(await ws.recv())
        if token:
            await ws.send(json.dumps({"type": "hello", "role": "instructor", "token": token}))
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if m["type"] in ("welcome", "error"):
                    return m
        return w


def test_serve_needs_a_studio_key(tmp_path):
    r = run_classctl("serve", "--port", "0", "--record-dir", str(tmp_path / "rec"), env={"CLASSCTL_STUDIO_KEY": ""})
    assert r.returncode == 2 and "studio key" in r.stderr


def test_classes_side_by_side_opened_with_the_key(tmp_path):
    s = serve(tmp_path)
    try:
        status, body = post(s.port, key=None)
        assert status == 401 and "studio key" in body["error"]
        status, body = post(s.port, key="not-the-key-0123456789")
        assert status == 401
        status, body = post(s.port, body=b"title: x\nsegments:\n  - {kind: walk, title: W, duration: 90}\n")
        assert status == 422
        d = body["diagnostics"][0]
        assert (d["line"], d["column"], d["path"]) == (3, 38, "segments[0].duration"), d
        status, a = post(s.port)
        assert status == 201, a
        status, b = post(s.port)
        assert status == 201 and a["code"] != b["code"] and a["token"] != b["token"]
        assert a["join"].endswith(f"/c/{a['code']}")
        # Each class its own: codes, tokens, recordings, metrics.
        assert asyncio.run(hello(s.port, a["code"], a["token"]))["role"] == "instructor"
        assert asyncio.run(hello(s.port, b["code"], a["token"]))["code"] == "bad-token"
        assert a["recording"] != b["recording"]
        listed = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{s.port}/api/classes").read())
        assert sorted(c["code"] for c in listed) == sorted([a["code"], b["code"]])
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{s.port}/metrics").read().decode()
        assert f'classctl_class_participants{{class="{a["code"]}"}}' in metrics
        assert f'classctl_class_participants{{class="{b["code"]}"}}' in metrics

        # The same from the command line: the banner of a local class, for the class over there.
        r = run_classctl("start", str(ROOT / "config" / "classes" / "knee-rehab.yaml"), "--server", f"http://127.0.0.1:{s.port}",
                         env={"CLASSCTL_STUDIO_KEY": KEY})
        assert r.returncode == 0, r.stderr
        code = re.search(r"join:\s+http://127\.0\.0\.1:\d+/c/([A-Z0-9]+)", r.stdout).group(1)
        token = re.search(r"#token=([0-9a-f]+)", r.stdout).group(1)
        assert "Scan to join" in r.stdout
        assert asyncio.run(hello(s.port, code, token))["role"] == "instructor"
        r = run_classctl("start", "--server", f"http://127.0.0.1:{s.port}", env={"CLASSCTL_STUDIO_KEY": "wrong-key-0123456789"})
        assert r.returncode == 1 and "studio key" in r.stderr
    finally:
        s.stop(signal.SIGKILL)


def test_limits_say_what_is_full(tmp_path):
    s = serve(tmp_path, "--max-classes", "1", "--max-phones", "2")
    try:
        assert post(s.port)[0] == 201
        status, body = post(s.port)
        assert status == 503 and "limit is 1" in body["error"]
        code = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{s.port}/api/classes").read())[0]["code"]

        async def phones():
            a = await websockets.connect(f"ws://127.0.0.1:{s.port}/ws?class={code}")
            b = await websockets.connect(f"ws://127.0.0.1:{s.port}/ws?class={code}")
            await a.recv(); await b.recv()
            await asyncio.sleep(0.4)   # the class publishes who is connected
            c = await websockets.connect(f"ws://127.0.0.1:{s.port}/ws?class={code}")
            m = json.loads(await c.recv())
            try:
                await asyncio.wait_for(c.recv(), 3)
            except websockets.ConnectionClosed as e:
                return m, e.rcvd.code
        m, close = asyncio.run(phones())
        assert m["code"] == "server-full" and "2 phones" in m["message"]
        assert close == 1013
    finally:
        s.stop(signal.SIGKILL)


def test_a_finished_class_leaves_after_its_grace(tmp_path):
    s = serve(tmp_path, "--finished-grace", "1")
    try:
        _, a = post(s.port)

        async def end():
            async with websockets.connect(f"ws://127.0.0.1:{s.port}/ws?class={a['code']}") as ws:
                await ws.recv()
                await ws.send(json.dumps({"type": "hello", "role": "instructor", "token": a["token"]}))
                await ws.send(json.dumps({"type": "command", "command": "start"}))
                await ws.send(json.dumps({"type": "command", "command": "end"}))
                while json.loads(await asyncio.wait_for(ws.recv(), 5)).get("status") != "finished":
                    pass
        asyncio.run(end())
        assert urllib.request.urlopen(f"http://127.0.0.1:{s.port}/api/classes/{a['code']}").status == 200
        time.sleep(1.6)
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{s.port}/api/classes/{a['code']}")
            raise AssertionError("still there after the grace")
        except urllib.error.HTTPError as e:
            assert e.code == 404
    finally:
        s.stop(signal.SIGKILL)


def test_a_restarted_studio_resumes_its_classes(tmp_path):
    s = serve(tmp_path)
    _, a = post(s.port)
    _, b = post(s.port)
    asyncio.run(hello(s.port, a["code"], a["token"]))
    s.stop(signal.SIGKILL)
    again = serve(tmp_path)
    try:
        out = again.output()
        assert f"resumed:     class {a['code']}" in out and f"resumed:     class {b['code']}" in out
        assert asyncio.run(hello(again.port, a["code"], a["token"]))["role"] == "instructor"
        assert asyncio.run(hello(again.port, b["code"], b["token"]))["role"] == "instructor"
    finally:
        again.stop(signal.SIGKILL)
