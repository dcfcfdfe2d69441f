"""The recent-history log: the last few minutes of commits, in a small file next to the database.

Why not commit to SQLite every few seconds: each SQLite commit, however small, appends every page it changed
(the newest leaf, its root, the free-list page, the header page: 20-30 KiB) to the WAL and the checkpoint writes
them again - measured ~600 MB/day for the demo at 5 s commits. A frame appended here dirties only the page(s) it
lands on: frames start on page boundaries, so a commit of up to 4 KiB costs one page. ``fdatasync`` after every
frame makes a commit survive a power cut (at most ``commit_interval_s`` of history is lost); the file is
overwritten in place from offset 0 after each fold, so once it has reached its size its blocks stay allocated
and a sync does not touch file-system metadata.

Frames are written with ``O_DIRECT`` where the file system allows it (ext4, f2fs, btrfs; not tmpfs, where the
log falls back to ordinary writes): each frame is padded to whole 4 KiB blocks and goes to the disk as exactly
those blocks. Through the page cache the kernel counts (and writes back) whole folios, which on recent kernels
grow to 64 KiB-1 MiB for a file read or written sequentially: measured 4 KiB a commit with ``O_DIRECT``, 7.9 KiB
through the cache on a growing file, and 1 MiB a commit on a file the cache held as one large folio.

Frames are folded into SQLite by the writer (:meth:`gateway.history.store.HistoryStore.maintain`) in one
durable transaction that also records the last folded sequence number (table ``meta``); frames at or below it
are ignored, so a crash between the fold and the next write loses and duplicates nothing.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from gateway.history.frames import HEADER, FrameEncoder, Record, aligned, first_seq, parse_frames

log = logging.getLogger(__name__)

SUFFIX = "-recent"
"""The log is ``<database>-recent`` (moved aside with the database, like its ``-wal``)."""
READ_MAX_BYTES = 256 * 1024 * 1024
"""Most a reader reads of the log (it holds a few minutes of commits, folded at ``FOLD_BYTES``)."""
FOLD_BYTES = 4 * 1024 * 1024
"""The writer folds the log into SQLite once it holds this much, whatever the time (bounds the file, and what
every query reads and decodes on top of the database)."""


def log_path(db_path: Path) -> Path:
    """Where the log of the database at ``db_path`` lives."""
    return Path(f"{db_path}{SUFFIX}")


def read_log(db_path: Path, after_seq: int) -> list[tuple[int, list[Record]]]:
    """The frames of the log newer than ``after_seq`` (a reader's view; the file may not exist)."""
    try:
        with open(log_path(db_path), "rb") as f:
            return _newer(f, after_seq)[0]
    except FileNotFoundError:
        return []


def _newer(f: BinaryIO, after_seq: int) -> tuple[list[tuple[int, list[Record]]], int]:
    """The frames newer than ``after_seq`` and where the run ends (0 when it was all folded: not read at all,
    so a reader's memory is bounded by what is not folded yet, at most about :data:`FOLD_BYTES`)."""
    head = f.read(HEADER.size)
    first = first_seq(head)
    if first is None or first <= after_seq:
        return [], 0
    size = os.fstat(f.fileno()).st_size  # not read(n): that would allocate all of n first
    frames, end = parse_frames(head + f.read(min(size, READ_MAX_BYTES) - len(head)))
    return [(seq, recs) for seq, recs in frames if seq > after_seq], end


class RecentLog:
    """The writer's handle on the log: append a frame and sync it; start over after a fold.

    Args:
        db_path: the database the log belongs to.
    """

    def __init__(self, db_path: Path, *, direct: bool = True) -> None:
        self.path = log_path(db_path)
        self.direct = direct and hasattr(os, "O_DIRECT")
        """Frames go to the disk with ``O_DIRECT`` (False: through the page cache)."""
        self._fd = -1
        self._open()
        self.offset = 0
        """Where the next frame is written."""
        self._encoder = FrameEncoder()

    def _open(self) -> None:
        flags = os.O_RDWR | os.O_CREAT
        if self.direct:
            try:
                self._fd = os.open(self.path, flags | os.O_DIRECT, 0o644)
                return
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._no_direct()
        self._fd = os.open(self.path, flags, 0o644)

    def _no_direct(self) -> None:
        self.direct = False
        log.info("history: %s takes no O_DIRECT writes (a tmpfs?); writing through the page cache", self.path)

    def frames(self, after_seq: int) -> list[tuple[int, list[Record]]]:
        """The whole frames newer than ``after_seq`` from the file's start; puts :attr:`offset` after them."""
        with open(self.path, "rb") as f:  # buffered: an O_DIRECT read would need an aligned buffer
            frames, self.offset = _newer(f, after_seq)
        return frames  # the caller folds them and restarts the log: no appending to an old stream

    def append(self, seq: int, records: Sequence[Record]) -> None:
        """Write one frame at :attr:`offset` and wait until it is on the disk (OSError: it is not)."""
        state = self._encoder.snapshot()
        frame = self._encoder.encode(seq, records)
        try:
            self._write(frame)
            os.fdatasync(self._fd)
        except OSError:
            self._encoder.restore(state)  # the next frame goes to the same offset, after the same stream
            raise
        self.offset = aligned(self.offset + len(frame))

    def _write(self, frame: bytes) -> None:
        if self.direct:
            size = aligned(len(frame))
            with mmap.mmap(-1, size) as buf:  # page-aligned memory, zero-filled: the padding
                buf[: len(frame)] = frame
                try:
                    os.pwritev(self._fd, [buf], self.offset)
                    return
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
            os.close(self._fd)  # this file system refuses O_DIRECT writes after all
            self._no_direct()
            self._open()
        os.pwrite(self._fd, frame, self.offset)

    def restart(self) -> None:
        """Everything in the log is folded: the next frame goes to offset 0 (older frames end the run)."""
        self.offset = 0
        self._encoder.reset()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
