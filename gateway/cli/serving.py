"""What the serving commands (``run``, ``fleet``, ``record``) share: the start of ``main()`` (logging, config,
its mistakes on stderr) and the signal scaffolding of ``serve()``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

from gateway.cli.logs import setup_logging
from gateway.config import ConfigErrors

log = logging.getLogger("sensorcast")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
"""The signals that stop a serving command cleanly (systemd's stop, Ctrl-C)."""

T = TypeVar("T")


class Served(Protocol):
    """The app a command serves: its WebSocket URL and a wait for its stop."""

    @property
    def url(self) -> str: ...

    async def wait_closed(self) -> None: ...


def print_config_errors(exc: ConfigErrors) -> None:
    """Every mistake of the config on stderr, one a line under a heading (as ``check-config`` prints them)."""
    print("sensorcast: configuration error:", file=sys.stderr)
    for e in exc.errors:
        print(f"  {e}", file=sys.stderr)


def configure(args: argparse.Namespace, prepare: Callable[[argparse.Namespace], T]) -> T | None:
    """Set up logging at ``--log-level``, then ``prepare(args)``; on mistakes print them and return None (the
    caller exits 2)."""
    setup_logging(args.log_level)
    try:
        return prepare(args)
    except ConfigErrors as exc:
        print_config_errors(exc)
        return None


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Call ``stop`` on SIGTERM/SIGINT while inside; the handlers are removed on the way out."""
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop)
    try:
        yield
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


async def until_stopped(app: Served, dashboard_url: str) -> None:
    """Print where the app is served, then wait until it stops."""
    print(f"Dashboard: {dashboard_url}", flush=True)
    print(f"WebSocket: {app.url}", flush=True)
    await app.wait_closed()
    log.info("stopping")


def port_arg(text: str) -> int:
    """``--port``'s argparse type: a TCP port number, 0 (any free port) to 65535.

    Raises:
        argparse.ArgumentTypeError: anything else (told before the app starts, not as a bind traceback).
    """
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0..65535 (0: any free one), got {text!r}")
    return port


def listen_failure(exc: OSError, host: str, port: int) -> str | None:
    """The one line for a listen error the user can fix (a busy port, an address this machine lacks), or None.
    Shared by run, fleet, record and replay so that all four say it the same way."""
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use (another sensorcast? use --port)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}: no such address on this machine"
    return None
