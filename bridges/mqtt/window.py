"""The QoS 1 in-flight window of one MQTT connection: which publishes await their PUBACK, and how many more may
go, live rows keeping a share of it while the backlog replays. Pure: no I/O, no clock.
"""

from __future__ import annotations

CONTROL_RESERVE = 10
"""Part of the broker's Receive Maximum kept free for retained metadata and command results."""
LIVE_SHARE = 4
"""While backlog is left, live rows may hold 1/LIVE_SHARE of the window (at least one), so they keep flowing."""


def window_size(max_inflight: int, receive_maximum: int) -> int:
    """Publishes that may await a PUBACK at once: our cap, within the broker's Receive Maximum (at least one)."""
    return max(1, min(max_inflight, receive_maximum - CONTROL_RESERVE))


def live_cap(window: int, backlog_left: bool) -> int:
    """Live publishes allowed in flight: the whole window, or a share of it while backlog is left."""
    return max(1, window // LIVE_SHARE) if backlog_left else window


class InflightWindow:
    """Unacknowledged publishes by message id: the row each carries and whether it was live."""

    __slots__ = ("_by_mid", "live", "rows")

    def __init__(self) -> None:
        self._by_mid: dict[int, tuple[int, bool]] = {}
        self.rows: set[int] = set()
        """Row ids in flight (a backlog read skips them)."""
        self.live = 0
        """Live rows in flight."""

    def __len__(self) -> int:
        return len(self._by_mid)

    def has_room(self, window: int) -> bool:
        """Another publish fits in ``window``."""
        return len(self._by_mid) < window

    def has_live_room(self, window: int, cap: int) -> bool:
        """Another live publish fits in ``window`` and under the live ``cap``."""
        return self.live < cap and len(self._by_mid) < window

    def sent(self, mid: int, row_id: int, live: bool) -> None:
        """Row ``row_id`` went out as message ``mid``."""
        self._by_mid[mid] = (row_id, live)
        self.rows.add(row_id)
        if live:
            self.live += 1

    def acked(self, mid: int) -> int | None:
        """The PUBACK for ``mid`` arrived: the row it carried, or None when ``mid`` carried no row of ours."""
        entry = self._by_mid.pop(mid, None)
        if entry is None:
            return None
        row_id, live = entry
        self.rows.discard(row_id)
        if live:
            self.live -= 1
        return row_id

    def clear(self) -> None:
        """The connection is gone: nothing is in flight on the next one."""
        self._by_mid.clear()
        self.rows.clear()
        self.live = 0
