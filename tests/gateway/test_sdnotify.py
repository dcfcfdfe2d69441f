"""sd_notify against a fake NOTIFY_SOCKET: what systemd would receive from the gateway."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import GatewayApp
from gateway.config import parse_config
from gateway.sdnotify import Notifier, socket_address, watchdog_usec
from tests.conftest import scaled

REPO = Path(__file__).resolve().parents[2]


class FakeSystemd:
    """A datagram socket playing systemd's side: records (monotonic time, message) pairs from a thread."""

    def __init__(self, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"sensorcast-test-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            # AF_UNIX paths are limited to 108 bytes: pytest's tmp_path can be longer.
            self.dir = tempfile.mkdtemp(prefix="scn-", dir="/tmp")
            path = os.path.join(self.dir, "notify")
            self.sock.bind(path)
            self.env_value = path
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def wait_for(self, text: str, timeout_s: float) -> float:
        """Return the arrival time of the first message equal to ``text``."""
        deadline = time.monotonic() + scaled(timeout_s)
        while time.monotonic() < deadline:
            for t, msg in list(self.messages):
                if msg == text:
                    return t
            time.sleep(0.01)
        raise AssertionError(f"no {text!r} within {timeout_s} s; got {[m for _, m in self.messages]}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def systemd(request: pytest.FixtureRequest) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(abstract=request.param == "abstract")
    yield fake
    fake.close()


def test_env_parsing_covers_paths_abstract_and_watchdog_owner() -> None:
    """NOTIFY_SOCKET maps to a sendto address; WATCHDOG_USEC only counts for our own pid."""
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abc") == "\0abc"
    assert socket_address("vsock:2:1") is None
    assert socket_address("") is None
    assert watchdog_usec({"WATCHDOG_USEC": "5000000"}, 42) == 5_000_000
    assert watchdog_usec({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "42"}, 42) == 5_000_000
    assert watchdog_usec({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "41"}, 42) is None
    assert watchdog_usec({"WATCHDOG_USEC": "0"}, 42) is None
    assert watchdog_usec({"WATCHDOG_USEC": "x"}, 42) is None
    assert watchdog_usec({}, 42) is None


async def test_without_notify_socket_everything_is_a_no_op() -> None:
    """Outside systemd: no socket, no watchdog, the loop returns at once."""
    n = Notifier.from_env({"WATCHDOG_USEC": "1000000"})
    assert (n.enabled, n.watchdog_interval_s) == (False, None)
    assert [n.ready(), n.status("x"), n.stopping(), n.watchdog()] == [False] * 4
    await asyncio.wait_for(n.watchdog_loop(), 0.5)


async def test_no_watchdog_configured_loop_returns(systemd: FakeSystemd) -> None:
    """With NOTIFY_SOCKET but no WATCHDOG_USEC, watchdog_loop returns immediately and sends nothing."""
    n = Notifier.from_env({"NOTIFY_SOCKET": systemd.env_value})
    assert n.watchdog_interval_s is None
    await asyncio.wait_for(n.watchdog_loop(), 0.5)
    assert n.status("a\nb   c") is True
    systemd.wait_for("STATUS=a b c", 2)
    assert [m for _, m in systemd.messages] == ["STATUS=a b c"]
    n.close()


def test_send_failure_is_reported_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A socket that does not exist makes sends return False and logs one warning, never an exception."""
    n = Notifier(str(tmp_path / "missing"))
    assert [n.ready(), n.watchdog()] == [False, False]
    assert [r.message.startswith("sd_notify to") for r in caplog.records] == [True]


async def test_watchdog_pings_periodically_and_stop_while_loop_is_stalled(systemd: FakeSystemd) -> None:
    """WATCHDOG=1 arrives every half period, none while the event loop is blocked, and resumes after."""
    n = Notifier.from_env({"NOTIFY_SOCKET": systemd.env_value, "WATCHDOG_USEC": "100000"})
    assert n.watchdog_interval_s == pytest.approx(0.1)
    task = asyncio.create_task(n.watchdog_loop())
    await asyncio.sleep(0.5)
    stall_start = time.monotonic()
    time.sleep(0.6)  # noqa: ASYNC251 - deliberately block the loop, as a buggy blocking call would
    stall_end = time.monotonic()
    await asyncio.sleep(0.5)
    task.cancel()
    n.close()
    await asyncio.sleep(0.05)
    pings = [t for t, m in systemd.messages if m == "WATCHDOG=1"]
    assert {m for _, m in systemd.messages} == {"WATCHDOG=1"}
    before = [t for t in pings if t < stall_start]
    during = [t for t in pings if stall_start + 0.1 < t < stall_end]
    after = [t for t in pings if t >= stall_end]
    assert len(before) >= 6  # ~every 50 ms for 0.5 s (some slack for a loaded machine)
    assert during == []
    assert len(after) >= 5


async def test_gateway_app_reports_ready_status_stopping_and_feeds_watchdog(systemd: FakeSystemd) -> None:
    """The real app sends STATUS then READY=1 once serving, WATCHDOG=1 from its loop, and STOPPING=1 when its
    stop begins (then at most watchdog pings while it drains)."""
    cfg = parse_config(
        {
            "gateway": {"id": "t", "port": 0},
            "sensors": [{"id": "wave", "driver": "synthetic", "interval_s": 0.05}],
        },
        file="(test)",
    )
    notifier = Notifier.from_env({"NOTIFY_SOCKET": systemd.env_value, "WATCHDOG_USEC": "200000"})
    async with GatewayApp(cfg, notifier=notifier) as app:
        ready_t = systemd.wait_for("READY=1", 5)
        url = app.http_url
        _reader, writer = await asyncio.open_connection("127.0.0.1", app.port)  # serving when READY was sent
        writer.close()
        await asyncio.sleep(0.4)
        stall_start = time.monotonic()
        time.sleep(0.5)  # noqa: ASYNC251 - the stall under test
        stall_end = time.monotonic()
        await asyncio.sleep(0.3)
    systemd.wait_for("STOPPING=1", 5)
    msgs = [m for _, m in systemd.messages]
    assert msgs[0].startswith("STATUS=")  # what it is doing while starting, before READY
    assert msgs.index("READY=1") < msgs.index(f"STATUS=serving {url} (1 sensors)")
    # STOPPING=1 comes first in the ordered stop; the watchdog may still be fed while the stop drains (the
    # bridge's last commit can take a moment), and nothing else follows.
    stopping = msgs.index("STOPPING=1")
    assert set(msgs[stopping + 1 :]) <= {"WATCHDOG=1"}, msgs[stopping:]
    pings = [t for t, m in systemd.messages if m == "WATCHDOG=1"]
    assert len([t for t in pings if ready_t <= t < stall_start]) >= 2
    assert [t for t in pings if stall_start + 0.1 < t < stall_end] == []
    assert [t for t in pings if t >= stall_end] != []


def test_cli_run_notifies_systemd(systemd: FakeSystemd, tmp_path: Path) -> None:
    """`sensorcast run` under a fake systemd: READY=1 when the dashboard URL is printed, STOPPING=1 on SIGTERM."""
    env = {**os.environ, "NOTIFY_SOCKET": systemd.env_value, "WATCHDOG_USEC": "1000000"}
    config = tmp_path / "sensorcast.toml"
    config.write_text(
        f'[gateway]\nport = 0\ndata_dir = "{tmp_path}"\n\n'
        '[[sensors]]\nid = "wave"\ndriver = "synthetic"\ninterval_s = 0.1\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(config)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[1].startswith("Dashboard: http://127.0.0.1:")
        systemd.wait_for("READY=1", 10)
        systemd.wait_for("WATCHDOG=1", 5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(15)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    systemd.wait_for("STOPPING=1", 2)
    assert [m for _, m in systemd.messages if not m.startswith(("WATCHDOG", "STATUS"))] == [
        "READY=1",
        "STOPPING=1",
    ]


def test_reloading_sends_the_monotonic_time_systemd_needs(systemd: FakeSystemd) -> None:
    """reloading() is one datagram: RELOADING=1 and MONOTONIC_USEC in microseconds (then ready() ends it)."""
    n = Notifier.from_env({"NOTIFY_SOCKET": systemd.env_value})
    assert n.reloading(12_345_678_999) and n.ready()
    systemd.wait_for("READY=1", 5)
    assert [m for _, m in systemd.messages] == ["RELOADING=1\nMONOTONIC_USEC=12345678", "READY=1"]
