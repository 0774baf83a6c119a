"""https and wss on the same port, with real peers: openssl s_client, Python ssl, curl, Chromium."""
import asyncio
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import websockets

from helpers import start_classctl, start_ws_echo, run_classctl, open_fds, rss_kib

TOKEN = "tls-instructor-token-0000000000001"


def make_cert(d: Path, name="server", cn="localhost", days=30, key_type="ec"):
    key, cert = d / f"{name}-key.pem", d / f"{name}.pem"
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key_type == "ec" else ["-newkey", "rsa:2048"]
    subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", str(days), "-subj", f"/CN={cn}", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def make_expired_cert(d: Path):
    """A self-signed certificate that expired yesterday (the openssl CLI of Debian 12 cannot date one back)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30)).not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    (d / "old.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "old-key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return d / "old.pem", d / "old-key.pem"


@pytest.fixture
def certs(tmp_path):
    return make_cert(tmp_path)


@pytest.fixture
def tls_class(tmp_path, certs):
    cert, key = certs
    p = start_classctl("--host", "127.0.0.1", "--port", "0", "--code", "TLS", "--token", TOKEN,
                       "--record-dir", str(tmp_path / "rec"), "--tls-cert", str(cert), "--tls-key", str(key))
    yield p, cert
    p.stop()


def s_client(port, *flags, data=b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"):
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", "-quiet", *flags],
                       input=data, capture_output=True, timeout=10)
    return r


@pytest.mark.parametrize("version", ["-tls1_3", "-tls1_2"])
def test_openssl_s_client_fetches_page(tls_class, version):
    p, cert = tls_class
    r = s_client(p.port, version, "-CAfile", str(cert), "-alpn", "http/1.1")
    assert b"HTTP/1.1 200 OK" in r.stdout and r.stdout.rstrip().endswith(b"ok")


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_old_tls_versions_refused(tls_class, version):
    p, _ = tls_class
    r = s_client(p.port, version, "-cipher", "DEFAULT@SECLEVEL=0")
    assert b"HTTP/1.1" not in r.stdout
    assert r.returncode != 0


def test_python_ssl_page_and_websocket_tls12_and_13(tls_class):
    p, cert = tls_class
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.minimum_version = ctx.maximum_version = version
        ctx.set_alpn_protocols(["http/1.1"])
        with socket.create_connection(("127.0.0.1", p.port)) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.version() == ("TLSv1.3" if version == ssl.TLSVersion.TLSv1_3 else "TLSv1.2")
            assert s.selected_alpn_protocol() == "http/1.1"
            s.sendall(b"GET /c/TLS HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            body = b""
            while chunk := s.recv(65536):
                body += chunk
            assert body.startswith(b"HTTP/1.1 200") and b"<html" in body.lower()

        async def ws_roundtrip():
            async with websockets.connect(f"wss://localhost:{p.port}/ws?class=TLS", ssl=ctx,
                                          origin=f"https://localhost:{p.port}") as ws:
                welcome = json.loads(await ws.recv())
                assert welcome["type"] == "welcome" and welcome["class"]["code"] == "TLS"
        asyncio.run(ws_roundtrip())


def test_plain_http_on_tls_port_is_refused_cleanly(tls_class):
    p, cert = tls_class
    s = socket.create_connection(("127.0.0.1", p.port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5)
    data = b""
    try:
        while chunk := s.recv(4096):
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    assert b"HTTP/1.1 200" not in data
    # The server is still fine.
    assert urllib.request.urlopen(f"https://localhost:{p.port}/healthz", context=ssl.create_default_context(cafile=str(cert))).read() == b"ok\n"


def test_curl_with_the_generated_ca(tmp_path):
    d = tmp_path / "certs"
    r = run_classctl("cert", "--dir", str(d), "--name", "class.example.test")
    assert r.returncode == 0, r.stderr
    assert "ca.pem" in r.stdout
    for f in ("ca-key.pem", "server-key.pem"):
        assert oct((d / f).stat().st_mode & 0o777) == "0o600"
    p = start_classctl("--host", "127.0.0.1", "--port", "0", "--code", "CURL", "--record-dir", str(tmp_path / "rec"),
                       "--tls-cert", str(d / "server.pem"), "--tls-key", str(d / "server-key.pem"))
    try:
        out = subprocess.run(["curl", "-sS", "--cacert", str(d / "ca.pem"), f"https://localhost:{p.port}/healthz"],
                             capture_output=True, text=True, timeout=10)
        assert out.returncode == 0 and out.stdout == "ok\n", out.stderr
        out = subprocess.run(["curl", "-sS", "--cacert", str(d / "ca.pem"), f"https://127.0.0.1:{p.port}/api/classes"],
                             capture_output=True, text=True, timeout=10)
        assert json.loads(out.stdout)[0]["code"] == "CURL"
    finally:
        p.stop()


def test_certificate_errors_before_listening(tmp_path, certs):
    cert, key = certs
    other_cert, other_key = make_cert(tmp_path, name="other")
    notpem = tmp_path / "notpem.pem"
    notpem.write_text("this is not a certificate\n")
    enc_key = tmp_path / "enc-key.pem"
    subprocess.run(["openssl", "pkey", "-in", str(key), "-aes256", "-passout", "pass:secret", "-out", str(enc_key)], check=True)
    cases = [
        ((tmp_path / "missing.pem", key), "missing.pem"),
        ((notpem, key), "PEM"),
        ((cert, notpem), "PEM"),
        ((cert, other_key), "does not match"),
        ((cert, enc_key), "passphrase"),
    ]
    for (c, k), expected in cases:
        r = run_classctl("start", "--host", "127.0.0.1", "--port", "0", "--record-dir", str(tmp_path / "rec"),
                         "--tls-cert", str(c), "--tls-key", str(k), timeout=15)
        assert r.returncode == 1, (c, k, r.stdout, r.stderr)
        assert expected.lower() in r.stderr.lower(), r.stderr
        assert "listening" not in r.stdout
    # With the passphrase the encrypted key works.
    p = start_classctl("--host", "127.0.0.1", "--port", "0", "--record-dir", str(tmp_path / "rec"),
                       "--tls-cert", str(cert), "--tls-key", str(enc_key), env={"CLASSCTL_TLS_KEY_PASSPHRASE": "secret"})
    p.stop()
    # An expired certificate starts with a warning.
    old_cert, old_key = make_expired_cert(tmp_path)
    p = start_classctl("--host", "127.0.0.1", "--port", "0", "--record-dir", str(tmp_path / "rec"),
                       "--tls-cert", str(old_cert), "--tls-key", str(old_key))
    time.sleep(0.3)
    p.stop()
    assert "expired" in p.output().lower()


def peer_cert_serial(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw) as s:
        der = s.getpeercert(binary_form=True)
    return der


def test_sighup_reloads_certificate_without_dropping_connections(tmp_path):
    d = tmp_path / "live"
    d.mkdir()
    cert, key = make_cert(d, name="server")
    p = start_classctl("--host", "127.0.0.1", "--port", "0", "--code", "HUP", "--record-dir", str(tmp_path / "rec"),
                       "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        first = peer_cert_serial(p.port)
        ctx = ssl.create_default_context(cafile=str(cert))

        async def scenario():
            async with websockets.connect(f"wss://localhost:{p.port}/ws?class=HUP", ssl=ctx) as ws:
                await ws.recv()
                # Renew the pair in place and reload.
                make_cert(d, name="server")
                p.proc.send_signal(1)
                await asyncio.sleep(0.5)
                await ws.send(json.dumps({"type": "sync"}))
                while json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] != "state":
                    pass
                return True
        assert asyncio.run(scenario()), "the open wss connection survived the reload"
        second = peer_cert_serial(p.port)
        assert second != first, "new connections get the new certificate"
        # A bad new pair is rejected and the current one stays in service.
        (d / "server-key.pem").write_text("garbage\n")
        p.proc.send_signal(1)
        time.sleep(0.5)
        assert peer_cert_serial(p.port) == second
        assert "rejected" in p.output()
    finally:
        p.stop()


def test_tls_churn_with_hostile_clients(tmp_path, certs):
    cert, key = certs
    p = start_ws_echo("--tls-cert", str(cert), "--tls-key", str(key))
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        pid = p.proc.pid

        def good():
            with socket.create_connection(("127.0.0.1", p.port)) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert s.recv(100).startswith(b"HTTP/1.1")

        def vanish_mid_handshake():
            s = socket.create_connection(("127.0.0.1", p.port))
            s.sendall(bytes.fromhex("16030100") + b"\x01")  # the start of a ClientHello, then gone
            s.close()

        def garbage():
            s = socket.create_connection(("127.0.0.1", p.port))
            s.sendall(os.urandom(300))
            s.close()

        def silent():
            return socket.create_connection(("127.0.0.1", p.port))

        for _ in range(100):
            good()
        time.sleep(0.5)
        fds0, rss0 = open_fds(pid), rss_kib(pid)
        silent_ones = [silent() for _ in range(50)]   # never speak: must not stall anyone
        errors = []

        def worker(n):
            try:
                for i in range(n):
                    [good, vanish_mid_handshake, garbage][i % 3]()
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        threads = [threading.Thread(target=worker, args=(600,)) for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert not errors, errors[:3]
        for s in silent_ones:
            s.close()
        time.sleep(1.5)
        fds1, rss1 = open_fds(pid), rss_kib(pid)
        assert fds1 <= fds0 + 2, (fds0, fds1)
        assert rss1 - rss0 < 8 * 1024, (rss0, rss1)
    finally:
        p.stop()


def spki_hash(cert: Path) -> str:
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, capture_output=True, check=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der, capture_output=True, check=True).stdout
    import base64
    return base64.b64encode(digest).decode()


def test_chromium_loads_page_over_https_and_connects_wss(tls_class, browser):
    p, cert = tls_class
    # Trust exactly this certificate's key (no blanket --ignore-certificate-errors).
    d = browser(390, 844, extra_args=(f"--ignore-certificate-errors-spki-list={spki_hash(cert)}",))
    d.get(f"https://localhost:{p.port}/c/TLS")
    deadline = time.time() + 15
    while time.time() < deadline:
        if d.execute_script("return document.body.dataset.connection") == "connected":
            break
        time.sleep(0.2)
    assert d.execute_script("return document.body.dataset.connection") == "connected"
    assert d.execute_script("return window.isSecureContext") is True
    assert d.execute_script("return location.protocol") == "https:"
