"""The field note's clients talk to sensorcast on its default port 8765: Python websockets, a browser's
``new WebSocket`` (real headless Chromium), and Node's ``ws``. Each sends text and gets binary msgpack back."""

from __future__ import annotations

import ast
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from tests.conftest import scaled

SEED = Path(__file__).parent / "seed"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture(scope="module")
def gateway_8765() -> Iterator[None]:
    """The demo gateway on its default port (the seed clients hard-code ws://localhost:8765)."""
    assert _port_free(8765), "port 8765 is busy: stop whatever runs there (a demo?) before the test suite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + scaled(20)
    while time.monotonic() < deadline:
        if proc.stdout.readline().startswith("Dashboard: http://127.0.0.1:8765/"):
            break
    else:
        proc.kill()
        raise AssertionError("demo did not start on 8765")
    yield
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=scaled(5))


def test_python_seed_client_verbatim(gateway_8765: None) -> None:
    """The seed's Python client prints a binary msgpack frame (the hello) received for its text message."""
    out = subprocess.run(
        [sys.executable, str(SEED / "seed_client.py")],
        capture_output=True,
        text=True,
        timeout=scaled(20),
        check=True,
    ).stdout
    assert out.startswith(("Received: b'", 'Received: b"'))  # repr() picks the quote the bytes don't contain
    frame = msgpack.unpackb(ast.literal_eval(out.removeprefix("Received: ").strip()))
    assert frame["t"] == "hello" and frame["v"] == 1


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is installed by scripts/test.sh")
def test_node_ws_client(gateway_8765: None) -> None:
    """A Node client on the `ws` package gets a binary frame that decodes to the hello."""
    if not (SEED / "node_modules" / "ws").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=SEED, check=True, capture_output=True, timeout=300
        )
    out = subprocess.run(
        ["node", str(SEED / "node_client.js")], capture_output=True, text=True, timeout=scaled(20), check=True
    ).stdout.splitlines()
    assert out[0] == "Connected to server"
    assert out[1].startswith("Received: binary=true bytes=") and out[1].endswith(" t=hello")
    assert out[2] == "Connection closed"


# Stock Debian's /etc/hosts also maps localhost to ::1, and Node 18 (Debian 12's) connects to the first address
# only. Node 20+ falls back to 127.0.0.1 by itself (happy eyeballs), which would hide a gateway deaf on ::1, so
# this file gives localhost no IPv4 address at all: the client can only succeed over ::1.
IPV6_ONLY_HOSTS = "::1\tlocalhost ip6-localhost ip6-loopback\n"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is installed by scripts/test.sh")
def test_node_ws_client_reaches_localhost_when_it_resolves_to_ipv6(
    gateway_8765: None, tmp_path: Path
) -> None:
    """With `::1 localhost` in /etc/hosts, Node resolves localhost to ::1 and its `ws` client still gets the
    hello from ws://localhost:8765 (the gateway's default bind serves ::1 as well as 127.0.0.1)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is missing: cannot give node its own /etc/hosts")
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=10).returncode != 0:
        pytest.skip("unshare --mount is not permitted here (needs root): cannot give node its own /etc/hosts")
    if not (SEED / "node_modules" / "ws").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=SEED, check=True, capture_output=True, timeout=300
        )
    hosts = tmp_path / "hosts"
    hosts.write_text(IPV6_ONLY_HOSTS)
    lookup = "require('dns').lookup('localhost', (e, a) => console.log(e ? e.code : a))"
    script = 'mount --bind "$1" /etc/hosts && node -e "$2" && exec node "$3"'
    proc = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", str(hosts), lookup, str(SEED / "node_client.js")],
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )
    out = proc.stdout.splitlines()
    assert (proc.returncode, proc.stderr) == (0, ""), out
    assert out[:2] == ["::1", "Connected to server"]  # node's own resolver picked ::1, and connected
    assert out[2].startswith("Received: binary=true bytes=") and out[2].endswith(" t=hello")
    assert out[3:] == ["Connection closed"]


@pytest.mark.browser
def test_browser_seed_client_verbatim_in_chromium(gateway_8765: None) -> None:
    """The seed's browser snippet, run in real headless Chromium on the gateway's page, receives binary frames."""
    from playwright.sync_api import sync_playwright

    script = (SEED / "seed_browser.js").read_text()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            logs: list[str] = []
            page.on("console", lambda m: logs.append(m.text))
            page.goto("http://localhost:8765/")
            page.evaluate(f"() => {{ {script}; window.__seed = socket; }}")
            deadline = time.monotonic() + scaled(10)
            while time.monotonic() < deadline and not any(t.startswith("Received:") for t in logs):
                page.wait_for_timeout(100)
            assert "Connected to server" in logs
            received = [t for t in logs if t.startswith("Received:")]
            assert received and all(t == "Received: Blob" for t in received)  # binary frames arrive as Blobs
            kind = page.evaluate(
                "() => new Promise(r => { window.__seed.binaryType = 'arraybuffer';"
                " window.__seed.onmessage = e => r(e.data instanceof ArrayBuffer); })"
            )
            assert kind is True
        finally:
            browser.close()


def test_default_port_is_8765() -> None:
    """The documented default port is the field note's 8765."""
    from gateway.config import GatewaySection

    assert GatewaySection().port == 8765
