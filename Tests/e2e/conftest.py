"""Shared fixtures for the end-to-end tests: the real `classctl` binary and headless Chromium.

- `classctl_bin`: path of the binary ($CLASSCTL_BIN/classctl, default .build/release/classctl).
- `start_class(plan_text, **flags)`: starts `classctl start` on a free port; returns a `ClassServer`.
- `browser(width, height)`: a factory for headless Chrome drivers; at teardown every driver's
  console is checked for SEVERE errors (a test may allow some: `driver.allowed_errors.append(regex)`).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
# The banner's line, e.g. `listening:   http://127.0.0.1:8080` or `http://0.0.0.0:8080 (all interfaces)`.
LISTENING = re.compile(r"listening:\s+(https?)://(\[[0-9A-Fa-f:.]+\]|[\w.-]+):(\d+)")
# Where a client on this machine reaches a server listening on a wildcard address.
LOOPBACK_FOR = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}


def listening_url(match: re.Match) -> str:
    scheme, host, port = match.groups()
    return f"{scheme}://{LOOPBACK_FOR.get(host, host)}:{port}"


@pytest.fixture(scope="session")
def classctl_bin() -> Path:
    path = Path(os.environ.get("CLASSCTL_BIN", ROOT / ".build" / "release")) / "classctl"
    if not path.is_absolute():
        path = ROOT / path
    if not path.is_file():
        pytest.fail(f"classctl not found at {path}: run `swift build -c release` or set CLASSCTL_BIN")
    return path


@dataclass
class ClassServer:
    base_url: str
    code: str
    token: str
    proc: subprocess.Popen
    record_dir: Path
    output: list[str] = field(default_factory=list)  # the server's stdout lines, as they come

    @property
    def participant_url(self) -> str:
        return f"{self.base_url}/c/{self.code}"

    @property
    def instructor_url(self) -> str:
        return f"{self.base_url}/c/{self.code}/instructor#token={self.token}"


@pytest.fixture
def start_class(classctl_bin, tmp_path):
    """Factory: start_class(plan_text, code="TEST", lead_ms=300, log_level="debug", ...).
    Each keyword becomes a `--kebab-case` flag (True: bare flag, None/False: left out)."""
    servers: list[ClassServer] = []

    def start(plan_text: str | None = None, *, code: str = "TEST", token: str | None = None,
              timeout: float = 20.0, **flags) -> ClassServer:
        run_dir = tmp_path / f"class{len(servers)}"
        record_dir = run_dir / "records"
        record_dir.mkdir(parents=True)
        token = token or secrets.token_hex(16)
        args = [str(classctl_bin), "start"]
        if plan_text is not None:
            plan = run_dir / "plan.yaml"
            plan.write_text(plan_text)
            args.append(str(plan))
        flags = {"host": "127.0.0.1", "port": 0, "lead_ms": 300, **flags}
        args += ["--code", code, "--token", token, "--record-dir", str(record_dir)]
        for key, value in flags.items():
            if value is None or value is False:
                continue
            args.append("--" + key.replace("_", "-"))
            if value is not True:
                args.append(str(value))

        stderr = open(run_dir / "stderr.log", "w")
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=run_dir)
        output: list[str] = []
        found = threading.Event()
        url: list[str] = []

        def pump() -> None:  # keep reading, or a chatty server blocks on a full pipe
            for line in proc.stdout:
                output.append(line.rstrip("\n"))
                m = LISTENING.search(line)
                if m and not found.is_set():
                    url.append(listening_url(m))
                    found.set()
            found.set()

        threading.Thread(target=pump, daemon=True).start()
        found.wait(timeout)
        if not url:
            proc.kill()
            proc.wait()
            log = (run_dir / "stderr.log").read_text()[-2000:]
            pytest.fail(f"classctl printed no 'listening:' line in {timeout}s; "
                        f"exit={proc.returncode}\nstdout: {output[-20:]}\nstderr: {log}")
        server = ClassServer(url[0], code, token, proc, record_dir, output)
        servers.append(server)
        return server

    yield start

    for server in servers:
        if server.proc.poll() is None:
            # Twice: the first SIGTERM alone suspends the class after a 3 s grace (docs/deploy.md).
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            if server.proc.poll() is None:
                server.proc.send_signal(signal.SIGTERM)
            try:
                server.proc.wait(10)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()


def _chrome_paths() -> tuple[str, str]:
    chrome = os.environ.get("CHROME_BIN") or shutil.which("chromium") or shutil.which("google-chrome")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not chrome or not Path(driver).is_file():
        pytest.skip("needs chromium and chromedriver: apt-get install -y chromium chromium-driver")
    return chrome, driver


@pytest.fixture
def browser():
    """Factory: browser(width=390, height=844, dark=False) → a Chrome WebDriver showing a
    viewport of exactly that size (CDP device metrics; `mobile` below 600 px wide)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chrome, driver_path = _chrome_paths()
    drivers = []

    def make(width: int = 390, height: int = 844, dark: bool = False, extra_args: tuple = ()):
        opts = webdriver.ChromeOptions()
        opts.binary_location = chrome
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                    f"--window-size={max(width, 500)},{height}", *extra_args):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
        driver.allowed_errors = []
        drivers.append(driver)
        set_viewport(driver, width, height)
        if dark:
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
                "features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        return driver

    yield make

    problems = []
    for driver in drivers:
        try:
            for entry in driver.get_log("browser"):
                if entry["level"] != "SEVERE":
                    continue
                if any(re.search(p, entry["message"]) for p in driver.allowed_errors):
                    continue
                problems.append(entry["message"])
        finally:
            driver.quit()
    assert not problems, "browser console errors:\n" + "\n".join(problems)


def set_viewport(driver, width: int, height: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def screenshot(driver, name: str) -> Path:
    """Saves the viewport as test-output/screenshots/NAME.png."""
    folder = OUTPUT / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
