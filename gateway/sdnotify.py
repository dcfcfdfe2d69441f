"""systemd's notify protocol (``Type=notify``, ``WatchdogSec=``) in a few lines, without libsystemd.

systemd passes ``NOTIFY_SOCKET`` (a filesystem path, or ``@name`` for an abstract socket) and, when the unit has
``WatchdogSec=``, ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``). The service sends newline-separated ``KEY=value``
datagrams: ``READY=1`` once it serves, ``STATUS=...`` for ``systemctl status``, ``STOPPING=1`` on the way out and
``WATCHDOG=1`` at least once per watchdog interval. See sd_notify(3).

The watchdog is fed from the event loop itself (:meth:`Notifier.watchdog_loop`), so a loop stalled by a blocking
call stops feeding it and systemd kills and restarts the gateway.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

MAX_STATUS_CHARS = 400
"""STATUS= text is cut to this length: it is shown on one line of ``systemctl status``."""


def socket_address(value: str) -> str | None:
    """Return the ``sendto`` address for a ``NOTIFY_SOCKET`` value (``@name`` -> abstract), None if unusable."""
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # vsock:... and other transports are not used for system services on a board


def watchdog_usec(environ: Mapping[str, str], pid: int) -> int | None:
    """Return the watchdog period in microseconds from ``WATCHDOG_USEC``/``WATCHDOG_PID``, None when unset."""
    raw = environ.get("WATCHDOG_USEC", "")
    if not raw.isdigit() or int(raw) == 0:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None  # meant for another process (e.g. a wrapper that exec'd us kept a stale value)
    return int(raw)


class Notifier:
    """Sends sd_notify messages; every method is a no-op when not started by systemd.

    Args:
        address: socket address (``\\0``-prefixed for abstract sockets), None to disable.
        watchdog_usec: watchdog period in microseconds, None when the unit has no ``WatchdogSec=``.
    """

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self._watchdog_usec = watchdog_usec if address else None
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        """Build a notifier from ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID``."""
        address = socket_address(environ.get("NOTIFY_SOCKET", ""))
        return cls(address, watchdog_usec(environ, os.getpid()))

    @property
    def enabled(self) -> bool:
        """True when messages go somewhere."""
        return self.address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """The watchdog period systemd enforces, in seconds, or None when there is no watchdog."""
        return None if self._watchdog_usec is None else self._watchdog_usec / 1_000_000

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines as one datagram; return False when disabled or the send failed."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(assignments).encode("utf-8", "replace"), self.address)
        except OSError as exc:
            if not self._warned:  # systemd gone or socket wrong: say it once, never crash the gateway for it
                log.warning("sd_notify to %r failed: %s", self.address.replace("\0", "@"), exc)
                self._warned = True
            return False
        return True

    def ready(self) -> bool:
        """Tell systemd the gateway serves (sensors started, socket listening)."""
        return self.notify("READY=1")

    def status(self, text: str) -> bool:
        """Set the one-line status shown by ``systemctl status``."""
        line = " ".join(text.split())[:MAX_STATUS_CHARS]
        return self.notify(f"STATUS={line}")

    def reloading(self, monotonic_ns: int) -> bool:
        """Tell systemd a configuration reload has begun (``ready`` ends it); ``monotonic_ns`` is
        ``time.monotonic_ns()`` now, which systemd >= 253 requires alongside RELOADING=1."""
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_ns // 1000}")

    def stopping(self) -> bool:
        """Tell systemd a clean shutdown has begun."""
        return self.notify("STOPPING=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for ``seconds`` more before systemd gives up on a start or stop in progress."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def watchdog(self) -> bool:
        """Feed the watchdog once."""
        return self.notify("WATCHDOG=1")

    async def watchdog_loop(self) -> None:
        """Feed the watchdog every half period, from the event loop, until cancelled.

        Returns at once when no watchdog is configured. Because the pings are scheduled by the loop, a loop
        blocked by a synchronous call sends none, which is exactly what the watchdog must detect.
        """
        interval_s = self.watchdog_interval_s
        if interval_s is None:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(interval_s / 2)

    def close(self) -> None:
        """Close the socket (the notifier reopens it if used again)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
