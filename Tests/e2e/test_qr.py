"""QR codes from `classctl qr TEXT [--svg]`, read back by an independent decoder (zxing-cpp).

Both renderings are turned back into a module grid (terminal half blocks, or the SVG path's
runs), rasterised with numpy and decoded; the decoded text must equal the input exactly.
"""
import random
import re
import subprocess

import numpy as np
import pytest
import zxingcpp

from helpers import BIN

SCALE = 3  # pixels per module for the decoder


def classctl_qr(text, svg=False):
    args = [str(BIN / "classctl"), "qr", text] + (["--svg"] if svg else [])
    done = subprocess.run(args, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()


def grid_from_terminal(text):
    """Dark modules from the default rendering: glyphs paint light modules, spaces are dark."""
    rows = []
    for line in text.split("\n"):
        rows.append([c in "█▀" for c in line])
        rows.append([c in "█▄" for c in line])
    painted = np.array(rows[:-1], dtype=bool)  # the last half row lies below the picture
    assert painted.shape[0] == painted.shape[1], "terminal rendering is not square"
    # The terminal quiet zone is 2 modules; give the decoder the standard 4.
    return np.pad(~painted, 2, constant_values=False)


def grid_from_svg(svg):
    span = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).group(1))
    grid = np.zeros((span, span), dtype=bool)
    for x, y, width in re.findall(r"M(\d+),(\d+)h(\d+)v1h-\d+z", svg):
        grid[int(y), int(x):int(x) + int(width)] = True
    return grid


def decode(grid):
    image = np.where(grid, 0, 255).astype(np.uint8)
    image = np.kron(image, np.ones((SCALE, SCALE), dtype=np.uint8))
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def sample_texts():
    rng = random.Random(2024)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _/:.?=&%#"
    texts = ["".join(rng.choice(alphabet) for _ in range(n)) for n in range(1, 301, 7)]
    texts += [
        "http://192.168.1.23:8080/c/K7QP",
        "https://retro-run.example.org/c/ABCD",
        "https://classes.backwards-running.example.com:8443/c/ZZ99?lang=de",
        "http://[fe80::1]:8080/c/K7QP",
        "Rückwärtslaufen – ça marche! 後ろ向きに走る 🏃‍♀️",
        "x" * 2331,  # the most bytes level M holds (version 40)
    ]
    return texts


@pytest.mark.parametrize("text", sample_texts(), ids=lambda t: f"{len(t.encode())}B")
def test_terminal_and_svg_decode_back(text):
    assert decode(grid_from_terminal(classctl_qr(text))) == [text]
    assert decode(grid_from_svg(classctl_qr(text, svg=True))) == [text]


def test_too_long_text_is_refused_clearly():
    done = subprocess.run([str(BIN / "classctl"), "qr", "x" * 2332], capture_output=True, timeout=30)
    assert done.returncode != 0
    message = (done.stdout + done.stderr).decode(errors="replace")
    assert "too long" in message and "2332" in message


def test_start_banner_qr_is_the_join_link(tmp_path):
    """The QR code `classctl start` draws in the terminal decodes to the join link it prints,
    and /c/CODE/qr.svg (shown on the instructor console) encodes the same link."""
    from helpers import start_classctl
    import urllib.request
    p = start_classctl("--host", "127.0.0.1", "--port", "0", "--code", "QRQR", "--record-dir", str(tmp_path))
    try:
        out = p.output()
        link = re.search(r"join:\s+(\S+)", out).group(1)
        assert link == f"http://127.0.0.1:{p.port}/c/QRQR"
        lines = out.split("\n")
        start = next(i for i, l in enumerate(lines) if "Scan to join" in l) + 1
        block = []
        for line in lines[start:]:
            if not line or any(c not in "█▀▄ " for c in line):
                break
            block.append(line)
        assert decode(grid_from_terminal("\n".join(block))) == [link]
        svg = urllib.request.urlopen(f"http://127.0.0.1:{p.port}/c/QRQR/qr.svg").read().decode()
        assert decode(grid_from_svg(svg)) == [link]
    finally:
        p.stop()
