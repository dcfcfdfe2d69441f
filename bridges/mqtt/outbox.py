"""The durable outbox: every QoS 1 reading the broker has not acknowledged within ``ack_window_ms`` (or while
disconnected) is committed here (bridges/mqtt/spill.py decides which), and its row is deleted only after the
broker's PUBACK.

SQLite choices, for a Raspberry Pi on an SD card:

* ``journal_mode=WAL``: commits append to the WAL instead of rewriting pages in place (fewer erase blocks
  touched), and readers (``sensorcast doctor``, tests) never block the writer.
* ``synchronous=NORMAL`` (default): in WAL mode a commit does not fsync; the WAL is synced at checkpoints.
  A killed process (SIGKILL, OOM, crash) loses nothing that was committed; the database is never corrupted.
  A *power cut* may roll back the commits since the last checkpoint; those readings were either already
  PUBACKed or are lost with the power. ``FULL`` would fsync every commit: 5 fsyncs per second at the default
  commit interval, the main cause of SD-card wear and of latency spikes on slow cards. Choose ``full`` in the
  config when power cuts are common and a few seconds of data matter more than the card.
* Batched commits (``commit_interval_ms``, 200 ms): inserts of new readings and deletes of PUBACKed rows share
  one transaction. With a healthy broker there is nothing to commit: readings are acknowledged before they are
  due, and the file is not written at all.
* ``AUTOINCREMENT`` ids: order is insertion order, and ids are never reused, even after the table emptied.

Not thread-safe: one thread (the bridge's outbox executor) owns an :class:`Outbox`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from bridges.mqtt.overflow import plan_cap

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    boot TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    synced INTEGER NOT NULL
);
"""


class OutRow(NamedTuple):
    """A reading ready to publish: topic, encoded payload, identity and timestamp."""

    topic: str
    payload: bytes
    boot: str
    seq: int
    ts_ns: int
    synced: bool
    """The timestamp came from a synchronised clock (only such rows are subject to the age cap)."""


class StoredRow(NamedTuple):
    """A committed row."""

    id: int
    topic: str
    payload: bytes
    boot: str
    seq: int


@dataclass(slots=True)
class WriteResult:
    """Outcome of one :meth:`Outbox.write` transaction."""

    stored: list[StoredRow] = field(default_factory=list)
    """The rows inserted, with their ids, in order."""
    deleted_acked: int = 0
    dropped_stored: int = 0
    """Stored rows dropped by the size cap (``drop_oldest``, ``downsample``)."""
    dropped_incoming: int = 0
    """Incoming rows not stored because of the size cap."""
    dropped_age: int = 0
    """Rows dropped by the age cap."""


class Outbox:
    """A FIFO of encoded readings in SQLite.

    Args:
        path: database file (its directory is created).
        max_rows: size cap.
        max_age_s: age cap for rows with a synchronised timestamp; 0 disables it.
        overflow: ``drop_oldest``, ``downsample`` or ``drop_newest`` (see
            :func:`bridges.mqtt.overflow.plan_cap`).
        synchronous: ``normal`` or ``full`` (see the module docstring).
        age_check_interval_s: how often the age cap runs (it walks the oldest rows).
    """

    def __init__(
        self,
        path: Path,
        *,
        max_rows: int = 500_000,
        max_age_s: float = 0.0,
        overflow: str = "drop_oldest",
        synchronous: str = "normal",
        age_check_interval_s: float = 60.0,
    ) -> None:
        self.path = path
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self.overflow = overflow
        self.synchronous = synchronous
        self.age_check_interval_s = age_check_interval_s
        self.rows = 0
        """Rows currently stored."""
        self._db: sqlite3.Connection | None = None
        self._next_age_check_s = 0.0

    @property
    def db(self) -> sqlite3.Connection:
        """The open connection."""
        if self._db is None:
            raise RuntimeError("outbox is not open")
        return self._db

    def open(self) -> None:
        """Open (creating if needed) the database; a corrupt file is moved aside and a new one started.

        Raises:
            sqlite3.Error / OSError: the directory or file cannot be used at all.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connect()
            verdict = self.db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            verdict = str(exc)
        if verdict != "ok":
            self.close()
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.error(
                "MQTT outbox %s failed its integrity check (%s); moved to %s, starting empty",
                self.path,
                verdict,
                aside,
            )
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{self.path}{suffix}")
                if src.exists():
                    src.rename(Path(f"{aside}{suffix}"))
            self._connect()
        self.rows = int(self.db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def _connect(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db = db
        db.execute("PRAGMA busy_timeout=5000")
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise sqlite3.OperationalError(f"cannot use WAL journal on {self.path} (got {mode})")
        db.execute(f"PRAGMA synchronous={'FULL' if self.synchronous == 'full' else 'NORMAL'}")
        db.execute("PRAGMA journal_size_limit=4194304")  # keep the WAL file from growing without bound
        db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database (idempotent)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def write(
        self,
        rows: Sequence[OutRow],
        acked: Collection[int] = (),
        now_ns: int | None = None,
        ids: Sequence[int] | None = None,
    ) -> WriteResult:
        """In one transaction: delete ``acked`` rows, apply the caps, insert ``rows``.

        Args:
            rows: new rows, oldest first.
            acked: ids whose PUBACK arrived.
            now_ns: current synchronised wall-clock time for the age cap, or None when the clock is not
                synchronised (the age cap is then skipped: a clock jump must not drop the whole backlog).
            ids: the id of each row, assigned by the caller (the bridge publishes a reading before it is
                written, under the id it will have on disk; ids must exceed :meth:`last_id` and increase). A row
                whose id is already stored is left as it is (a write repeated after an interrupted one).
                None: SQLite assigns them.
        """
        if ids is not None and len(ids) != len(rows):
            raise ValueError(f"{len(ids)} ids for {len(rows)} rows")
        db = self.db
        res = WriteResult()
        db.execute("BEGIN IMMEDIATE")
        try:
            if acked:
                res.deleted_acked = self._delete_ids(acked)
            self.rows -= res.deleted_acked
            res.dropped_age = self._apply_age(now_ns)
            plan = plan_cap(self.rows, len(rows), self.max_rows, self.overflow)
            if plan.drop_stored:
                if self.overflow == "downsample":
                    res.dropped_stored = self._thin_oldest(plan.drop_stored)
                if res.dropped_stored < plan.drop_stored:  # drop_oldest, or what thinning could not free
                    res.dropped_stored += db.execute(
                        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
                        (plan.drop_stored - res.dropped_stored,),
                    ).rowcount
                self.rows -= res.dropped_stored
            keep: Sequence[tuple[int | None, OutRow]] = list(
                zip(ids, rows, strict=True) if ids is not None else ((None, r) for r in rows)
            )
            if plan.drop_incoming:
                res.dropped_incoming = plan.drop_incoming
                keep = (
                    keep[: -plan.drop_incoming]
                    if self.overflow == "drop_newest"
                    else keep[plan.drop_incoming :]
                )
            for row_id, r in keep:
                cur = db.execute(
                    "INSERT INTO outbox (id, topic, payload, boot, seq, ts_ns, synced) "
                    "VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
                    (row_id, r.topic, r.payload, r.boot, r.seq, r.ts_ns, int(r.synced)),
                )
                if cur.rowcount == 1:
                    assert cur.lastrowid is not None
                    res.stored.append(StoredRow(cur.lastrowid, r.topic, r.payload, r.boot, r.seq))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self.rows = int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
            raise
        self.rows += len(res.stored)
        return res

    def _thin_oldest(self, n: int) -> int:
        """Free about ``n`` rows by deleting every second row of each topic among the oldest ``2 n`` rows: the
        oldest data keeps its time span at half the resolution (repeated overflows thin it further)."""
        return int(
            self.db.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER "
                "(PARTITION BY topic ORDER BY id) AS rn FROM "
                "(SELECT id, topic FROM outbox ORDER BY id LIMIT ?)) WHERE rn % 2 = 0)",
                (2 * n,),
            ).rowcount
        )

    def _delete_ids(self, ids: Iterable[int]) -> int:
        deleted = 0
        batch = list(ids)
        for i in range(0, len(batch), 500):  # stay under SQLite's host-parameter limit
            chunk = batch[i : i + 500]
            deleted += self.db.execute(
                f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(chunk))})", chunk
            ).rowcount
        return deleted

    def _apply_age(self, now_ns: int | None) -> int:
        if not self.max_age_s or now_ns is None or not self.rows:
            return 0
        mono = time.monotonic()
        if mono < self._next_age_check_s:
            return 0
        self._next_age_check_s = mono + self.age_check_interval_s
        cutoff_ns = now_ns - int(self.max_age_s * 1e9)
        # The outbox is a FIFO: drop the contiguous prefix of old rows (up to the first row that is younger or
        # has an unsynchronised timestamp), which costs as much as the prefix, not the whole table.
        first_young = self.db.execute(
            "SELECT id FROM outbox WHERE NOT (synced = 1 AND ts_ns < ?) ORDER BY id LIMIT 1", (cutoff_ns,)
        ).fetchone()
        if first_young is None:
            n = self.db.execute("DELETE FROM outbox").rowcount
        else:
            n = self.db.execute("DELETE FROM outbox WHERE id < ?", (first_young[0],)).rowcount
        self.rows -= n
        return int(n)

    def fetch(self, after_id: int, upto_id: int, limit: int) -> list[StoredRow]:
        """Return up to ``limit`` rows with ``after_id < id <= upto_id``, oldest first."""
        cur = self.db.execute(
            "SELECT id, topic, payload, boot, seq FROM outbox WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
            (after_id, upto_id, limit),
        )
        return [StoredRow(*row) for row in cur]

    def last_id(self) -> int:
        """The highest id ever assigned (0 for a new outbox)."""
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return int(row[0]) if row else 0

    def integrity_check(self) -> str:
        """Run ``PRAGMA integrity_check``; ``"ok"`` when the file is sound."""
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])
