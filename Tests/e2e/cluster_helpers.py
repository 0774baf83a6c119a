"""A cluster of `classctl serve --redis` nodes for end-to-end tests (issue 14; docs/cluster.md).

    from cluster_helpers import Cluster, Phone

    with Cluster(tmp_path, nodes=3) as c:          # redis-server on a free port, 3 nodes
        c.redis.url                                # redis://127.0.0.1:PORT/0
        c.nodes[0].port, c.nodes[0].url            # each node's loopback port / http URL
        c.node_urls()                              # the live nodes' URLs (an nginx upstream list)
        opened = c.open_class(node=0)              # POST /api/classes on that node → its JSON
        c.nodes[0].kill()                          # SIGKILL; .stop() is SIGTERM
        c.add_node()                               # one more node (same Redis)
        c.redis.stop(); c.redis.start()            # SIGTERM, then again on the same port and data
        lb = Nginx(tmp_path / "nginx", c.node_urls())  # nginx in front (round robin); lb.url; lb.stop()

`Phone(url, code)` is an asyncio WebSocket client that keeps every message, the last state,
and reconnects (to the same or another node) with `reconnect(url)`.

Redis runs with `appendonly yes` and `appendfsync always`: what a node was told is stored
survives a Redis restart, as docs/cluster.md asks of a deployment.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from helpers import BIN, ROOT, Proc

STUDIO_KEY = "studio-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A real redis-server on a free loopback port, persisting to its own directory."""

    def __init__(self, directory: Path, port: int | None = None):
        if not shutil.which("redis-server"):
            import pytest
            pytest.skip("needs redis-server (scripts/setup.sh --test installs it)")
        self.port = port or free_port()
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir),
             "--logfile", str(self.dir / "redis.log"), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not start: {(self.dir / 'redis.log').read_text()[-1000:]}")

    def cli(self, *args: str) -> str:
        r = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=5)
        return r.stdout.strip()

    def stop(self) -> None:
        """SIGTERM: Redis closes its clients and finishes its append-only file."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Node(Proc):
    """One `classctl serve --redis` process."""

    def __init__(self, redis_url: str, record_dir: Path, *extra: str):
        self.redis_url = redis_url
        super().__init__([str(BIN / "classctl"), "serve", "--host", "127.0.0.1", "--port", "0",
                          "--record-dir", str(record_dir), "--redis", redis_url, "--log-level", "debug", *extra],
                         r"listening:\s+http://127\.0\.0\.1:(\d+)", env={"CLASSCTL_STUDIO_KEY": STUDIO_KEY})
        import re
        m = re.search(r"cluster node (\d+)", self.output())
        self.number = int(m.group(1)) if m else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.proc.kill()
            self.proc.wait()

    def runs(self, code: str) -> bool:
        """Whether this node's log says it runs `code` now (the last word on it)."""
        out = self.output()
        took = out.rfind(f"class {code}: this node runs it now")
        left = out.rfind(f"class {code}: this node no longer runs it")
        return took >= 0 and took > left


class Cluster:
    def __init__(self, tmp_path: Path, nodes: int = 3, extra: tuple[str, ...] = ()):
        self.tmp = Path(tmp_path)
        self.extra = extra
        self.redis = RedisServer(self.tmp / "redis")
        self.nodes: list[Node] = []
        try:
            for _ in range(nodes):
                self.add_node()
        except BaseException:
            self.close()    # a node that did not start leaves nothing running behind
            raise

    def add_node(self) -> Node:
        n = Node(self.redis.url, self.tmp / f"rec{len(self.nodes)}", *self.extra)
        self.nodes.append(n)
        return n

    def node_urls(self) -> list[str]:
        return [n.url for n in self.nodes if n.alive]

    def open_class(self, node: int = 0, plan: bytes | None = None) -> dict:
        body = plan if plan is not None else (ROOT / "config" / "classes" / "knee-rehab.yaml").read_bytes()
        req = urllib.request.Request(f"{self.nodes[node].url}/api/classes", data=body, method="POST")
        req.add_header("Authorization", f"Bearer {STUDIO_KEY}")
        with urllib.request.urlopen(req, timeout=10) as r:
            opened = json.loads(r.read())
        # Every node learns of it through Redis (pub/sub, or its 5-tick refresh at worst).
        deadline = time.time() + 10
        for n in self.nodes:
            while n.alive and time.time() < deadline:
                try:
                    urllib.request.urlopen(f"{n.url}/api/classes/{opened['code']}", timeout=2)
                    break
                except urllib.error.HTTPError:
                    time.sleep(0.05)
        return opened

    def owner(self, code: str) -> Node | None:
        value = self.redis.cli("GET", f"classctl:class:{code}:lease")
        if not value:
            return None
        number = int(value.split(":")[0])
        return next((n for n in self.nodes if n.number == number and n.alive), None)

    def close(self) -> None:
        for n in self.nodes:
            if n.alive:
                n.stop(signal.SIGTERM)
        self.redis.kill()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            # A failure: what each node said goes with it (pytest shows it as captured stdout).
            for i, n in enumerate(self.nodes):
                print(f"--- node {i} (cluster node {n.number}), last lines:\n{n.output()[-3000:]}")
        self.close()


class Nginx:
    """nginx (Debian's) as the load balancer in front of a cluster's nodes: round robin, no
    sticky sessions, WebSocket upgrades passed, a dead node skipped for 5 s after one failure.
    `Nginx(tmp_path, cluster.node_urls())`; `.url`; `.stop()`."""

    def __init__(self, directory: Path, upstreams: list[str], port: int | None = None):
        if not shutil.which("nginx"):
            import pytest
            pytest.skip("needs nginx (apt-get install nginx)")
        self.port = port or free_port()
        self.dir = Path(directory)
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(self.config(upstreams, self.port, self.dir))
        self.proc = subprocess.Popen(["nginx", "-p", str(self.dir), "-c", str(self.conf), "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1)
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"nginx did not start: {self.proc.stderr.read().decode()}")
                time.sleep(0.05)
        raise RuntimeError("nginx did not answer")

    @staticmethod
    def config(upstreams: list[str], port: int, prefix: Path) -> str:
        """config/cluster/nginx.conf (the file docker-compose.yml uses too) for these ports."""
        servers = "\n".join(f"        server {u.removeprefix('http://')} max_fails=1 fail_timeout=5s;" for u in upstreams)
        return ((ROOT / "config" / "cluster" / "nginx.conf").read_text()
                .replace("{{PID_FILE}}", f"{prefix}/nginx.pid")
                .replace("{{ERROR_LOG}}", f"{prefix}/logs/error.log")
                .replace("{{TEMP_DIR}}", str(prefix))
                .replace("{{UPSTREAM_SERVERS}}", servers)
                .replace("{{LISTEN}}", f"127.0.0.1:{port}"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Phone:
    """A WebSocket client of a class on one node: keeps every message it gets."""

    def __init__(self, url: str, code: str, role: str = "participant", name: str | None = None, token: str | None = None):
        self.code, self.role, self.name, self.token = code, role, name, token
        self.messages: list[dict] = []
        self.state: dict | None = None
        self.welcome: dict | None = None
        self.ws = None
        self.url = url
        self._reader: asyncio.Task | None = None
        self.closed = asyncio.Event()

    async def connect(self, url: str | None = None, timeout: float = 5) -> dict:
        import websockets
        self.url = url or self.url
        ws_url = self.url.replace("http://", "ws://") + f"/ws?class={self.code}"
        self.ws = await websockets.connect(ws_url, open_timeout=timeout)
        self.closed = asyncio.Event()
        first = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self._note(first)
        self._reader = asyncio.create_task(self._read())
        if self.role == "instructor":
            await self.send({"type": "hello", "role": "instructor", "token": self.token})
            return await self.wait(lambda m: m["type"] == "welcome" and m["role"] == "instructor", timeout)
        if self.name:
            await self.send({"type": "hello", "role": "participant", "name": self.name})
        return first

    async def reconnect(self, url: str, timeout: float = 5) -> dict:
        await self.close()
        return await self.connect(url, timeout)

    def _note(self, m: dict) -> None:
        m["_at"] = time.time()
        self.messages.append(m)
        if m["type"] == "welcome":
            self.welcome = m
            self.state = m["state"]
        elif m["type"] == "state":
            if self.state is None or m["seq"] >= self.state["seq"]:
                self.state = m

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self._note(json.loads(raw))
        except Exception:
            pass
        finally:
            self.closed.set()

    async def send(self, obj: dict) -> None:
        await self.ws.send(json.dumps(obj))

    async def command(self, name: str, timeout: float = 5, until=None, **fields) -> dict:
        """Sends an instructor command; returns the state (or error) that answers it: the first
        after sending, or the first for which `until(message)` holds."""
        seen = len(self.messages)
        await self.send({"type": "command", "command": name, **fields})
        pred = until or (lambda m: True)
        return await self.wait(lambda m: m["type"] in ("state", "error") and pred(m), timeout, since=seen)

    async def command_retrying(self, name: str, until, seconds: float = 15, **fields) -> dict:
        """The same, again until answered: a command sent while no node runs the class (a
        takeover, Redis away) is lost or refused, never acknowledged."""
        deadline = time.time() + seconds
        while True:
            try:
                m = await self.command(name, timeout=2, until=lambda m: m["type"] == "error" or until(m), **fields)
                if m["type"] == "state":
                    return m
            except AssertionError:
                pass
            assert time.time() < deadline, f"{name}: not answered within {seconds} s"
            await asyncio.sleep(0.3)

    async def wait(self, pred, timeout: float = 5, since: int = 0) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for m in self.messages[since:]:
                if pred(m):
                    return m
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching message within {timeout}s; got {[m['type'] for m in self.messages[since:]]}")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            if self._reader:
                await asyncio.wait([self._reader], timeout=2)
            self.ws = None
