"""Who may hold a connection before authenticating, and how fast an address may try wrong tokens.

Pure bookkeeping, driven by the server: :class:`PreAuthPool` bounds the connections that have not shown a
token yet (in total and per source address) so that peers without a token cannot take the slots of those who
have one; :class:`FailureThrottle` slows down wrong tokens per source address and counts them for a log
summary. Time is always an argument (``now``, seconds on any monotonic clock).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

IPV6_PREFIX = 64
"""IPv6 peers are grouped by /64: one host usually owns a whole /64 and can pick any address in it."""

THROTTLE_TABLE_SIZE = 4096
"""Source addresses whose failures are remembered (about 150 bytes each); beyond, recovered ones are
forgotten first, then the least recently added."""


def address_key(host: str) -> str:
    """The budget key of a peer address: IPv4 as it is, IPv6 by its /64, IPv4-mapped IPv6 as the IPv4.

    Anything that is not an IP literal (a Unix socket path, ``"?"``) is its own key.
    """
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


class PreAuthPool(Generic[K]):
    """Connections that have not authenticated yet: at most ``total``, at most ``per_address`` per address.

    A newcomer is always admitted. When its address already holds ``per_address`` connections, that
    address's oldest one is evicted; when the pool is full, the oldest connection of the busiest address is
    (the newcomer counted, ties going to the address whose oldest connection is oldest). So a peer that opens
    many silent connections only ever pushes out its own, and one that opens a single connection keeps it
    for the whole auth timeout unless it is itself among the busiest.
    """

    def __init__(self, total: int, per_address: int) -> None:
        if total < 1 or per_address < 1:
            raise ValueError("total and per_address must be at least 1")
        self.total = total
        self.per_address = per_address
        self._by_address: dict[str, dict[K, int]] = {}
        self._address_of: dict[K, str] = {}
        self._serial = 0

    def __len__(self) -> int:
        return len(self._address_of)

    def __contains__(self, key: object) -> bool:
        return key in self._address_of

    def count(self, address: str) -> int:
        """Connections of ``address`` in the pool."""
        return len(self._by_address.get(address, ()))

    def admit(self, address: str, key: K) -> K | None:
        """Add connection ``key`` from ``address``; return the connection to evict to make room, if any.

        Raises:
            ValueError: ``key`` is already in the pool.
        """
        if key in self._address_of:
            raise ValueError("connection already admitted")
        victim: K | None = None
        if self.count(address) >= self.per_address:
            victim = next(iter(self._by_address[address]))
        elif len(self._address_of) >= self.total:
            victim = self._oldest_of_busiest(address)
        if victim is not None:
            self.release(victim)
        self._serial += 1
        self._by_address.setdefault(address, {})[key] = self._serial
        self._address_of[key] = address
        return victim

    def _oldest_of_busiest(self, newcomer: str) -> K:
        def weight(address: str) -> tuple[int, int]:
            entries = self._by_address[address]
            return len(entries) + (address == newcomer), -next(iter(entries.values()))

        busiest = max(self._by_address, key=weight)
        return next(iter(self._by_address[busiest]))

    def release(self, key: K) -> bool:
        """Forget ``key`` (it authenticated, closed or was evicted); False if it was not in the pool."""
        address = self._address_of.pop(key, None)
        if address is None:
            return False
        entries = self._by_address[address]
        del entries[key]
        if not entries:
            del self._by_address[address]
        return True


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    failed: int = 0
    """Failures since the last summary (the first of them is logged at once, see :meth:`FailureThrottle.fail`)."""
    refused: int = 0
    """Attempts refused unchecked since the last summary."""


class FailureThrottle:
    """Wrong tokens per source address: a token bucket each (``burst`` at once, ``rate_per_s`` sustained).

    While an address's bucket is empty, its attempts are refused without looking at the token, so a script
    cannot test tokens faster than ``rate_per_s``. Counts per address feed a periodic log summary instead of
    one log line per failure. At most ``max_addresses`` addresses are remembered.
    """

    def __init__(self, burst: int, rate_per_s: float, max_addresses: int = THROTTLE_TABLE_SIZE) -> None:
        if burst < 1 or rate_per_s <= 0 or max_addresses < 1:
            raise ValueError("burst and max_addresses must be at least 1, rate_per_s above 0")
        self.burst = float(burst)
        self.rate_per_s = rate_per_s
        self.max_addresses = max_addresses
        self._buckets: dict[str, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def _refill(self, address: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(address)
        # A clock that went back adds nothing, and does not move the stamp back.
        if bucket is not None and now > bucket.stamp:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate_per_s)
            bucket.stamp = now
        return bucket

    def retry_after_s(self, address: str, now: float) -> float:
        """Seconds until a token from ``address`` is checked again (0: now)."""
        bucket = self._refill(address, now)
        if bucket is None or bucket.tokens >= 1:
            return 0.0
        return (1 - bucket.tokens) / self.rate_per_s

    def allow(self, address: str, now: float) -> bool:
        """True when a token from ``address`` may be checked now; False counts a refused attempt."""
        bucket = self._refill(address, now)
        if bucket is None or bucket.tokens >= 1:
            return True
        bucket.refused += 1
        return False

    def fail(self, address: str, now: float) -> bool:
        """Record a wrong token from ``address``; True when it is the first since the last summary (log it)."""
        bucket = self._refill(address, now)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[address] = _Bucket(self.burst, now)
        bucket.tokens = max(0.0, bucket.tokens - 1)
        bucket.failed += 1
        return bucket.failed == 1

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self.max_addresses:
            return
        for address in list(self._buckets):
            bucket = self._refill(address, now)
            assert bucket is not None
            if bucket.tokens >= self.burst and not bucket.failed and not bucket.refused:
                del self._buckets[address]  # recovered and already reported: nothing to remember
        if len(self._buckets) >= self.max_addresses:
            del self._buckets[next(iter(self._buckets))]

    def summary(self) -> list[tuple[str, int, int]]:
        """``(address, wrong tokens after the first, attempts refused)`` since the last call; resets them.

        The first failure of each address was already reported by :meth:`fail`, so it is not counted again.
        Addresses with nothing new are left out.
        """
        out = []
        for address, bucket in self._buckets.items():
            more = max(0, bucket.failed - 1)
            if more or bucket.refused:
                out.append((address, more, bucket.refused))
            bucket.failed = bucket.refused = 0
        return out
