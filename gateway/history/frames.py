"""The recent-history log's frames: CRC-checked, sequence-numbered records of one commit each. Pure.

The writer appends one frame per commit to a small file next to the database (``history.db-recent``, see
:mod:`gateway.history.recent`) and folds the frames into SQLite every few minutes; the file is then written again
from its start. A frame is::

    MAGIC (2 bytes) | length of body (u32) | seq (u64) | crc32 of seq and body (u32) | body

``body`` is ``msgpack([[sensor, tier, t0_ns, t1_ns, n, blob], ...])`` (one record per sensor and tier, ``blob``
a chunk of :mod:`gateway.history.codec`). Sequence numbers rise by one per frame, across folds, so a reader takes
the frames from offset 0 while each is whole (CRC), and the next in sequence: a frame torn by a power cut, or
a frame left from before the last fold (lower sequence), ends the log.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any

import msgpack

MAGIC = b"SH"
HEADER = struct.Struct("<2sIQI")
"""magic, body length, sequence number, crc32 (of the sequence bytes and the body)."""
MAX_BODY_BYTES = 64 * 1024 * 1024
"""Largest frame body accepted when reading (a damaged length must not make a reader allocate gigabytes)."""

Record = tuple[str, str, int, int, int, bytes]
"""One sensor and tier of one commit: ``(sensor, tier, t0_ns, t1_ns, n, blob)``."""


def encode_frame(seq: int, records: Sequence[Record]) -> bytes:
    """One frame holding ``records`` with sequence number ``seq``."""
    body: bytes = msgpack.packb([list(r) for r in records], use_bin_type=True)
    seq_bytes = struct.pack("<Q", seq)
    return HEADER.pack(MAGIC, len(body), seq, zlib.crc32(body, zlib.crc32(seq_bytes))) + body


def parse_frames(data: bytes) -> tuple[list[tuple[int, list[Record]]], int]:
    """The run of whole, consecutive frames at the start of ``data``: ``([(seq, records), ...], end_offset)``.

    Stops at the first frame that is cut short, fails its CRC, has a bad body, or does not follow its
    predecessor's sequence number; ``end_offset`` is where the next frame goes.
    """
    out: list[tuple[int, list[Record]]] = []
    pos = 0
    while pos + HEADER.size <= len(data):
        magic, length, seq, crc = HEADER.unpack_from(data, pos)
        start = pos + HEADER.size
        if magic != MAGIC or length > MAX_BODY_BYTES or start + length > len(data):
            break
        if out and seq != out[-1][0] + 1:
            break
        body = data[start : start + length]
        if zlib.crc32(body, zlib.crc32(struct.pack("<Q", seq))) != crc:
            break
        records = _records(body)
        if records is None:
            break
        out.append((seq, records))
        pos = start + length
    return out, pos


def _records(body: bytes) -> list[Record] | None:
    """The records of a body whose CRC matched, or None when its shape is wrong (written by a bug)."""
    try:
        items: Any = msgpack.unpackb(body, raw=False)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    if not isinstance(items, list):
        return None
    out: list[Record] = []
    for item in items:
        if not (
            isinstance(item, list)
            and len(item) == 6
            and isinstance(item[0], str)
            and isinstance(item[1], str)
            and all(isinstance(x, int) for x in item[2:5])
            and isinstance(item[5], bytes)
        ):
            return None
        out.append((item[0], item[1], item[2], item[3], item[4], item[5]))
    return out
