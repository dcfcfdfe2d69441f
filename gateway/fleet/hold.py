"""Readings held until their gateway's boot is known (pure).

With MQTT 3.1.1 and msgpack payloads a reading carries no boot: the fleet takes it from the gateway's retained
meta. After the fleet restarts with its persistent session, the broker sends the readings it queued for the
fleet at CONNACK, before the retained meta (which comes only after SUBSCRIBE). Filed under boot ``?`` they would
not match the chain restored from the fleet's ledger file (re-deliveries reach clients twice, a false gap
follows), so they are held here, in arrival order, until the meta gives the boot. The boot is never guessed from
the ledger file: a gateway that rebooted while the fleet was down restarts its seqs at 1, and a guess would drop
them as duplicates (loss).

Past a limit the oldest held readings are let go, to be offered under ``?`` as before (counted); a gateway whose
reading waited :data:`MAX_HOLD_S` (one that publishes no meta) is not held again until its meta comes, so its
readings are delayed once, not forever. No clock (``now_s`` is passed in), no I/O; 100 % branch coverage:
tests/gateway/fleet/test_hold.py.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

MAX_HELD_READINGS = 10_000
"""Readings held at once, all gateways together (readings): ~10 s of a 1,000 readings/s fleet's queued backlog
at a few hundred bytes each, a few MB at most."""
MAX_HOLD_S = 10.0
"""Longest a reading is held waiting for its gateway's meta (seconds): the retained meta follows the queued
readings within a round trip; a gateway with no meta must not stall its readings for longer."""

T = TypeVar("T")


class BootHold(Generic[T]):
    """Readings of gateways whose boot is not known yet, in arrival order.

    Args:
        max_readings: :data:`MAX_HELD_READINGS`.
        max_hold_s: :data:`MAX_HOLD_S`.
    """

    def __init__(self, max_readings: int = MAX_HELD_READINGS, max_hold_s: float = MAX_HOLD_S) -> None:
        if max_readings < 1 or max_hold_s <= 0:
            raise ValueError("max_readings must be at least 1 and max_hold_s above 0")
        self.max_readings = max_readings
        self.max_hold_s = max_hold_s
        self._queue: deque[tuple[str, float, T]] = deque()
        self._given_up: set[str] = set()
        self.let_go = 0
        """Readings let go past a limit (offered under ``?``)."""

    def __len__(self) -> int:
        return len(self._queue)

    def holds(self, gateway: str) -> bool:
        """Whether a reading of ``gateway`` without a boot is to be held (False once its hold ran out)."""
        return gateway not in self._given_up

    def hold(self, gateway: str, reading: T, now_s: float) -> list[tuple[str, T]]:
        """Hold ``reading``; returns the oldest held readings past :attr:`max_readings`, to offer now."""
        self._queue.append((gateway, now_s, reading))
        out: list[tuple[str, T]] = []
        while len(self._queue) > self.max_readings:
            gw, _, r = self._queue.popleft()
            out.append((gw, r))
        self.let_go += len(out)
        return out

    def expire(self, now_s: float) -> list[tuple[str, T]]:
        """The readings held for :attr:`max_hold_s` or longer, oldest first, to offer now; their gateways are
        not held again until :meth:`release`."""
        out: list[tuple[str, T]] = []
        q = self._queue
        while q and now_s - q[0][1] >= self.max_hold_s:
            gw, _, r = q.popleft()
            out.append((gw, r))
            self._given_up.add(gw)
        self.let_go += len(out)
        return out

    def release(self, gateway: str) -> list[T]:
        """``gateway``'s boot is known: its held readings in arrival order (it is held again from now on)."""
        self._given_up.discard(gateway)
        mine = [r for gw, _, r in self._queue if gw == gateway]
        if mine:
            self._queue = deque(e for e in self._queue if e[0] != gateway)
        return mine

    def drain(self) -> list[tuple[str, T]]:
        """Every held reading, in arrival order (the fleet stops: they are offered as they are)."""
        out = [(gw, r) for gw, _, r in self._queue]
        self._queue.clear()
        return out


__all__ = ["MAX_HELD_READINGS", "MAX_HOLD_S", "BootHold"]
