"""One writer per outbox: an exclusive ``flock`` on a lock file beside it (``mqtt-outbox.db.lock``).

Two gateways started on one data_dir would otherwise both open ``mqtt-outbox.db``: each publishes the other's
rows and deletes them on its own PUBACKs, so readings go out twice or are deleted unsent. The history store
guards ``history.db`` the same way (gateway/history/store.py ``_claim``); this copy lives here because bridges/
imports nothing of gateway/ but its protocol core (tests/test_import_rules.py), and a pure module cannot take a
lock. The kernel drops a flock when its process dies, so a killed gateway never leaves a stale claim. The holder
writes its PID into the file, so the refused one can name it.

Blocking (a few syscalls): call it off the event loop.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

MAX_PID_BYTES = 32
"""Bytes of the lock file read to name its holder (a PID and a newline): the file is not trusted to be small."""


@dataclass(slots=True)
class FileClaim:
    """The outcome of :func:`claim`.

    Attributes:
        path: the lock file.
        fd: the open lock file while this process holds it; None when refused or unguarded.
        refused: another process holds the lock.
        holder: that process's PID as it wrote it, when readable.
        unguarded: why the lock could not be taken at all (a file system without flock), or None.
    """

    path: Path
    fd: int | None = None
    refused: bool = False
    holder: int | None = None
    unguarded: str | None = None

    def release(self) -> None:
        """Give the claim up (idempotent)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def claim(path: Path) -> FileClaim:
    """Take an exclusive, non-blocking ``flock`` on ``path`` (created, with its directory, if missing).

    Raises:
        OSError: the file cannot be created or opened (the directory is unusable).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            text = os.pread(fd, MAX_PID_BYTES, 0)
        except OSError:
            text = b""
        finally:
            os.close(fd)
        word = text.strip()
        return FileClaim(path, refused=True, holder=int(word) if word.isdigit() else None)
    except OSError as exc:  # a file system without flock (some network mounts): run unguarded, as before
        os.close(fd)
        return FileClaim(path, unguarded=str(exc))
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass  # the lock is held; only the holder's name for a refused process is missing
    return FileClaim(path, fd=fd)
