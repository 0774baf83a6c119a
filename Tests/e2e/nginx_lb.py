"""Debian's nginx as a real load balancer in front of classctl nodes (config/cluster/nginx.conf)."""
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "config" / "cluster" / "nginx.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (str(p) if (p := Path("/usr/sbin/nginx")).exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NginxBalancer:
    """nginx in the foreground on a free loopback port, round robin over `node_ports`."""

    def __init__(self, node_ports: list[int]):
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (scripts/setup.sh --test installs it)")
        self.dir = Path(tempfile.mkdtemp(prefix="classctl-nginx-"))
        (self.dir / "tmp").mkdir()
        self.port = free_port()
        upstream = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=3s;" for p in node_ports)
        text = (TEMPLATE.read_text()
                .replace("{{PID_FILE}}", str(self.dir / "nginx.pid"))
                .replace("{{ERROR_LOG}}", str(self.dir / "error.log"))
                .replace("{{TEMP_DIR}}", str(self.dir / "tmp"))
                .replace("{{UPSTREAM_SERVERS}}", upstream)
                .replace("{{LISTEN}}", f"127.0.0.1:{self.port}"))
        conf = self.dir / "nginx.conf"
        conf.write_text(text)
        check = subprocess.run([binary, "-t", "-c", str(conf), "-p", str(self.dir), "-e", str(self.dir / "error.log")],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self.proc = subprocess.Popen([binary, "-c", str(conf), "-p", str(self.dir), "-e", str(self.dir / "error.log"),
                                      "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen on {self.port}:\n{self.error_log()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        p = self.dir / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
