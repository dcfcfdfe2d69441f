"""The addresses behind ``gateway.host``, and binding them all to one port.

``localhost`` (the default) means both loopback addresses, 127.0.0.1 and ::1: stock Debian's /etc/hosts maps
``localhost`` to ::1 too, and clients that try ::1 first without falling back (Node's ``ws``, websocat) would
otherwise get "connection refused" from a gateway on 127.0.0.1 only. Any other value is one address with its
usual meaning (``0.0.0.0``: every IPv4 interface; ``::``: every interface, both families on Linux).
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol, TypeVar

log = logging.getLogger("gateway.listen")  # the name journal filters know from before the move

LOOPBACK_HOSTS = ("127.0.0.1", "::1")
"""What ``localhost`` listens on; the IPv4 one first, so a machine without IPv6 still has it."""
PORT_PICK_ATTEMPTS = 5
"""Port 0 with two addresses: a free port is picked on the first and then bound on both; another process can
take it in between, and a few attempts make that race harmless."""
_NO_IPV6 = (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)


class _Listening(Protocol):
    @property
    def sockets(self) -> Iterable[socket.socket]: ...


S = TypeVar("S", bound=_Listening)


def listen_hosts(host: str) -> tuple[str, ...]:
    """Return the addresses ``gateway.host`` stands for."""
    return LOOPBACK_HOSTS if host == "localhost" else (host,)


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def bind(start: Callable[[Sequence[str], int], Awaitable[S]], host: str, port: int) -> S:
    """Start a server on every address of ``host`` with ``start(hosts, port)``, all on one port.

    Without an IPv6 loopback (no ::1 on this machine) ``localhost`` falls back to 127.0.0.1, with one log line.
    """
    hosts = listen_hosts(host)
    if len(hosts) == 1:
        return await start(hosts, port)
    for attempt in range(PORT_PICK_ATTEMPTS):
        try:
            server = await start(hosts, port or _free_port(hosts[0]))
        except OSError as exc:
            if exc.errno in _NO_IPV6:
                break
            if exc.errno == errno.EADDRINUSE and not port and attempt + 1 < PORT_PICK_ATTEMPTS:
                continue
            raise
        # asyncio skips an address family the kernel lacks, silently: same fallback, already bound
        if len(list(server.sockets)) < len(hosts):
            log.warning("no IPv6 loopback (::1) on this machine: listening on %s only", hosts[0])
        return server
    log.warning("no IPv6 loopback (::1) on this machine: listening on %s only", hosts[0])
    return await start(hosts[:1], port)
