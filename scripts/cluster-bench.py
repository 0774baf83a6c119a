#!/usr/bin/env python3
"""Issue 14's benchmark: instructor command (an announcement) → last phone, a cluster of
`classctl serve --redis` nodes against one `classctl serve` with as many phones, in one sitting.

    CLASSCTL_BIN=.build/release .venv/bin/python scripts/cluster-bench.py --phones 15000 --nodes 3

Phones are spread round robin over the nodes (classbench --sub-url repeated), the console is on
the last node, the class runs on the first. Prints classbench's summaries for both layouts, their
p99 ratio, and the Redis server's CPU per cue (INFO cpu before and after the load phase).
Uses Tests/e2e/cluster_helpers.py to start redis-server and the nodes.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
from cluster_helpers import STUDIO_KEY, Cluster  # noqa: E402
from helpers import BIN, Proc  # noqa: E402


def classbench(args, subs, pub, opened):
    urls = []
    for port in subs:
        urls += ["--sub-url", f"ws://127.0.0.1:{port}/ws?class={opened['code']}"]
    cmd = [str(BIN / "classbench"), *urls, "--pub-url", f"ws://127.0.0.1:{pub}/ws?class={opened['code']}",
           "--conns", str(args.phones), "--rate", str(args.rate), "--duration", str(args.duration),
           "--pub-hello", json.dumps({"type": "hello", "role": "instructor", "token": opened["token"]}),
           "--pub-template", '{"type":"announce","text":"@@{seq}@@{pad}"}']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 300)
    summary = [line for line in r.stdout.splitlines() if line.startswith("# ")]
    result = next((json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")), {})
    if not summary:
        print(r.stderr[-2000:], file=sys.stderr)
    return summary, result


def redis_cpu(cluster):
    info = dict(line.split(":", 1) for line in cluster.redis.cli("INFO", "cpu").splitlines() if ":" in line)
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


class CPUSampler(threading.Thread):
    """Redis's CPU seconds sampled every 100 ms, so the load phase can be cut out of the run
    (the joins of thousands of phones cost Redis more than the cues do)."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster, self.samples, self.done = cluster, [], threading.Event()

    def run(self):
        while not self.done.is_set():
            self.samples.append((time.monotonic(), redis_cpu(self.cluster)))
            time.sleep(0.1)

    def between(self, t0, t1):
        def at(t):
            before = [s for s in self.samples if s[0] <= t]
            return (before[-1] if before else self.samples[0])[1]
        return at(t1) - at(t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phones", type=int, default=3000)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--rate", type=float, default=10)
    ap.add_argument("--duration", type=float, default=10)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    plan = (ROOT / "config" / "classes" / "knee-rehab.yaml").read_bytes()

    single = Proc([str(BIN / "classctl"), "serve", "--host", "127.0.0.1", "--port", "0", "--record-dir", str(tmp / "single"),
                   "--max-phones", str(args.phones + 10)],
                  r"listening:\s+http://127\.0\.0\.1:(\d+)", env={"CLASSCTL_STUDIO_KEY": STUDIO_KEY})
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{single.port}/api/classes", data=plan, method="POST")
        req.add_header("Authorization", f"Bearer {STUDIO_KEY}")
        opened = json.loads(urllib.request.urlopen(req).read())
        one, one_result = classbench(args, [single.port], single.port, opened)
    finally:
        single.stop()
    print(f"one node, {args.phones} phones:")
    print("\n".join("  " + line for line in one))

    with Cluster(tmp / "cluster", nodes=args.nodes, extra=("--max-phones", str(args.phones + 10), "--log-level", "info")) as c:
        opened = c.open_class(node=0, plan=plan)
        sampler = CPUSampler(c)
        sampler.start()
        # Baseline: the class open, no phones, no cues (lease renewals, heartbeats, this sampler).
        time.sleep(2.2)
        idle_used = sampler.between(time.monotonic() - 2.0, time.monotonic())
        idle_window = 2.0
        before = redis_cpu(c)
        started = time.monotonic()
        many, many_result = classbench(args, [n.port for n in c.nodes], c.nodes[-1].port, opened)
        used = redis_cpu(c) - before
        sampler.done.set()
        sampler.join()
        # classbench: connect, settle (2 s), then the load phase of load_s seconds.
        load_start = started + (many_result.get("connect_all_s") or 0) + 2.0
        load_used = sampler.between(load_start + 0.2, load_start + (many_result.get("load_s") or args.duration) - 0.2)
        load_window = max(0.1, (many_result.get("load_s") or args.duration) - 0.4)
    print(f"{args.nodes} nodes, {args.phones} phones (round robin), console on the last node, class on the first:")
    print("\n".join("  " + line for line in many))
    cues = max(1, many_result.get("broadcasts", 0) or int(args.rate * args.duration))
    per_cue = (load_used / load_window - idle_used / idle_window) / args.rate
    print(f"redis-server CPU: {used * 1000:.1f} ms over the whole run (joins included); load phase "
          f"{load_used / load_window * 100:.2f} % of a core at {args.rate:g} cues/s, baseline (class open, no phones, no cues) "
          f"{idle_used / idle_window * 100:.2f} %: {per_cue * 1e6:.0f} µs of Redis CPU per cue")
    def p99(r):
        return (r.get("fanout_us") or {}).get("p99")
    if p99(one_result) and p99(many_result):
        print(f"last-phone p99: cluster / one node = {p99(many_result) / p99(one_result):.2f}")


if __name__ == "__main__":
    main()
