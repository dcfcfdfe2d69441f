"""A real Mosquitto broker for tests: free 127.0.0.1 port, temporary config, stopped by PID.

Usable from pytest (see conftest.py's ``broker`` fixture) and from ``sensorcast bench``-like scripts.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

MOSQUITTO = os.environ.get("SENSORCAST_MOSQUITTO", "/usr/sbin/mosquitto")


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """One broker process on a fixed loopback port (kept across restarts, so clients can reconnect).

    Args:
        workdir: directory for the config, the log and (with ``persistence``) the persistence file.
        port: listening port; 0 picks a free one.
        persistence: keep retained messages and persistent sessions across a graceful restart.
        extra: extra config lines.
    """

    def __init__(self, workdir: Path, port: int = 0, *, persistence: bool = True, extra: str = "") -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        lines = [
            # Started as root, mosquitto switches to user "mosquitto", which cannot write into private
            # temp dirs (no persistence file, no log). Stay the user who started it.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {workdir}/",
            "autosave_interval 0",
            "max_queued_messages 0",  # unlimited: test subscribers must not lose what the broker accepted
            "max_inflight_messages 0",
            "log_type error",
            "log_type warning",
            "log_type notice",
            f"log_dest file {self.log}",
            extra,
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT``."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout_s} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM by PID (persistence is written) and wait for the process to exit."""
        self._signal(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        """SIGKILL by PID: the broker dies without writing anything."""
        self._signal(signal.SIGKILL, 10.0)

    def restart(self, *, kill: bool = False, down_s: float = 0.0) -> None:
        """Stop (or kill) the broker, stay down ``down_s`` seconds, and start it again on the same port."""
        if kill:
            self.kill()
        else:
            self.stop()
        time.sleep(down_s)
        self.start()

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def _signal(self, sig: signal.Signals, timeout_s: float) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()


@contextlib.contextmanager
def running_broker(workdir: Path) -> Iterator[Mosquitto]:
    """A broker started in ``workdir`` for the duration of the block, stopped by PID afterwards."""
    b = Mosquitto(workdir)
    b.start()
    try:
        yield b
    finally:
        b.stop()
