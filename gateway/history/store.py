"""The history store's writer: readings from the hub go to SQLite from one dedicated thread.

SQLite choices, for an SD card (the same reasoning as the MQTT outbox, bridges/mqtt/outbox.py):

* ``journal_mode=WAL``: a commit appends the pages it changed to the WAL; readers never block the writer.
* ``synchronous=NORMAL``, chosen deliberately: in WAL mode a commit does not fsync, the WAL is synced at each
  checkpoint. A killed process (SIGKILL, OOM, crash) loses nothing committed and never corrupts the file; a
  power cut may roll back the commits since the last checkpoint. ``FULL`` would fsync every commit, the main
  cause of SD-card wear and of latency spikes on slow cards, for history that is a convenience, not a ledger.
* One commit per ``commit_interval_s`` (default 5 s): one compressed chunk per sensor and tier
  (:mod:`gateway.history.codec`), appended as one CRC-checked frame to the recent log next to the database and
  ``fdatasync``-ed (:mod:`gateway.history.recent`): at most that much history is lost when the process dies or
  the power goes. A frame costs the card ~4 KiB plus its bytes; a SQLite commit costs 20-30 KiB of WAL pages,
  written twice (measured: ~600 MB/day for the demo at 5 s commits, docs/benchmarks.md).
* Every ``compact_interval_s`` (10 min), or when the log reaches ``FOLD_BYTES``, its frames are folded into one
  chunk per sensor and tier in ``chunks`` (indexed by time) in one durable transaction that records the last
  folded frame; then age retention and the size cap prune the oldest chunks, raw first. (Databases written
  before the log existed may hold commit chunks in the ``journal`` table; they are merged the same way.)
* A database that cannot be read (not a database, malformed pages, a failed ``quick_check``) is renamed to
  ``<name>.corrupt-<time>`` with one log line and a fresh one is started; live streaming never depends on it.

The event loop only appends batches to a bounded list (:meth:`HistoryStore.on_batch`); everything else runs in
the writer thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain, groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from gateway.history.chunks import merge_chunks, prune_chunks, used_bytes
from gateway.history.codec import JOURNAL_ZLIB_LEVEL, decode_chunk, encode_rows
from gateway.history.errors import HistoryError
from gateway.history.frames import Record
from gateway.history.policy import (
    DEFAULT_RETENTION_S,
    EVENT_TIER,
    TIER_PERIOD_NS,
    tier_chain,
)
from gateway.history.recent import FOLD_BYTES, RecentLog, log_path
from gateway.history.rollup import Cells, Rollup
from gateway.metrics import Metrics
from gateway.protocol.model import ReadingTuple

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, tier TEXT NOT NULL,
    t0_ns INTEGER NOT NULL, t1_ns INTEGER NOT NULL, n INTEGER NOT NULL, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, tier TEXT NOT NULL,
    t0_ns INTEGER NOT NULL, t1_ns INTEGER NOT NULL, n INTEGER NOT NULL, blob BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_time ON chunks (sensor, tier, t1_ns);
CREATE TABLE IF NOT EXISTS fields (
    sensor TEXT NOT NULL, field TEXT NOT NULL, unit TEXT NOT NULL, PRIMARY KEY (sensor, field)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""
FOLDED_SEQ_KEY = "folded_seq"
"""``meta`` key: the last recent-log frame folded into ``chunks`` (:mod:`gateway.history.recent`)."""
MAX_PENDING_READINGS = 500_000
"""Readings waiting for the writer thread; beyond, new batches are dropped and counted (a stuck disk must not
grow the gateway's memory): 50 s of 10,000 readings/s, 100 commit intervals of the demo."""
MAX_PENDING_EVENTS = 10_000
"""Rule events waiting for the writer; beyond, new ones are dropped and counted (a rule flapping on every
reading of a fast sensor must not grow the gateway's memory either)."""
EVENT_KEYS: tuple[str, ...] = ("rule", "field", "state", "value", "threshold", "severity", "acked_by")
"""What is kept of an ``event`` body besides its sensor and time (docs/protocol.md, ``event``)."""
DROP_REASONS: tuple[str, ...] = ("queue_full", "no_database", "write_error", "bug")
"""``reason`` values of ``sensorcast_history_dropped_total``."""
WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024
"""The WAL is truncated back to this after a checkpoint (SQLite's default autocheckpoint is ~4 MiB)."""
PAGE_SIZE_BYTES = 4096
"""SQLite page size of a new database (SQLite's default). Each commit appends every page it changed to the WAL
(the journal's newest leaf, its root, the free-list page, the header page), ~20-28 KiB a commit whatever it holds.
1 KiB pages shrank the frames but not the bytes the card sees over a 10-minute run (checkpoints then write
scattered 1 KiB pages, each costing a 4 KiB block): measured 536 vs 484 MB/day (docs/benchmarks.md)."""
CACHE_SIZE_KIB = 512
"""SQLite page cache per connection (SQLite's default is 2000 KiB). The writer's working set is the journal's newest
pages and one compaction's input; a bigger cache only fills with scanned chunk pages, ~1 MB/hour in the demo until
the cap (issue 20: the soak's RSS slope), which the OS page cache holds anyway."""
CLOSE_TIMEOUT_S = 10.0
"""How long shutdown waits for the last commit (an SD card under load can take seconds)."""


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the database with the store's settings (read-only for queries and the CLI)."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA page_size={PAGE_SIZE_BYTES}")  # takes effect when the file is created
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute(f"PRAGMA cache_size=-{CACHE_SIZE_KIB}")
    return conn


_SENSOR, _TS, _VALUES = itemgetter(3), itemgetter(2), itemgetter(4)
"""A reading tuple's sensor id, timestamp and values (the writer's column extraction)."""
_T, _PAYLOAD = itemgetter(0), itemgetter(1)
"""A rollup or event row's time and its cells or event."""
_Columns = tuple[list[str], list[int], list[Mapping[str, Any]]]
"""A batch as the writer's queue keeps it: its readings' sensor ids, times and values."""


class RawRows:
    """One sensor's raw readings in a commit, as two columns (no object per reading)."""

    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.values: list[Mapping[str, Any]] = []

    def __len__(self) -> int:
        return len(self.times)


def _runs(batches: Sequence[_Columns]) -> Iterator[tuple[str, list[int], list[Mapping[str, Any]]]]:
    """The readings of ``batches`` as one run per sensor: its times and values in arrival order."""
    if len(batches) == 1:
        sensors, times, values = batches[0]
    else:
        sensors = list(chain.from_iterable(b[0] for b in batches))
        times = list(chain.from_iterable(b[1] for b in batches))
        values = list(chain.from_iterable(b[2] for b in batches))
    if len(set(sensors)) <= 1:
        if sensors:
            yield sensors[0], times, values
        return
    order = sorted(range(len(sensors)), key=sensors.__getitem__)  # stable: arrival order within a sensor
    for sensor, group in groupby(order, key=sensors.__getitem__):
        idx = list(group)
        if len(idx) == 1:
            yield sensor, [times[idx[0]]], [values[idx[0]]]
        else:
            pick = itemgetter(*idx)
            yield sensor, list(pick(times)), list(pick(values))


class _SensorState:
    """One sensor's place in the writer: its tiers and their open buckets."""

    __slots__ = ("base", "chain", "policy", "rollups")

    def __init__(self, policy: str, keep: Mapping[str, Rollup] | None = None) -> None:
        self.policy = policy
        self.chain = tier_chain(policy)
        self.base = self.chain[0] if self.chain else "off"
        kept = keep or {}
        self.rollups = [
            (t, kept.get(t) or Rollup(TIER_PERIOD_NS[t])) for t in self.chain if TIER_PERIOD_NS[t]
        ]


class HistoryStore:
    """Keeps readings in a SQLite file, per sensor policy; see the module docstring for the trade-offs.

    Args:
        path: the database file (its directory is created).
        policies: sensor id -> policy (``raw``, ``1s``, ``10s``, ``1m``, ``off``); others are stored ``raw``.
        units: sensor id -> {field: unit}, kept for exports.
        commit_interval_s: seconds between commits.
        compact_interval_s: seconds between compactions (and pruning passes).
        max_bytes: size cap.
        retention_s: per tier, the age beyond which chunks are deleted.
        metrics: registry for the ``sensorcast_history_*`` series.
        clock_ns: wall clock (tests pass a fake one).
    """

    def __init__(
        self,
        path: Path,
        *,
        policies: Mapping[str, str] | None = None,
        units: Mapping[str, Mapping[str, str]] | None = None,
        commit_interval_s: float = 5.0,
        compact_interval_s: float = 600.0,
        max_bytes: int = 1 << 30,
        retention_s: Mapping[str, float] | None = None,
        metrics: Metrics | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.path = path
        self.policies = dict(policies or {})
        self.units = {s: dict(f) for s, f in (units or {}).items()}
        self.commit_interval_s = commit_interval_s
        self.compact_interval_s = compact_interval_s
        self.max_bytes = max_bytes
        self.retention_s = dict(retention_s or DEFAULT_RETENTION_S)
        self.metrics = metrics or Metrics()
        self.clock_ns = clock_ns
        self._lock = threading.Lock()
        self._pending: list[_Columns] = []
        """Batches waiting for the writer, as columns (see :meth:`on_batch`)."""
        self._pending_n = 0
        self._pending_events: list[tuple[int, str, dict[str, Any]]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._log: RecentLog | None = None
        self._claim_fd: int | None = None
        """The open ``<db>.lock`` whose flock says this writer owns the database (see :meth:`_claim`)."""
        self._unfolded: list[Record] = []
        """Records appended to the recent log since the last fold (what the next fold writes to ``chunks``)."""
        self._seq = 0
        """Sequence number of the last frame appended to the recent log."""
        self._sensors: dict[str, _SensorState] = {}
        self._units_dirty = bool(self.units)
        self._carry: dict[tuple[str, str], list[Any]] = {}
        """Rollup buckets closed while resuming at start, written with the first commit."""
        self._last_compact = time.monotonic()
        self._write_failing = False
        self.used_bytes = 0
        self.ready = threading.Event()
        """Set once the database is open (or found unusable) in the writer thread."""
        m = self.metrics
        m.describe("sensorcast_history_readings_total", "counter", "Readings handed to the history writer")
        m.describe("sensorcast_history_commits_total", "counter", "History transactions committed")
        m.describe(
            "sensorcast_history_dropped_total",
            "counter",
            "Readings not stored (queue full, no database, disk error)",
            ("reason",),
        )
        for reason in DROP_REASONS:
            m.inc("sensorcast_history_dropped_total", 0, reason=reason)  # a 0 from the first scrape on
        m.describe(
            "sensorcast_history_pruned_chunks_total",
            "counter",
            "History chunks deleted by retention",
            ("tier", "reason"),
        )
        m.describe("sensorcast_history_recoveries_total", "counter", "Unreadable history files moved aside")
        m.describe("sensorcast_history_bytes", "gauge", "Bytes used by the history database")
        m.describe("sensorcast_history_pending_readings", "gauge", "Readings waiting for the history writer")
        self.metrics.add_callback(
            lambda: [
                ("sensorcast_history_bytes", (), float(self.used_bytes)),
                ("sensorcast_history_pending_readings", (), float(self._pending_n)),
            ]
        )

    # -- event-loop side -----------------------------------------------------------------------------------

    def on_batch(self, batch: Sequence[ReadingTuple]) -> None:
        """Hub sink: queue ``batch`` for the writer (O(1) in the queue; drops and counts it when the queue is full).

        The batch is kept as three columns (sensor ids, times, values), not as its reading tuples: a tuple holding a
        dict stays tracked by Python's garbage collector, and half a million of them waiting for a commit made every
        full collection walk them all (15 % of the event loop's time at the fan-out benchmark's rate). Three lists
        a batch are three tracked objects, and the readings themselves are freed as soon as the hub is done."""
        n = len(batch)
        # Read unlocked first (the writer only ever lowers it), so a full queue costs no columns; checked again.
        if self._pending_n + n <= MAX_PENDING_READINGS:
            columns = (list(map(_SENSOR, batch)), list(map(_TS, batch)), list(map(_VALUES, batch)))
            with self._lock:
                if self._pending_n + n <= MAX_PENDING_READINGS:
                    self._pending.append(columns)
                    self._pending_n += n
                    return
        self.metrics.inc("sensorcast_history_dropped_total", n, reason="queue_full")

    def on_event(self, event: Mapping[str, Any]) -> None:
        """Hub event sink: queue a rule event (fired, cleared, acknowledged) for the writer; it is kept beside
        its sensor's readings (tier ``event``) under the same retention."""
        row = {k: event[k] for k in EVENT_KEYS if event.get(k) is not None}
        with self._lock:
            if len(self._pending_events) >= MAX_PENDING_EVENTS:
                self.metrics.inc("sensorcast_history_dropped_total", reason="queue_full")
                return
            self._pending_events.append((int(event["ts"]), str(event.get("sensor") or ""), row))

    def start(self) -> None:
        """Start the writer thread (it opens the database)."""
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Commit what is pending (open buckets included), checkpoint and stop. Blocking: call it from a thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error(
                    "history: the writer did not finish within %.0f s; pending readings are lost", timeout_s
                )

    def describe(self, sensor_id: str, units: Mapping[str, str]) -> None:
        """Record the units of a sensor's fields (for CSV headers); written with the next commit."""
        with self._lock:
            self.units[sensor_id] = dict(units)
            self._units_dirty = True

    # -- writer thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        if self._claim():
            self._open()
        if self._conn is not None:  # else _open said "history is off for this run"
            log.info("history: %s (commit every %g s)", self.path, self.commit_interval_s)
            try:
                self._resume_rollups()
            except (sqlite3.Error, HistoryError) as exc:
                log.error("history: could not resume the open rollups (%s); they restart empty", exc)
        self.ready.set()
        while not self._stop.is_set():
            self._wake.wait(self.commit_interval_s)
            self._wake.clear()
            self._guarded(self.commit)
            log_full = self._log is not None and self._log.offset >= FOLD_BYTES
            if log_full or time.monotonic() - self._last_compact >= self.compact_interval_s:
                self._last_compact = time.monotonic()
                self._guarded(self.maintain)
        self._guarded(lambda: self.commit(final=True))
        self._guarded(self.fold)  # a clean stop leaves everything in the database
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._conn is not None:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.close()
            except sqlite3.Error as exc:
                log.warning("history: closing the database failed: %s", exc)
            self._conn = None
        if self._claim_fd is not None:
            os.close(self._claim_fd)  # releases the claim
            self._claim_fd = None

    def _claim(self) -> bool:
        """Take the database for this writer: an exclusive ``flock`` on ``<db>.lock``, held until the writer
        stops (the kernel drops it when the process dies, so a kill never leaves it stale). False (logged):
        another process writes it - two gateways, or a fleet and a gateway, on one data_dir would mix their
        readings under the same sensor names and double their rollups - so history is off for this run."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return True  # _open reports what is wrong with the directory
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            log.error(
                "history: %s is in use by another sensorcast process (a second gateway or fleet with this"
                " data_dir?); history is off for this run",
                self.path,
            )
            return False
        except OSError as exc:  # a file system without flock (some network mounts): run unguarded, as before
            log.warning(
                "history: cannot lock %s.lock (%s); not guarded against a second writer", self.path, exc
            )
        self._claim_fd = fd
        return True

    def _guarded(self, step: Callable[[], object]) -> None:
        """Run one writer step; a bug in it is logged and counted, and the writer thread lives on (history
        that stops silently would be found out only when it is needed)."""
        try:
            step()
        except Exception:
            log.exception("history: a writer step failed; its readings are dropped")
            self.metrics.inc("sensorcast_history_dropped_total", reason="bug")

    def _open(self) -> None:
        """Open (or create) the database; an unreadable file is moved aside and a fresh one started."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.error("history: cannot create %s (%s); history is off for this run", self.path.parent, exc)
            return
        for attempt in range(2):
            try:
                conn = connect(self.path)
                check = conn.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    conn.close()
                    raise sqlite3.DatabaseError(f"quick_check: {check}")
                conn.executescript(
                    f"BEGIN;{SCHEMA}COMMIT;"
                )  # one transaction: a reader sees all tables or none
                self._conn = conn
                if not self._open_log():
                    conn.close()
                    self._conn = None
                    return
                self.used_bytes = used_bytes(conn)
                return
            except sqlite3.OperationalError as exc:
                log.error("history: cannot open %s (%s); history is off for this run", self.path, exc)
                return
            except sqlite3.DatabaseError as exc:
                if attempt:
                    log.error(
                        "history: a fresh %s failed too (%s); history is off for this run", self.path, exc
                    )
                    return
                self._move_aside(str(exc))

    def _open_log(self) -> bool:
        """Open the recent log and fold what it holds beyond the database's last fold (a kill or a power cut
        since). False (logged): no usable log, history is off for this run."""
        conn = self._conn
        assert conn is not None
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (FOLDED_SEQ_KEY,)).fetchone()
        folded = int(row[0]) if row else 0
        try:
            self._log = RecentLog(self.path)
            frames = self._log.frames(folded)
        except OSError as exc:
            log.error("history: cannot open %s (%s); history is off for this run", log_path(self.path), exc)
            self._log = None
            return False
        self._seq = max([folded, *(seq for seq, _ in frames)])
        self._unfolded = [r for _, recs in frames for r in recs]
        self.fold()
        return True

    def fold(self) -> int:
        """Write the recent log's records to ``chunks`` in one durable transaction, then start the log over;
        returns rows merged (writer thread)."""
        conn, rlog = self._conn, self._log
        if conn is None or rlog is None:
            return 0
        if not self._unfolded:
            rlog.restart()
            return 0
        groups: dict[tuple[str, str], list[bytes]] = {}
        for sensor, tier, _t0, _t1, _n, blob in self._unfolded:
            groups.setdefault((sensor, tier), []).append(blob)
        # FULL for this transaction only: the log is overwritten next, so the fold must be on the disk first.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN")
        try:
            merged = merge_chunks(conn, groups)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (FOLDED_SEQ_KEY, self._seq)
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.execute("PRAGMA synchronous=NORMAL")
        self._unfolded = []
        rlog.restart()
        return merged

    def _move_aside(self, why: str) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._unfolded = []
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm", "-recent"):
            src = Path(f"{self.path}{suffix}")
            try:
                if suffix == "-shm":
                    src.unlink(missing_ok=True)
                elif src.exists():
                    src.rename(Path(f"{aside}{suffix}"))
            except OSError as exc:
                log.error("history: cannot move %s aside: %s", src, exc)
        self.metrics.inc("sensorcast_history_recoveries_total")
        log.error(
            "history: %s is unreadable (%s); moved it aside to %s and started a fresh history database"
            " (live streaming is not affected)",
            self.path,
            why,
            aside,
        )

    def _resume_rollups(self) -> None:
        """Refill the open 1 m / 1 h buckets from what is stored since the last closed one, so that a restart
        (or a kill -9) costs the rollups no more than the raw data: at most one commit interval.

        Reads at most one rollup period of the finer tier per sensor; buckets that close while replaying are
        written with the next commit.
        """
        conn = self._conn
        assert conn is not None
        for sensor in list(self.policies):
            st = self._state(sensor, self._carry)
            source = st.base
            carry: list[tuple[int, Any]] = []
            for tier, rollup in st.rollups:
                if tier == st.base:
                    continue
                period = TIER_PERIOD_NS[tier]
                last = self._newest_start(conn, sensor, tier)
                newest_src = self._newest_start(conn, sensor, source)
                if newest_src is None:
                    break
                since = last + period if last is not None else newest_src - newest_src % period
                rows = self._stored_rows(conn, sensor, source, since) + [r for r in carry if r[0] >= since]
                rows.sort(key=lambda r: r[0])
                carry = []
                for ts, payload in rows:
                    closed = rollup.add(ts, payload) if source == "raw" else rollup.add_cells(ts, payload)
                    if closed is not None:
                        carry.append(closed)
                        self._carry.setdefault((sensor, tier), []).append(closed)
                source = tier

    @staticmethod
    def _newest_start(conn: sqlite3.Connection, sensor: str, tier: str) -> int | None:
        row = conn.execute(
            "SELECT max(t) FROM (SELECT max(t1_ns) AS t FROM journal WHERE sensor = ? AND tier = ?"
            " UNION ALL SELECT max(t1_ns) FROM chunks WHERE sensor = ? AND tier = ?)",
            (sensor, tier, sensor, tier),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    @staticmethod
    def _stored_rows(conn: sqlite3.Connection, sensor: str, tier: str, since: int) -> list[tuple[int, Any]]:
        out: list[tuple[int, Any]] = []
        for table in ("chunks", "journal"):
            for (blob,) in conn.execute(
                f"SELECT blob FROM {table} WHERE sensor = ? AND tier = ? AND t1_ns >= ?",
                (sensor, tier, since),
            ):
                ts, cols = decode_chunk(blob)
                for i, t in enumerate(ts):
                    if t >= since:
                        out.append((t, {k: c[i] for k, c in cols.items() if c[i] is not None}))
        return out

    def _state(self, sensor: str, out: dict[tuple[str, str], list[Any]]) -> _SensorState:
        """The writer's state of ``sensor``, following its policy when that changed (a fleet learns a remote
        sensor's rate from its meta, which may come after its first readings): the open buckets of the tiers the
        new policy keeps go on, the others close into ``out``."""
        policy = self.policies.get(sensor, "raw")
        st = self._sensors.get(sensor)
        if st is None:
            st = self._sensors[sensor] = _SensorState(policy)
        elif st.policy != policy:
            new = _SensorState(policy, {t: r for t, r in st.rollups})
            for i, (tier, rollup) in enumerate(st.rollups):
                if tier in new.chain:
                    continue
                closed = rollup.drain()  # finest first: what it cascades is drained next if not kept either
                if closed is not None:
                    out.setdefault((sensor, tier), []).append(closed)
                    self._cascade(sensor, st, i + 1, closed[0], None, closed[1], out)
            st = self._sensors[sensor] = new
        return st

    def _rows(self, batches: list[_Columns], final: bool) -> dict[tuple[str, str], Any]:
        """Turn readings into per (sensor, tier) rows: raw readings and closed buckets (all open ones if final)."""
        out: dict[tuple[str, str], Any] = self._carry  # raw: RawRows; rollups and events: [(t, payload)]
        self._carry = {}
        # Hot path (every reading): the commit's readings, one run per sensor in arrival order (a stable sort by
        # sensor), each folded by its first rollup a bucket at a time (Rollup.add_run: column by column in C).
        for sensor, times, values in _runs(batches):
            st = self._state(sensor, out)
            if not st.rollups:
                continue  # off
            if st.base == "raw":
                raw = out.setdefault((sensor, "raw"), RawRows())
                raw.times += times
                raw.values += values
            tier, first = st.rollups[0]
            for start, cells in first.add_run(times, values):
                out.setdefault((sensor, tier), []).append((start, cells))
                self._cascade(sensor, st, 1, start, None, cells, out)
        for key in [k for k, v in out.items() if not v]:
            del out[key]
        if final:
            for sensor, st in self._sensors.items():
                for i, (tier, rollup) in enumerate(st.rollups):
                    closed = rollup.drain()
                    if closed is not None:
                        out.setdefault((sensor, tier), []).append(closed)
                        self._cascade(sensor, st, i + 1, closed[0], None, closed[1], out)
        return out

    def _cascade(
        self,
        sensor: str,
        st: _SensorState,
        level: int,
        ts: int,
        values: Mapping[str, Any] | None,
        cells: Cells | None,
        out: dict[tuple[str, str], list[Any]],
    ) -> None:
        """Fold a reading (or a closed finer bucket) into rollup ``level`` and on up the chain."""
        while level < len(st.rollups):
            tier, rollup = st.rollups[level]
            closed = rollup.add(ts, values) if cells is None else rollup.add_cells(ts, cells)  # type: ignore[arg-type]
            if closed is None:
                return
            out.setdefault((sensor, tier), []).append(closed)
            ts, cells, values = closed[0], closed[1], None
            level += 1

    def commit(self, final: bool = False) -> int:
        """Write what is pending in one transaction; returns the number of readings taken (writer thread)."""
        with self._lock:
            batches, self._pending, n = self._pending, [], self._pending_n
            events, self._pending_events = self._pending_events, []
            self._pending_n = 0
            units = dict(self.units) if self._units_dirty else None
            self._units_dirty = False
        rows = self._rows(batches, final)
        for ts, sensor, event in sorted(events, key=lambda e: e[0]):
            rows.setdefault((sensor, EVENT_TIER), []).append((ts, event))
        if n:
            self.metrics.inc("sensorcast_history_readings_total", n)
        conn = self._conn
        if conn is None:
            if n:
                self.metrics.inc("sensorcast_history_dropped_total", n, reason="no_database")
            return n
        if not rows and units is None:
            return n
        records: list[Record] = []
        for (sensor, tier), chunk in rows.items():
            if isinstance(chunk, RawRows):
                times, values = chunk.times, chunk.values
            else:
                times, values = list(map(_T, chunk)), list(map(_PAYLOAD, chunk))
            blob = encode_rows(times, values, JOURNAL_ZLIB_LEVEL)
            records.append((sensor, tier, min(times), max(times), len(times), blob))
        try:
            if units is not None:  # rare (start, reload): straight to the database
                conn.execute("BEGIN")
                conn.executemany(
                    "INSERT OR REPLACE INTO fields (sensor, field, unit) VALUES (?, ?, ?)",
                    [(s, f, u or "") for s, fu in units.items() for f, u in fu.items()],
                )
                conn.execute("COMMIT")
            if records and self._log is not None:
                self._log.append(self._seq + 1, records)
                self._seq += 1
                self._unfolded.extend(records)
        except OSError as exc:
            self._write_failed(sqlite3.OperationalError(f"recent log: {exc}"), n)
            return n
        except sqlite3.Error as exc:
            self._write_failed(exc, n)
            return n
        if self._write_failing:
            self._write_failing = False
            log.warning("history: writing works again")
        self.metrics.inc("sensorcast_history_commits_total")
        return n

    def _write_failed(self, exc: sqlite3.Error, n: int) -> None:
        conn = self._conn
        if conn is not None and conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        self.metrics.inc("sensorcast_history_dropped_total", n, reason="write_error")
        if isinstance(exc, sqlite3.OperationalError):  # disk full, I/O error, locked: the file may be fine
            if not self._write_failing:
                self._write_failing = True
                log.error("history: writing failed (%s); readings are dropped until it works again", exc)
            return
        self._move_aside(str(exc))
        self._open()

    def maintain(self) -> None:
        """Compact the journal, then prune by age and size (writer thread)."""
        conn = self._conn
        if conn is None:
            return
        try:
            self.fold()
            self.compact()
            self.prune()
            self.used_bytes = used_bytes(conn)
        except HistoryError as exc:
            log.error("history: maintenance skipped a damaged chunk: %s", exc)
        except sqlite3.Error as exc:
            self._write_failed(exc, 0)

    def compact(self) -> int:
        """Merge the ``journal`` table's chunks (databases written before the recent log) into one chunk per
        sensor and tier (one transaction); returns rows merged."""
        conn = self._conn
        assert conn is not None
        top = conn.execute("SELECT max(id) FROM journal").fetchone()[0]
        if top is None:
            return 0
        groups: dict[tuple[str, str], list[bytes]] = {}
        for sensor, tier, blob in conn.execute(
            "SELECT sensor, tier, blob FROM journal WHERE id <= ? ORDER BY id", (top,)
        ):
            groups.setdefault((sensor, tier), []).append(blob)
        conn.execute("BEGIN")
        try:
            merged = merge_chunks(conn, groups)
            conn.execute("DELETE FROM journal WHERE id <= ?", (top,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return merged

    def prune(self) -> dict[str, int]:
        """Delete chunks past their tier's age, then the oldest ones until under the size cap (raw first).

        Returns chunks deleted per tier; logs one line when anything was deleted.
        """
        assert self._conn is not None
        return prune_chunks(self._conn, self.clock_ns(), self.retention_s, self.max_bytes, self.metrics)
