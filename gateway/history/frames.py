"""The recent-history log's frames: CRC-checked, sequence-numbered records of one commit each. Pure.

The writer appends one frame per commit to a small file next to the database (``history.db-recent``, see
:mod:`gateway.history.recent`) and folds the frames into SQLite every few minutes; the file is then written again
from its start. A frame is::

    MAGIC (2 bytes) | length of body (u32) | seq (u64) | crc32 of seq and body (u32) | body

and each frame starts on a :data:`BLOCK_BYTES` boundary (the bytes between are never written, whatever they
hold). A synced append dirties every page it touches: frames packed end to end would straddle a page boundary
most of the time (1 + L/4096 pages a commit: ~1.7 pages for the demo's ~2.8 kB frames), aligned ones take
ceil(L/4096) (one page).

``body`` is ``msgpack([[sensor, tier, t0_ns, t1_ns, n, blob], ...])`` (one record per sensor and tier, ``blob``
a chunk of :mod:`gateway.history.codec`), deflated as one stream over the whole log: each frame ends with a sync
flush, so it decodes given the frames before it, and it compresses against them (the same field names and
similar values every few seconds: ~4x smaller than deflating each commit's chunks on their own, measured on the
demo). Sequence numbers rise by one per frame, across folds, so a reader takes the frames from offset 0 while
each is whole (CRC), inflates, and is the next in sequence: a frame torn by a power cut, or a frame left from
before the last fold (lower sequence, another stream), ends the log.
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
"""Largest frame body accepted when reading, deflated and inflated (a damaged length must not make a reader
allocate gigabytes)."""
BLOCK_BYTES = 4096
"""Frames start on this boundary: the page size, the unit the kernel writes back (and an SD card's smallest)."""
STREAM_ZLIB_LEVEL = 1
"""Deflate level of the log's stream: a third of level 6's CPU on the writer's hot path (the ingest benchmark);
the demo's frames stay within one 4 KiB block either way (~3.1 kB at level 1, ~2.8 kB at 6), and the fold
re-encodes at level 6 what stays on the card."""

Record = tuple[str, str, int, int, int, bytes]
"""One sensor and tier of one commit: ``(sensor, tier, t0_ns, t1_ns, n, blob)``."""


class FrameEncoder:
    """Encodes the frames of one log generation (from offset 0 to the next fold) as one deflate stream."""

    def __init__(self, level: int = STREAM_ZLIB_LEVEL) -> None:
        self._level = level
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, -15)

    def encode(self, seq: int, records: Sequence[Record]) -> bytes:
        """The next frame, holding ``records`` with sequence number ``seq``."""
        return self.encode_packed(seq, msgpack.packb([list(r) for r in records], use_bin_type=True))

    def encode_packed(self, seq: int, packed: bytes) -> bytes:
        """The next frame around an already packed body (:meth:`encode`; tests give malformed ones)."""
        body = self._deflate.compress(packed) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        seq_bytes = struct.pack("<Q", seq)
        return HEADER.pack(MAGIC, len(body), seq, zlib.crc32(body, zlib.crc32(seq_bytes))) + body

    def snapshot(self) -> Any:
        """The stream's state, to :meth:`restore` when a frame could not be written (the next frame must not
        refer to bytes that never reached the file)."""
        return self._deflate.copy()

    def restore(self, state: Any) -> None:
        """Go back to a :meth:`snapshot`."""
        self._deflate = state

    def reset(self) -> None:
        """Start a new stream (the log starts over at offset 0)."""
        self._deflate = zlib.compressobj(self._level, zlib.DEFLATED, -15)


def aligned(offset: int) -> int:
    """Where a frame after one ending at ``offset`` starts."""
    return -(-offset // BLOCK_BYTES) * BLOCK_BYTES


def first_seq(head: bytes) -> int | None:
    """The sequence number of the frame at the start of ``head`` (its first header), None when there is none.

    The log is folded a whole generation at a time, so a run whose first frame is folded is folded all along:
    readers skip it without inflating it."""
    if len(head) < HEADER.size:
        return None
    magic, _, seq, _ = HEADER.unpack_from(head)
    return int(seq) if magic == MAGIC else None


def parse_frames(data: bytes) -> tuple[list[tuple[int, list[Record]]], int]:
    """The run of whole, consecutive frames at the start of ``data``: ``([(seq, records), ...], end_offset)``.

    Stops at the first frame that is cut short, fails its CRC, has a bad body, or does not follow its
    predecessor's sequence number; ``end_offset`` is where the next frame goes (block-aligned).
    """
    out: list[tuple[int, list[Record]]] = []
    pos = 0
    inflate = zlib.decompressobj(-15)
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
        try:
            packed = inflate.decompress(body, MAX_BODY_BYTES)
        except zlib.error:
            break
        records = None if inflate.unconsumed_tail else _records(packed)
        if records is None:
            break
        out.append((seq, records))
        pos = aligned(start + length)
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
