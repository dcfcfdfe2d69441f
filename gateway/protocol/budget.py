"""Per-connection budget for ``resume``: bytes of ring data per second, one resume at a time. Pure.

A ``resume`` reads the ring and sends what it finds: without a budget one connection asking for ``seq=0`` many
times a second turns a few bytes of request into megabytes of replies (and the CPU to decode and encode them).
The server asks :meth:`ResumeBudget.begin` before it starts, waits :meth:`ResumeBudget.delay_s` before it reads
``nbytes`` of ring data, and :meth:`ResumeBudget.charge` s them when it does. Time is always an argument.
"""

from __future__ import annotations

RESUME_BYTES_PER_S = 256 * 1024
"""Sustained ring bytes one connection may resume per second: a full default ring (4096 readings, a few hundred
KiB) in about a second or two, a tenth of what one looping peer took (10 MB/s) before it was budgeted."""
RESUME_BURST_BYTES = 1024 * 1024
"""Ring bytes a connection may resume at once: a reconnecting client gets a whole default ring without waiting."""


class ResumeBudget:
    """A token bucket in bytes, plus the "one resume in flight" rule.

    A read larger than the burst is allowed once the bucket is full and leaves it in debt, so any size can be
    resumed eventually; over any window of ``t`` seconds a connection reads at most
    ``max(burst, largest read) + rate * t`` bytes.

    Args:
        rate_bytes_per_s: sustained budget.
        burst_bytes: bucket size (it starts full).
        now_s: the current time (any monotonic clock, in seconds).
    """

    def __init__(
        self,
        rate_bytes_per_s: float = RESUME_BYTES_PER_S,
        burst_bytes: int = RESUME_BURST_BYTES,
        *,
        now_s: float,
    ) -> None:
        if rate_bytes_per_s <= 0 or burst_bytes <= 0:
            raise ValueError("a resume budget needs a rate and a burst > 0")
        self.rate = float(rate_bytes_per_s)
        self.burst = float(burst_bytes)
        self.tokens = self.burst
        self.stamp = now_s
        self.in_flight = False

    def _refill(self, now_s: float) -> None:
        if now_s > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now_s - self.stamp) * self.rate)
            self.stamp = now_s

    def begin(self) -> bool:
        """Start a resume; False when one is already in flight (the caller refuses this one)."""
        if self.in_flight:
            return False
        self.in_flight = True
        return True

    def end(self) -> None:
        """The resume in flight has finished (or was abandoned)."""
        self.in_flight = False

    def delay_s(self, now_s: float, nbytes: int) -> float:
        """Seconds to wait before ``nbytes`` may be read (0.0: now)."""
        self._refill(now_s)
        need = min(float(nbytes), self.burst)
        return 0.0 if self.tokens >= need else (need - self.tokens) / self.rate

    def charge(self, now_s: float, nbytes: int) -> None:
        """Account for ``nbytes`` read (the bucket may go into debt, see the class docstring)."""
        self._refill(now_s)
        self.tokens -= nbytes
