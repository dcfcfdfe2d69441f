"""Where ``replay --dump``/``--check`` keep the readings they decode: one temporary file per sensor, written in
batches as the readings come (:mod:`gateway.capture.holding` counts them), read back in the dump's order (by
sensor, then read); and ``--check``'s comparison over a temporary SQLite database instead of two lists. Memory
stays bounded whatever the capture's length; the files live in a directory the caller removes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

from gateway.capture.check import CheckReport, Key, compare_readings, reading_key
from gateway.capture.holding import MAX_HELD_OUTCOMES, Holding
from gateway.capture.session import Outcome

CHECK_CACHE_KIB = 2048
"""SQLite page cache of ``--check``'s database (KiB): the readings are on disk, the cache only speeds lookups."""
CHECK_INSERT_BATCH = 1000
"""Readings inserted into ``--check``'s database per statement batch (what is parsed and held at once)."""


def dump_line(outcome: Outcome) -> str:
    """The ``--dump`` line of one reading, newline included."""
    return json.dumps(outcome.as_json(), separators=(",", ":")) + "\n"


class OutcomeSpool:
    """The readings of one replay, per sensor in temporary files under ``directory``.

    :meth:`add` may be called from each sensor's own thread (one thread per sensor); the files are opened here,
    before any thread starts, so removing ``directory`` on Ctrl-C never races a file being created. A failed
    write (a full disk) never reaches the driver threads (they would take it for a sensor fault): it is kept in
    :attr:`error`, ``on_error`` is called (to stop the replay) and nothing more is written.
    """

    def __init__(
        self,
        directory: str,
        sensors: Iterable[str],
        limit: int = MAX_HELD_OUTCOMES,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self.ids = sorted(set(sensors))
        """The sensors, in the dump's order."""
        self.holding = Holding(len(self.ids), limit)
        self._pending: dict[str, list[str]] = {sid: [] for sid in self.ids}
        self._files: dict[str, TextIO] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._on_error = on_error
        self.error: OSError | None = None
        """The first write that failed; the spool is incomplete."""
        try:
            for i, sid in enumerate(self.ids):
                path = os.path.join(directory, f"sensor-{i}.jsonl")
                self._files[sid] = open(path, "w+", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except BaseException:
            self.close()
            raise

    @property
    def count(self) -> int:
        """Readings added so far."""
        return self.holding.total

    def add(self, outcome: Outcome) -> None:
        """Keep one reading (on its sensor's thread); its sensor's batch goes to its file when full."""
        pending = self._pending[outcome.sensor]
        pending.append(dump_line(outcome))
        with self._lock:
            if self.holding.take(outcome.sensor):
                self._write(outcome.sensor)

    def _write(self, sid: str) -> None:
        if not self._closed and self.error is None:  # else (Ctrl-C, a full disk): dropped
            try:
                self._files[sid].writelines(self._pending[sid])
            except OSError as exc:
                self._failed(exc)
        self._pending[sid].clear()
        self.holding.written(sid)

    def _failed(self, exc: OSError) -> None:
        self.error = exc
        self._on_error()

    def finish(self) -> None:
        """Write out what is still held (after every sensor's thread ended)."""
        with self._lock:
            for sid in self.ids:
                self._write(sid)
            for f in self._files.values():
                if self._closed or self.error is not None:
                    break
                try:
                    f.flush()
                except OSError as exc:
                    self._failed(exc)

    def lines(self) -> Iterator[str]:
        """Every reading's dump line, by sensor then read (after :meth:`finish`)."""
        for sid in self.ids:
            f = self._files[sid]
            f.seek(0)
            yield from f

    def write_to(self, out: TextIO) -> None:
        """The dump: every file's lines, by sensor (after :meth:`finish`)."""
        for sid in self.ids:
            f = self._files[sid]
            f.seek(0)
            shutil.copyfileobj(f, out)

    def close(self) -> None:
        """Close the files (the caller removes the directory); later :meth:`add` calls write nothing."""
        with self._lock:
            self._closed = True
            for f in self._files.values():
                with contextlib.suppress(OSError):  # what a full disk left in its buffer: dropped anyway
                    f.close()


def check_spool(
    spool: OutcomeSpool, expected: Iterable[dict[str, Any]], directory: str
) -> CheckReport | None:
    """``--check``: the differences between the spooled readings and ``expected`` (a ``--dump`` file's lines,
    iterated once), through an SQLite database in ``directory``; the same report as
    :func:`gateway.capture.check.compare_dumps` on the two lists."""
    db = sqlite3.connect(os.path.join(directory, "check.sqlite"), isolation_level=None)
    try:
        db.execute(f"PRAGMA cache_size = -{CHECK_CACHE_KIB}")
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        # A spooled reading's key is unique (one number per read of one sensor), so its rowid is its place in
        # the dump; ``want`` holds the --check file's keys as they are read.
        db.execute("CREATE TABLE got (sensor TEXT NOT NULL, n TEXT NOT NULL, line TEXT NOT NULL)")
        db.execute("CREATE TABLE want (sensor TEXT NOT NULL, n TEXT NOT NULL, PRIMARY KEY (sensor, n))")
        db.execute("BEGIN")
        batch: list[tuple[str, str, str]] = []
        for line in spool.lines():
            batch.append((*reading_key(json.loads(line)), line))
            if len(batch) >= CHECK_INSERT_BATCH:
                db.executemany("INSERT INTO got VALUES (?, ?, ?)", batch)
                batch.clear()
        db.executemany("INSERT INTO got VALUES (?, ?, ?)", batch)
        db.execute("CREATE UNIQUE INDEX got_key ON got (sensor, n)")
        db.execute("COMMIT")

        def got(key: Key) -> dict[str, Any] | None:
            row = db.execute("SELECT line FROM got WHERE sensor = ? AND n = ?", key).fetchone()
            return None if row is None else dict(json.loads(row[0]))

        def wanted(lines: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            for line in lines:
                db.execute("INSERT OR IGNORE INTO want VALUES (?, ?)", reading_key(line))
                yield line

        def extra() -> Iterable[Key]:
            return db.execute(
                "SELECT sensor, n FROM got WHERE NOT EXISTS "
                "(SELECT 1 FROM want WHERE want.sensor = got.sensor AND want.n = got.n) ORDER BY rowid"
            )

        db.execute("BEGIN")
        try:
            return compare_readings(wanted(expected), got, extra)
        finally:
            db.execute("COMMIT")
    finally:
        db.close()
