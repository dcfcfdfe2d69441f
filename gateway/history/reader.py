"""Reading history back: tier choice, downsampling, raw pages. Blocking; runs in a thread, never on the loop.

Each call opens its own read-only connection (WAL readers never block the writer, and a database moved aside
by the writer is simply not found by the next query). The last few minutes are not in the database yet but in
the recent log (:mod:`gateway.history.recent`): each call reads the log first, then opens one read transaction
and loads the frames newer than the database's last fold into a TEMP ``journal`` table, which hides the
database's own (legacy) ``journal`` table for the queries below - so a fold in between neither hides nor
doubles a row.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.history.codec import decode_chunk
from gateway.history.errors import UnknownField
from gateway.history.policy import EVENT_TIER, TIER_PERIOD_NS, TIERS, TierChoice, choose_tier
from gateway.history.recent import read_log
from gateway.history.rollup import Cell, downsample_cells, downsample_values
from gateway.history.store import FOLDED_SEQ_KEY, connect

MAX_POINTS = 10_000
"""Buckets (or raw rows) one query returns at most; the rest is reached with the ``next`` cursor."""
MAX_EVENTS = 10_000
"""Rule events one query returns at most (oldest first); the rest is reached with the ``next`` cursor."""


@dataclass(slots=True)
class HistoryResult:
    """One page of a query.

    Attributes:
        tier: the tier read.
        bucket_ns: bucket length of the rows (0: raw rows ``[t_ns, v1, v2...]``; else rows
            ``[t_ns, cell_or_None per field]`` with cells ``[n, min, max, mean, last]``).
        fields: the field names, in row order.
        rows: the rows, in time order.
        next_ns: where the next page starts (None: this was the last).
    """

    tier: str
    bucket_ns: int
    fields: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    next_ns: int | None = None


class HistoryReader:
    """Queries over one database file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection, closed after use. FileNotFoundError: no database (yet)."""
        if not self.path.exists():
            raise FileNotFoundError(str(self.path))
        try:
            conn = connect(self.path, readonly=True)
        except sqlite3.OperationalError as exc:
            raise FileNotFoundError(str(self.path)) from exc
        try:
            frames = read_log(self.path, 0)  # before the snapshot: see the module docstring
            conn.execute("BEGIN")
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"journal", "chunks", "fields"} <= names:
                raise FileNotFoundError(str(self.path))  # being created by the writer right now
            folded = 0
            if "meta" in names:
                row = conn.execute("SELECT value FROM meta WHERE key = ?", (FOLDED_SEQ_KEY,)).fetchone()
                folded = int(row[0]) if row else 0
            records = [r for seq, recs in frames if seq > folded for r in recs]
            if records:
                conn.execute("PRAGMA temp_store=MEMORY")
                conn.execute("CREATE TEMP TABLE journal AS SELECT * FROM main.journal")
                conn.executemany(
                    "INSERT INTO temp.journal (sensor, tier, t0_ns, t1_ns, n, blob) VALUES (?, ?, ?, ?, ?, ?)",
                    records,
                )
            yield conn
        finally:
            conn.close()

    def oldest(self, conn: sqlite3.Connection, sensor: str) -> dict[str, int | None]:
        """Per tier, the oldest stored timestamp of ``sensor`` (journal included)."""
        out: dict[str, int | None] = {}
        for table in ("chunks", "journal"):
            for tier, t0 in conn.execute(
                f"SELECT tier, min(t0_ns) FROM {table} WHERE sensor = ? GROUP BY tier", (sensor,)
            ):
                prev = out.get(tier)
                out[tier] = t0 if prev is None else min(prev, t0)
        return out

    def sensors(self) -> list[dict[str, Any]]:
        """Per sensor and tier: rows, oldest and newest timestamps (``sensorcast history info``)."""
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT sensor, tier, sum(n), min(t0_ns), max(t1_ns) FROM ("
                " SELECT sensor, tier, n, t0_ns, t1_ns FROM chunks UNION ALL"
                " SELECT sensor, tier, n, t0_ns, t1_ns FROM journal) GROUP BY sensor, tier ORDER BY sensor"
            ).fetchall()
            units = conn.execute("SELECT sensor, field, unit FROM fields").fetchall()
        unit_map: dict[str, dict[str, str]] = {}
        for s, f, u in units:
            unit_map.setdefault(s, {})[f] = u
        out = []
        for sensor, tier, n, lo, hi in rows:
            out.append({"sensor": sensor, "tier": tier, "rows": n, "oldest_ns": lo, "newest_ns": hi})
        out.sort(key=lambda d: (d["sensor"], TIERS.index(d["tier"]) if d["tier"] in TIERS else 99))
        return out

    def sensor_names(self, *, with_events: bool = False) -> list[str]:
        """The sensors with stored readings (``with_events``: or rule events), sorted (an unknown-sensor error
        lists them)."""
        where = "" if with_events else " WHERE tier != ?"
        args = () if with_events else (EVENT_TIER,)
        with self._conn() as conn:
            return sorted(
                {
                    name
                    for table in ("chunks", "journal")
                    for (name,) in conn.execute(f"SELECT DISTINCT sensor FROM {table}{where}", args)
                }
            )

    def check_fields(self, sensor: str, fields: Sequence[str], from_ns: int, to_ns: int) -> None:
        """Raise :class:`UnknownField` when ``sensor`` never had one of ``fields`` (before an export writes)."""
        with self._conn() as conn:
            self._check_fields(conn, sensor, fields, from_ns, to_ns)

    def _check_fields(
        self, conn: sqlite3.Connection, sensor: str, fields: Sequence[str], from_ns: int, to_ns: int
    ) -> None:
        """The names come from the ``fields`` table (the catalogue's fields at start, one indexed read); only
        when one is missing there, from the columns of the sensor's newest chunk of each tier and of its first
        chunk in the range (a field the driver added later, a sensor the catalogue never listed): the slow part
        runs on the way to an error only."""
        known = dict.fromkeys(
            r[0] for r in conn.execute("SELECT field FROM fields WHERE sensor = ?", (sensor,))
        )
        if all(f in known for f in fields):
            return
        for table in ("chunks", "journal"):
            newest = f"SELECT blob, max(t1_ns) FROM {table} WHERE sensor = ? AND tier != ? GROUP BY tier"
            first = f"SELECT blob, min(t0_ns) FROM {table} WHERE sensor = ? AND tier != ? AND t1_ns >= ? AND t0_ns < ?"
            blobs = [
                *conn.execute(newest, (sensor, EVENT_TIER)),
                *conn.execute(first, (sensor, EVENT_TIER, from_ns, to_ns)),
            ]
            for blob, _ in blobs:
                if blob is not None:
                    known.update(dict.fromkeys(decode_chunk(blob)[1]))
        for f in fields:
            if f not in known:
                raise UnknownField(sensor, f, sorted(known))

    def first_fields(self, sensor: str, tier: str, from_ns: int, to_ns: int) -> list[str]:
        """The field names of ``sensor``'s first ``tier`` chunk overlapping [from_ns, to_ns) (the columns a raw
        export without ``fields`` writes), else of its ``fields`` table; [] when it has neither."""
        with self._conn() as conn:
            for ts, cols in self._blobs(conn, sensor, tier, from_ns, to_ns):
                if ts:
                    return list(cols)
            return [r[0] for r in conn.execute("SELECT field FROM fields WHERE sensor = ?", (sensor,))]

    def units(self, sensor: str) -> dict[str, str]:
        """Field -> unit of ``sensor`` as recorded."""
        with self._conn() as conn:
            return dict(conn.execute("SELECT field, unit FROM fields WHERE sensor = ?", (sensor,)).fetchall())

    def _blobs(
        self, conn: sqlite3.Connection, sensor: str, tier: str, from_ns: int, to_ns: int
    ) -> Iterator[tuple[list[int], dict[str, list[Any]]]]:
        """Decoded chunks of ``sensor``/``tier`` overlapping [from_ns, to_ns), compacted ones first."""
        for table in ("chunks", "journal"):
            cur = conn.execute(
                f"SELECT blob FROM {table} WHERE sensor = ? AND tier = ? AND t1_ns >= ? AND t0_ns < ?"
                " ORDER BY t0_ns",
                (sensor, tier, from_ns, to_ns),
            )
            for (blob,) in cur:
                yield decode_chunk(blob)

    def events(
        self, from_ns: int, to_ns: int, sensor: str | None = None, limit: int = MAX_EVENTS
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Stored rule events in [from_ns, to_ns) (of ``sensor``, or every sensor), oldest first, as ``event``
        bodies (docs/protocol.md); at most ``limit``, and where the next page starts (None: no more)."""
        found: list[dict[str, Any]] = []
        with self._conn() as conn:
            for table in ("chunks", "journal"):
                sql = f"SELECT sensor, blob FROM {table} WHERE tier = ? AND t1_ns >= ? AND t0_ns < ?"
                args: tuple[Any, ...] = (EVENT_TIER, from_ns, to_ns)
                if sensor is not None:
                    sql, args = sql + " AND sensor = ?", (*args, sensor)
                for name, blob in conn.execute(sql, args):
                    ts, cols = decode_chunk(blob)
                    for i, t in enumerate(ts):
                        if from_ns <= t < to_ns:
                            event = {k: c[i] for k, c in cols.items() if c[i] is not None}
                            found.append({"sensor": name, "ts": t, "acked_by": None, **event})
        found.sort(key=lambda e: (e["ts"], e["sensor"], str(e.get("rule"))))
        if len(found) <= limit:
            return found, None
        nxt = found[limit]["ts"]
        cut = limit
        while cut and found[cut - 1]["ts"] == nxt:  # the next page starts at nxt: do not send those twice
            cut -= 1
        if (
            not cut
        ):  # more than ``limit`` events at one nanosecond: the rest of them is skipped, never looped on
            return found[:limit], nxt + 1
        return found[:cut], nxt

    def choose(
        self,
        sensor: str,
        from_ns: int,
        to_ns: int,
        *,
        points: int | None = None,
        period_ns: int | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> TierChoice | None:
        """Which tier answers the query (raw when neither ``points`` nor ``period_ns`` is given)."""
        if conn is None:
            with self._conn() as own:
                oldest = self.oldest(own, sensor)
        else:
            oldest = self.oldest(conn, sensor)
        chain = tuple(t for t in TIERS if t in oldest)
        if not chain:
            return None
        if points is None and period_ns is None:
            return TierChoice(chain[0], TIER_PERIOD_NS[chain[0]])
        if period_ns is not None:
            return choose_tier(from_ns, to_ns, 1, oldest, chain, target_ns=max(1, period_ns))
        return choose_tier(from_ns, to_ns, max(1, points or 1), oldest, chain)

    def query(
        self,
        sensor: str,
        fields: Sequence[str],
        from_ns: int,
        to_ns: int,
        *,
        points: int | None = None,
        period_ns: int | None = None,
        limit: int = MAX_POINTS,
        choice: TierChoice | None = None,
    ) -> HistoryResult | None:
        """Readings of ``sensor`` in [from_ns, to_ns): raw rows, or buckets of ``period_ns`` (aligned on the epoch,
        so the same data gives the same buckets whenever it is asked for), or about
        ``points`` buckets on the tier :func:`~gateway.history.policy.choose_tier` picks. At most ``limit``
        rows; ``next_ns`` says where to continue. Empty ``fields``: every field. None: no such sensor.
        :class:`~gateway.history.errors.UnknownField`: ``sensor`` never had one of ``fields``. ``choice``: read
        this tier and bucket length (a later page of a long export keeps the tier its whole range was planned
        with, instead of choosing again from where the page starts)."""
        with self._conn() as conn:
            if choice is None:
                choice = self.choose(sensor, from_ns, to_ns, points=points, period_ns=period_ns, conn=conn)
            elif not self.oldest(conn, sensor):
                choice = None
            if choice is None:
                return None
            if fields:
                self._check_fields(conn, sensor, fields, from_ns, to_ns)
            if choice.bucket_ns == 0:
                return self._raw(conn, sensor, list(fields), from_ns, to_ns, limit)
            return self._buckets(conn, sensor, list(fields), from_ns, to_ns, choice, limit)

    def iter_raw(
        self, sensor: str, fields: Sequence[str], from_ns: int, to_ns: int, tier: str = "raw"
    ) -> Iterator[tuple[list[str], Iterator[tuple[Any, ...]]]]:
        """Stream raw rows ``(t_ns, v...)`` chunk by chunk (constant memory: one chunk at a time). Yields once
        per chunk the field list (fixed after the first chunk when ``fields`` is empty) and its rows."""
        names = list(fields)
        with self._conn() as conn:
            for ts, cols in self._blobs(conn, sensor, tier, from_ns, to_ns):
                if not names:
                    names = list(cols)
                columns = [cols.get(n) or [None] * len(ts) for n in names]
                rows = zip(ts, *columns, strict=True)
                if ts and (ts[0] < from_ns or ts[-1] >= to_ns):  # an edge chunk: keep the range only
                    rows = (r for r in rows if from_ns <= r[0] < to_ns)  # type: ignore[assignment]
                yield names, rows

    def _raw(
        self, conn: sqlite3.Connection, sensor: str, fields: list[str], from_ns: int, to_ns: int, limit: int
    ) -> HistoryResult:
        out = HistoryResult("raw", 0, fields)
        rows = out.rows
        for ts, cols in self._blobs(conn, sensor, "raw", from_ns, to_ns):
            if not out.fields:
                out.fields = fields = list(cols)
            columns = [cols.get(n) or [None] * len(ts) for n in fields]
            for i, t in enumerate(ts):
                if from_ns <= t < to_ns:
                    if len(rows) >= limit:
                        out.next_ns = t
                        rows.sort(key=lambda r: r[0])
                        return out
                    rows.append([t, *(c[i] for c in columns)])
        rows.sort(key=lambda r: r[0])
        return out

    def _buckets(
        self,
        conn: sqlite3.Connection,
        sensor: str,
        fields: list[str],
        from_ns: int,
        to_ns: int,
        choice: TierChoice,
        limit: int,
    ) -> HistoryResult:
        bucket = choice.bucket_ns
        # Pages end on the bucket grid: from an unaligned from_ns, the bucket a page boundary fell in would
        # otherwise come out twice (one row per page, same time, half the readings each).
        end = min(to_ns, (from_ns // bucket + limit) * bucket)
        raw = choice.tier == "raw"
        # A rollup row counts when its period overlaps the range; one that started earlier joins the first bucket.
        start = from_ns - TIER_PERIOD_NS[choice.tier] + 1 if not raw else from_ns
        per_field: dict[str, list[tuple[int, Any]]] = {}
        for ts, cols in self._blobs(conn, sensor, choice.tier, start, end):
            for name, col in cols.items():
                if fields and name not in fields:
                    continue
                acc = per_field.setdefault(name, [])
                acc.extend(
                    (max(t, from_ns), v)
                    for t, v in zip(ts, col, strict=True)
                    if v is not None and start <= t < end
                )
        names = fields or list(per_field)
        merged: dict[int, list[Any]] = {}
        for j, name in enumerate(names):
            points = per_field.get(name, [])
            points.sort(key=lambda p: p[0])
            grouped: list[tuple[int, Cell]] = (
                downsample_values(points, 0, bucket) if raw else downsample_cells(points, 0, bucket)
            )
            for t, cell in grouped:
                row = merged.get(t)
                if row is None:
                    row = merged[t] = [t, *([None] * len(names))]
                nnum = cell[1]
                row[j + 1] = [cell[0], cell[2], cell[3], cell[4] / nnum if nnum else None, cell[5]]
        out = HistoryResult(choice.tier, bucket, names, [merged[t] for t in sorted(merged)])
        if end < to_ns:
            out.next_ns = end
            if not per_field:  # an empty page: go on where the data goes on, not 10,000 empty buckets later
                ahead = self._data_from(conn, sensor, choice.tier, end, to_ns)
                out.next_ns = None if ahead is None else max(end, ahead // bucket * bucket)
        return out

    def _data_from(
        self, conn: sqlite3.Connection, sensor: str, tier: str, from_ns: int, to_ns: int
    ) -> int | None:
        """A lower bound of ``sensor``'s first ``tier`` row at or after ``from_ns`` (before ``to_ns``), from the
        chunk index; None: there is none."""
        found = [
            t
            for table in ("chunks", "journal")
            for (t,) in conn.execute(
                f"SELECT min(max(t0_ns, ?)) FROM {table} WHERE sensor = ? AND tier = ? AND t1_ns >= ? AND t0_ns < ?",
                (from_ns, sensor, tier, from_ns, to_ns),
            )
            if t is not None
        ]
        return min(found) if found else None
