"""/metrics as Prometheus scrapes it: the whole page parses as the text exposition format,
and every metric has its `# HELP` and `# TYPE`."""
import asyncio
import json
import time
import urllib.request

import websockets
from prometheus_client.parser import text_string_to_metric_families


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.headers.get("Content-Type", ""), r.read().decode()


def test_metrics_is_valid_prometheus_text(start_class):
    server = start_class(code="METR")
    ws_url = server.base_url.replace("http://", "ws://") + f"/ws?class={server.code}"

    async def scrape_with_a_participant():
        async with websockets.connect(ws_url) as ws:
            welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert welcome["type"] == "welcome"
            await ws.send(json.dumps({"type": "hello", "role": "participant", "name": "Ana"}))
            deadline = time.monotonic() + 5
            while True:  # the participant is counted once the server has taken the hello
                _, classes = await asyncio.to_thread(get, f"{server.base_url}/api/classes")
                if json.loads(classes)[0]["participants"] == 1 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            return await asyncio.to_thread(get, f"{server.base_url}/metrics")

    content_type, text = asyncio.run(scrape_with_a_participant())
    assert content_type.startswith("text/plain; version=0.0.4")
    check_metrics(text, class_code="METR", participants=1)


def check_metrics(text, class_code, participants):
    assert text.endswith("\n")

    families = list(text_string_to_metric_families(text))  # raises ValueError on a malformed line
    by_sample = {s.name: (f, s) for f in families for s in f.samples}

    # A sample with no `# TYPE` before it parses as a family of its own, type "unknown", no help.
    undocumented = sorted({f.name for f in families if f.samples and (not f.documentation or f.type == "unknown")})
    assert not undocumented, f"metrics without # HELP / # TYPE: {undocumented}\n--- /metrics:\n{text}"

    def family(sample_name, type_):
        assert sample_name in by_sample, f"no {sample_name} in /metrics:\n{text}"
        f, sample = by_sample[sample_name]
        assert f.type == type_, f"{sample_name}: type {f.type}, expected {type_}"
        return f, sample

    _, open_conns = family("classctl_connections_open", "gauge")
    assert open_conns.value >= 1  # the participant's WebSocket was open during the scrape
    family("classctl_connections_accepted_total", "counter")
    family("classctl_websockets_opened_total", "counter")
    family("classctl_broadcast_fanout_seconds_count", "summary")
    assert "classctl_uptime_seconds" in by_sample, f"no classctl_uptime_seconds in /metrics:\n{text}"
    assert by_sample["classctl_uptime_seconds"][0].type in ("gauge", "counter")
    family_participants, _ = family("classctl_class_participants", "gauge")
    assert [(s.labels, s.value) for s in family_participants.samples] == [({"class": class_code}, participants)]
