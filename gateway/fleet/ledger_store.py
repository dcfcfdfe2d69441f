"""The fleet's ledgers on disk (I/O shell): loaded at start before the fleet subscribes, written atomically
(temp file, fsync, rename, fsync of the directory) every :data:`SAVE_INTERVAL_S` when readings came, and on a
clean stop. The document and its validation are pure: gateway/fleet/ledger_file.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from gateway.fleet.ledger_file import MAX_FILE_BYTES, LedgerFileError, decode_ledgers, encode_ledgers
from gateway.fleet.registry import Registry

log = logging.getLogger(__name__)

FILE_NAME = "ledger.json"
"""In the fleet's own directory, ``<data_dir>/fleet-<fleet id>/`` (next to its history.db)."""
BAD_SUFFIX = ".bad"
"""An unusable file is moved to ``ledger.json.bad`` (one, replaced each time: a file that keeps going bad
cannot fill the disk), where it can be looked at."""
SAVE_INTERVAL_S = 5.0
"""How often the ledgers are written while readings come (seconds): after a crash (a clean stop writes them)
at most what the broker delivered in this long before it can be delivered a second time."""
WRITE_TIMEOUT_S = 10.0
"""How long a write may take before the fleet stops waiting for it (seconds): a stalled SD card must not hold
up a stop; the write goes on in its thread and the next one waits for it."""


class LedgerStore:
    """``<directory>/ledger.json`` for the gateways of ``registry``.

    Args:
        directory: the fleet's own directory (created at the first write).
        registry: the gateway list whose ledgers are restored into and saved from.
        changes: a count that moves whenever a ledger may have changed (the source's offers); a periodic save
            with the same count as the last one writes nothing.
    """

    def __init__(self, directory: Path, registry: Registry, changes: Callable[[], int]) -> None:
        self.path = directory / FILE_NAME
        self.registry = registry
        self.changes = changes
        self._saved = changes()
        self._lock = threading.Lock()
        """Writes run in threads; one at a time, in order (a timed-out one is waited for by the next)."""

    def load(self) -> None:
        """Restore the ledgers from the file, if there is one (call before subscribing).

        An unreadable or corrupt file is moved aside (:data:`BAD_SUFFIX`) with one log line, and the fleet
        starts with empty ledgers; invalid entries in a readable file are skipped and counted in the log line.
        """
        for tmp in self.path.parent.glob(f".{FILE_NAME}.*.tmp"):  # a crash during a write left it
            tmp.unlink(missing_ok=True)
        try:
            with self.path.open("rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return
        except OSError as exc:
            self._move_aside(f"cannot read it: {exc.strerror or type(exc).__name__}")
            return
        try:
            ledgers, skipped = decode_ledgers(data)
        except LedgerFileError as exc:
            self._move_aside(str(exc))
            return
        self.registry.restore(ledgers)
        log.info(
            "fleet: restored the ledgers of %d gateways from %s%s",
            len(self.registry.restored),
            self.path,
            f" ({skipped} invalid entries skipped)" if skipped else "",
        )

    def _move_aside(self, why: str) -> None:
        bad = self.path.with_name(FILE_NAME + BAD_SUFFIX)
        try:
            os.replace(self.path, bad)
            where = f"moved to {bad}"
        except OSError as exc:
            where = f"could not be moved aside ({exc.strerror or type(exc).__name__})"
        log.warning(
            "fleet: ledger file %s is unusable (%s); %s; starting with empty ledgers (what the broker re-delivers "
            "across this restart may reach clients twice)",
            self.path,
            why,
            where,
        )

    async def run(self) -> None:
        """Save every :data:`SAVE_INTERVAL_S` when something changed, until cancelled."""
        while True:
            await asyncio.sleep(SAVE_INTERVAL_S)
            await self.save()

    async def save(self) -> bool:
        """Write the ledgers if they changed since the last write; failures are logged, never raised.

        Returns:
            Whether a write completed.
        """
        mark = self.changes()
        if mark == self._saved:
            return False
        data, left_out = encode_ledgers(self.registry.ledgers())
        if left_out:
            log.warning(
                "fleet: %d gateways' ledgers left out of %s (over %d bytes)", left_out, self.path, len(data)
            )
        try:
            await asyncio.wait_for(asyncio.to_thread(self._write, data), WRITE_TIMEOUT_S)
        except TimeoutError:
            log.warning("fleet: writing %s took over %g s; not waiting for it", self.path, WRITE_TIMEOUT_S)
            return False
        except OSError as exc:
            log.warning("fleet: cannot write %s: %s", self.path, exc.strerror or type(exc).__name__)
            return False
        self._saved = mark
        return True

    def _write(self, data: bytes) -> None:
        with self._lock:
            directory = self.path.parent
            directory.mkdir(parents=True, exist_ok=True)
            tmp = directory / f".{FILE_NAME}.{os.getpid()}.tmp"
            try:
                with tmp.open("wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)  # the rename itself survives a power cut
            finally:
                os.close(fd)
