"""Each fleet reading's origin identity (pure): fleet seq -> the gateway's own ``(boot, seq)``, and the opt-in
``origin`` frame that carries it to the clients that asked for it (docs/protocol.md, "origin").

The fleet numbers readings with its own seq (so resume, the ring and policies work unchanged); a client that
wants the identity a gateway gave a reading connects with ``?origin=1`` and gets, after each flush, one frame
listing ``[fleet seq, boot, gateway seq]`` for the readings of that flush its subscription routes. The table keeps
as many entries as the fleet's ring holds readings, so its memory is bounded like the ring's.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

import msgpack

QUERY_KEY = "origin"
"""The WebSocket URL query key of the opt-in (``ws://fleet:8765/?origin=1``)."""


class OriginTable:
    """Fleet seq -> ``(boot, seq)`` of the gateway that published the reading, for the last ``size`` readings.

    Args:
        size: entries kept (readings; the fleet passes its ``ring_size``): older ones are forgotten first.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._map: dict[int, tuple[str, int]] = {}

    def __len__(self) -> int:
        return len(self._map)

    def add(self, fleet_seq: int, boot: str, seq: int) -> None:
        """Record the origin of reading ``fleet_seq`` (fleet seqs only grow: the oldest entry is dropped first)."""
        m = self._map
        m[fleet_seq] = (boot, seq)
        if len(m) > self.size:
            del m[next(iter(m))]

    def get(self, fleet_seq: int) -> tuple[str, int] | None:
        """The origin of reading ``fleet_seq``, or None once it is forgotten (or never came from a gateway)."""
        return self._map.get(fleet_seq)

    def rows(self, fleet_seqs: Iterable[int]) -> list[list[object]]:
        """``[fleet seq, boot, gateway seq]`` for each of ``fleet_seqs`` still known, in the order given."""
        out: list[list[object]] = []
        for s in fleet_seqs:
            o = self._map.get(s)
            if o is not None:
                out.append([s, o[0], o[1]])
        return out


def wants_origin(path: str) -> bool:
    """Whether a WebSocket request path (``/?origin=1``) opts in to ``origin`` frames."""
    values = parse_qs(urlsplit(path).query).get(QUERY_KEY, [])
    return bool(values) and values[0] in ("1", "true")


def encode_origin(rows: list[list[object]]) -> bytes:
    """The ``origin`` frame: ``{"t": "origin", "o": [[fleet seq, boot, gateway seq], ...]}``."""
    data: bytes = msgpack.packb({"t": "origin", "o": rows}, use_bin_type=True)
    return data


__all__ = ["QUERY_KEY", "OriginTable", "encode_origin", "wants_origin"]
