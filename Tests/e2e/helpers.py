"""Shared helpers for the end-to-end tests: start classctl / ws-echo as real processes."""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CLASSCTL_BIN", ROOT / ".build" / "release"))
if not BIN.is_absolute():
    BIN = ROOT / BIN


class Proc:
    """A server process whose stdout is collected in a file, with its port parsed."""

    def __init__(self, args, pattern, env=None, cwd=None, timeout=20):
        self.log_path = Path(f"/tmp/classctl-e2e-{os.getpid()}-{time.monotonic_ns()}.log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=full_env, cwd=cwd)
        self.port = None
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.output())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError(f"{args[0]} did not start:\n{self.output()}")

    def output(self):
        return self.log_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            # classctl's first SIGTERM/SIGINT waits 3 s for a second one (which ends the class
            # for good) before it suspends the class: tests end theirs at once.
            try:
                self.proc.wait(0.3)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def start_classctl(*args, env=None, cwd=None):
    return Proc([str(BIN / "classctl"), "start", *args], r"listening:\s+https?://(?:\[[^\]\s]*\]|[^:\s/]+):(\d+)", env=env, cwd=cwd)


def start_ws_echo(*args):
    return Proc([str(BIN / "ws-echo"), "--port", "0", *args], r"listening on wss?://[^\s]*:(\d+)/")


def run_classctl(*args, env=None, timeout=30, cwd=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([str(BIN / "classctl"), *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd)


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
