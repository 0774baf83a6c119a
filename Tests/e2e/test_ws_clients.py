"""ws-echo against an independent WebSocket client (Python websockets), over real loopback."""
import asyncio
import os
import resource
import socket
import time

import pytest
import websockets

from helpers import start_ws_echo, open_fds


@pytest.fixture
def echo():
    p = start_ws_echo()
    yield p
    p.stop()


def test_echo_with_and_without_compression(echo):
    async def main():
        for compression in ("deflate", None):
            async with websockets.connect(f"ws://127.0.0.1:{echo.port}/", compression=compression, max_size=2**24) as ws:
                if compression:
                    assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
                for msg in ["hi", "short quick steps " * 1000, "✓ ünïcødé 🏃‍♀️" * 50]:
                    await ws.send(msg)
                    assert await ws.recv() == msg
                await ws.send(bytes(range(256)) * 100)
                assert await ws.recv() == bytes(range(256)) * 100
                await ws.ping(b"keepalive")
    asyncio.run(main())


def test_broadcast_relays_to_everyone():
    p = start_ws_echo("--broadcast")
    try:
        async def main():
            clients = [await websockets.connect(f"ws://127.0.0.1:{p.port}/", compression=c) for c in ["deflate", None] * 10]
            await asyncio.sleep(0.2)
            await clients[0].send("cue: don't look down " * 20)
            got = await asyncio.gather(*(asyncio.wait_for(c.recv(), 5) for c in clients))
            assert all(g == "cue: don't look down " * 20 for g in got)
            for c in clients:
                await c.close()
        asyncio.run(main())
    finally:
        p.stop()


def test_close_code_from_server_on_protocol_error(echo):
    # An unmasked client frame must get close 1002 (the websockets client always masks, so raw socket).
    s = socket.create_connection(("127.0.0.1", echo.port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 101")
    s.sendall(b"\x81\x02hi")
    data = head.split(b"\r\n\r\n", 1)[1]
    s.settimeout(5)
    while len(data) < 4:
        data += s.recv(4096)
    assert data[0] == 0x88 and data[2:4] == b"\x03\xea"
    s.close()


def test_sigterm_sends_going_away_and_exits(echo):
    async def main():
        ws = await websockets.connect(f"ws://127.0.0.1:{echo.port}/")
        echo.proc.terminate()
        with pytest.raises(websockets.ConnectionClosed) as e:
            await asyncio.wait_for(ws.recv(), 5)
        assert e.value.rcvd is not None and e.value.rcvd.code == 1001
    asyncio.run(main())
    assert echo.proc.wait(5) == 0


def _cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_pauses_accepting_and_recovers():
    """A flood beyond the process's descriptor limit: the server neither spins on the
    listener nor stops for good; once peers leave, new clients are served again."""
    p = start_ws_echo()
    try:
        pid = p.proc.pid
        base = open_fds(pid)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (base + 8, base + 8))
        flood = [socket.create_connection(("127.0.0.1", p.port)) for _ in range(40)]
        time.sleep(0.5)
        assert open_fds(pid) <= base + 8
        before = _cpu_seconds(pid)
        time.sleep(1.0)
        assert _cpu_seconds(pid) - before < 0.3, "the server spins while out of descriptors"
        assert "out of file descriptors" in p.output()
        for s in flood:
            s.close()
        deadline = time.time() + 5
        while True:
            try:
                with socket.create_connection(("127.0.0.1", p.port), timeout=2) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(100).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            assert time.time() < deadline, "not serving again after the flood left"
            time.sleep(0.2)
        deadline = time.time() + 5
        while open_fds(pid) > base and time.time() < deadline:
            time.sleep(0.1)
        assert open_fds(pid) == base
    finally:
        p.stop()
