"""The SQLite store on a real file: commits, rollups across restarts, compaction, pruning, damaged files."""

from __future__ import annotations

import logging
import random
import sqlite3
from pathlib import Path

import pytest

from gateway.history.chunks import used_bytes
from gateway.history.codec import encode_chunk
from gateway.history.frames import FrameEncoder
from gateway.history.reader import HistoryReader
from gateway.history.recent import log_path
from gateway.history.store import MAX_PENDING_EVENTS, HistoryStore
from gateway.metrics import Metrics

S = 10**9
T0 = 1_800_000_000 * S


def store(path: Path, **kw: object) -> HistoryStore:
    st = HistoryStore(path, commit_interval_s=3600, **kw)  # type: ignore[arg-type]
    st._open()  # the writer thread's first step, run here so the test drives every commit itself
    return st


def feed(
    st: HistoryStore, sensor: str, seconds: range, per_s: int = 1, start: int = T0, noise: int = 0
) -> None:
    seq = 0
    rnd = random.Random(seconds.start)
    for s in seconds:
        batch = []
        for k in range(per_s):
            seq += 1
            values = {"v": s * 10 + k, "on": k % 2 == 0, **{f"n{i}": rnd.random() for i in range(noise)}}
            batch.append((seq, 0, start + s * S + k * (S // per_s), sensor, values, 0))
        st.on_batch(batch)


def test_raw_rollups_and_queries_survive_a_restart(tmp_path: Path) -> None:
    """Raw readings and their 1 m / 1 h rollups are queryable after the store is closed and reopened; min/max
    over a rollup equal those of the raw readings."""
    path = tmp_path / "h.db"
    st = store(path, policies={"env": "raw"})
    feed(st, "env", range(0, 150))
    st.commit(final=True)
    st._conn.close()  # type: ignore[union-attr]
    st = store(path)
    feed(st, "env", range(150, 200))
    st.commit(final=True)
    reader = HistoryReader(path)
    raw = reader.query("env", ["v"], T0, T0 + 200 * S)
    assert raw is not None and (raw.tier, len(raw.rows), raw.rows[0], raw.rows[-1]) == (
        "raw",
        200,
        [T0, 0],
        [T0 + 199 * S, 1990],
    )
    minute = reader.query("env", ["v"], T0, T0 + 200 * S, period_ns=60 * S)
    assert minute is not None and minute.tier == "1m"
    cells = [r[1] for r in minute.rows]
    assert sum(c[0] for c in cells) == 200
    assert (min(c[1] for c in cells), max(c[2] for c in cells)) == (0, 1990)
    bools = reader.query("env", ["on"], T0, T0 + 200 * S, period_ns=3600 * S)
    assert bools is not None and [r[1][:4] for r in bools.rows] == [[200, None, None, None]]


def test_fast_sensor_is_stored_as_one_second_rollups(tmp_path: Path) -> None:
    """A 1s-policy sensor writes one row per second, keeping every reading's extremes."""
    st = store(tmp_path / "h.db", policies={"imu": "1s"})
    feed(st, "imu", range(0, 5), per_s=100)
    st.commit(final=True)
    res = HistoryReader(tmp_path / "h.db").query("imu", ["v"], T0, T0 + 5 * S)
    assert res is not None and (res.tier, res.bucket_ns) == ("1s", S)
    assert [r[1][:3] for r in res.rows] == [[100, s * 10, s * 10 + 99] for s in range(5)]


def test_off_sensor_is_not_stored(tmp_path: Path) -> None:
    """history = "off" writes nothing for that sensor."""
    st = store(tmp_path / "h.db", policies={"door": "off"})
    feed(st, "door", range(0, 5))
    st.commit(final=True)
    assert HistoryReader(tmp_path / "h.db").query("door", [], T0, T0 + 5 * S) is None


def test_fold_merges_the_recent_log_and_keeps_every_row(tmp_path: Path) -> None:
    """Many commits (frames in the recent log, none in the database) become one chunk per sensor and tier;
    the data reads back the same before and after the fold."""
    path = tmp_path / "h.db"
    st = store(path)
    for i in range(10):
        feed(st, "env", range(i * 10, i * 10 + 10))
        st.commit()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 0
    before = HistoryReader(path).query("env", [], T0, T0 + 100 * S)
    assert before is not None and len(before.rows) == 100
    assert st.fold() == 100 + 1  # 100 raw rows, one closed 1 m bucket
    assert st.fold() == 0
    assert conn.execute("SELECT count(*) FROM journal").fetchone()[0] == 0
    assert conn.execute("SELECT tier, count(*) FROM chunks GROUP BY tier ORDER BY tier").fetchall() == [
        ("1m", 1),
        ("raw", 1),
    ]
    after = HistoryReader(path).query("env", [], T0, T0 + 100 * S)
    assert after is not None and after.rows == before.rows


def test_legacy_journal_rows_are_compacted(tmp_path: Path) -> None:
    """Commit chunks a database holds in its journal table (written before the recent log) are merged into
    chunks by the compaction and read back the same."""
    path = tmp_path / "h.db"
    st = store(path)
    conn = st._conn
    assert conn is not None
    rows = [(T0 + i * S, {"v": i}) for i in range(20)]
    for part in (rows[:10], rows[10:]):
        conn.execute(
            "INSERT INTO journal (sensor, tier, t0_ns, t1_ns, n, blob) VALUES ('env', 'raw', ?, ?, ?, ?)",
            (part[0][0], part[-1][0], len(part), encode_chunk(part)),
        )
    assert st.compact() == 20
    assert st.compact() == 0
    assert conn.execute("SELECT sensor, tier, n FROM chunks").fetchall() == [("env", "raw", 20)]
    res = HistoryReader(path).query("env", ["v"], T0, T0 + 20 * S)
    assert res is not None and res.rows == [[t, v["v"]] for t, v in rows]


def test_a_kill_before_the_fold_loses_no_commit_and_doubles_none(tmp_path: Path) -> None:
    """Commits only in the recent log are folded when the store opens after a kill; opening again (a kill
    right after that fold) adds no duplicate; a torn frame at the log's end is ignored."""
    path = tmp_path / "h.db"
    st = store(path)
    for i in range(3):
        feed(st, "env", range(i * 10, i * 10 + 10))
        st.commit()
    with open(log_path(path), "ab") as f:
        f.write(
            FrameEncoder().encode(st._seq + 1, [("env", "raw", 0, 0, 1, b"x")])[:-3]
        )  # torn by a power cut
    for _ in range(2):  # no close(): killed
        st = store(path)
    res = HistoryReader(path).query("env", ["v"], T0, T0 + 100 * S)
    assert res is not None and [r[1] for r in res.rows] == [s * 10 for s in range(30)]
    feed(st, "env", range(30, 40))
    st.commit()  # the log starts over at offset 0, after a fold recorded in the database
    res = HistoryReader(path).query("env", ["v"], T0, T0 + 100 * S)
    assert res is not None and [r[1] for r in res.rows] == [s * 10 for s in range(40)]


def test_size_cap_prunes_raw_first_then_rollups(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Over the size cap the oldest raw chunks go first, the 1 h rollup stays; pruned counts reach /metrics and
    one log line."""
    path = tmp_path / "h.db"
    metrics = Metrics()
    st = store(path, max_bytes=1 << 20, metrics=metrics, compact_interval_s=1, clock_ns=lambda: T0)
    for day in range(12):  # random values, which do not compress: ~150 kB of raw chunks per step
        feed(st, "env", range(day * 4000, day * 4000 + 4000), start=T0 - 10**6 * S, noise=4)
        st.commit()
        st.fold()
    assert used_bytes(st._conn) > 1 << 20  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="gateway.history.store"):
        pruned = st.prune()
    assert set(pruned) == {"raw"}
    assert used_bytes(st._conn) <= 1 << 20  # type: ignore[arg-type]
    tiers = {d["tier"] for d in HistoryReader(path).sensors()}
    assert {"1m", "1h"} <= tiers
    assert metrics.get("sensorcast_history_pruned_chunks_total", tier="raw", reason="size") == pruned["raw"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith(f"history: pruned {pruned['raw']} raw chunks (size)")


def test_age_retention(tmp_path: Path) -> None:
    """Chunks older than their tier's retention are deleted; younger ones stay."""
    path = tmp_path / "h.db"
    st = store(
        path,
        retention_s={"raw": 50, "1s": 1, "10s": 1, "1m": 10**6, "1h": 10**6},
        clock_ns=lambda: T0 + 100 * S,
    )
    feed(st, "env", range(0, 10))
    st.commit()
    st.fold()
    feed(st, "env", range(60, 70))
    st.commit()
    st.fold()
    assert st.prune() == {"raw": 1}
    res = HistoryReader(path).query("env", ["v"], T0, T0 + 100 * S)
    assert res is not None and [r[0] for r in res.rows] == [T0 + s * S for s in range(60, 70)]


def test_garbage_file_is_moved_aside_and_a_fresh_one_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file that is not a database is renamed *.corrupt-<time> with one error line; writing goes on."""
    path = tmp_path / "h.db"
    path.write_bytes(b"this is not a database" * 500)
    metrics = Metrics()
    with caplog.at_level(logging.ERROR, logger="gateway.history.store"):
        st = store(path, metrics=metrics)
    aside = list(tmp_path.glob("h.db.corrupt-*"))
    assert [p.read_bytes()[:22] for p in aside] == [b"this is not a database"]
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [f"history: {path} is unreadable"]
    assert metrics.get("sensorcast_history_recoveries_total") == 1
    feed(st, "env", range(3))
    st.commit()
    res = HistoryReader(path).query("env", ["v"], T0, T0 + 3 * S)
    assert res is not None and [r[1] for r in res.rows] == [0, 10, 20]


def test_damaged_pages_are_found_by_quick_check(tmp_path: Path) -> None:
    """A database whose pages were overwritten fails quick_check at start and is replaced."""
    path = tmp_path / "h.db"
    st = store(path)
    for i in range(50):
        feed(st, "env", range(i * 50, i * 50 + 50))
        st.commit()
    st._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
    st._conn.close()  # type: ignore[union-attr]
    data = bytearray(path.read_bytes())
    for off in range(4096 * 2, len(data), 4096 * 3):
        data[off : off + 200] = b"\xa5" * 200
    path.write_bytes(bytes(data))
    st = store(path)
    assert len([p for p in tmp_path.glob("h.db.corrupt-*") if not p.name.endswith(("-wal", "-recent"))]) == 1
    assert HistoryReader(path).sensors() == []


def test_queue_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_PENDING_READINGS batches are dropped and counted, not queued."""
    monkeypatch.setattr("gateway.history.store.MAX_PENDING_READINGS", 10)
    metrics = Metrics()
    st = store(tmp_path / "h.db", metrics=metrics)
    feed(st, "env", range(12))
    assert metrics.get("sensorcast_history_dropped_total", reason="queue_full") == 2
    assert st.commit() == 10


def test_huge_integer_counters_roll_up(tmp_path: Path) -> None:
    """Integer counters whose sum passes 2**64 still roll up (the sum is a float); min/max stay exact ints."""
    st = store(tmp_path / "h.db")
    big = 2**63 - 1
    st.on_batch([(i + 1, 0, T0 + i * S, "sys", {"bytes": big}, 0) for i in range(3)])
    st.commit(final=True)
    res = HistoryReader(tmp_path / "h.db").query("sys", [], T0, T0 + 3 * S, period_ns=60 * S)
    assert res is not None and res.rows[0][1][:3] == [3, big, big]


def test_a_failing_writer_step_is_logged_and_the_thread_lives_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected exception in a commit is logged and counted; the next commit writes again."""
    metrics = Metrics()
    st = HistoryStore(tmp_path / "h.db", commit_interval_s=0.05, metrics=metrics)
    calls = []
    real = st.commit

    def flaky(final: bool = False) -> int:
        calls.append(final)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(final)

    monkeypatch.setattr(st, "commit", flaky)
    st.start()
    st.ready.wait(5)
    feed(st, "env", range(3))
    st.close()
    assert "history: a writer step failed" in caplog.text
    assert metrics.get("sensorcast_history_dropped_total", reason="bug") == 1
    res = HistoryReader(tmp_path / "h.db").query("env", ["v"], T0, T0 + 3 * S)
    assert res is not None and [r[1] for r in res.rows] == [0, 10, 20]


def test_rule_events_are_kept_and_read_back_in_time_order(tmp_path: Path) -> None:
    """Fired, acknowledged and cleared events go through the recent log and the fold unchanged; they are read
    back oldest first, per sensor or all, paged without repeating an event that shares the cursor's time."""
    path = tmp_path / "h.db"
    st = store(path)

    def ev(ts: int, sensor: str, state: str, acked_by: str | None = None) -> dict[str, object]:
        return {"rule": f"r-{sensor}", "sensor": sensor, "field": "v", "state": state, "value": 30.5,
                "threshold": [1, 2] if sensor == "b" else 25, "severity": "warning", "ts": ts,
                "acked_by": acked_by}  # fmt: skip

    events = [
        ev(T0 + 1, "a", "active"),
        ev(T0 + 2, "a", "active", "op"),
        ev(T0 + 2, "b", "active"),
        ev(T0 + 5, "a", "inactive"),
    ]
    for e in (events[1], events[0], events[2]):  # handed over out of order
        st.on_event(e)
    st.commit()
    reader = HistoryReader(path)
    assert reader.events(T0, T0 + 10) == (events[:3], None)  # from the recent log
    st.on_event(events[3])
    st.commit()
    st.fold()
    assert reader.events(T0, T0 + 10) == (events, None)
    assert reader.events(T0, T0 + 10, "a") == ([events[0], events[1], events[3]], None)
    assert reader.events(T0, T0 + 10, limit=2) == ([events[0]], T0 + 2)
    assert reader.events(T0 + 2, T0 + 10, limit=2) == (events[1:3], T0 + 5)
    assert reader.events(T0 + 3, T0 + 5) == ([], None)
    # more events at one nanosecond than a page holds: the rest of that nanosecond is skipped, not looped on
    assert reader.events(T0 + 2, T0 + 10, limit=1) == ([events[1]], T0 + 3)


def test_events_beyond_the_queue_bound_are_dropped_and_counted(tmp_path: Path) -> None:
    """Past MAX_PENDING_EVENTS waiting events, new ones are dropped and counted as queue_full."""
    metrics = Metrics()
    st = store(tmp_path / "h.db", metrics=metrics)
    for i in range(MAX_PENDING_EVENTS + 3):
        st.on_event({"rule": "r", "sensor": "s", "field": "v", "state": "active", "ts": i})
    assert len(st._pending_events) == MAX_PENDING_EVENTS
    assert 'sensorcast_history_dropped_total{reason="queue_full"} 3' in metrics.render()


@pytest.mark.parametrize("made", [(), ("journal",), ("journal", "chunks")])
def test_a_half_created_schema_reads_as_no_history_yet(tmp_path: Path, made: tuple[str, ...]) -> None:
    """A reader that opens the file while the writer creates its tables sees "no database yet"
    (FileNotFoundError, which every caller treats as no history), never "no such table: chunks" (seen once on
    a fresh Debian run: the tables were created one statement at a time)."""
    path = tmp_path / "h.db"
    conn = sqlite3.connect(path)
    for table in made:
        conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with pytest.raises(FileNotFoundError):
        HistoryReader(path).sensors()


def test_the_schema_is_created_in_one_transaction(tmp_path: Path) -> None:
    """The store creates all its tables at once: a reader sees all of them or none."""
    statements: list[str] = []
    path = tmp_path / "h.db"
    store = HistoryStore(path, policies={"wave": "raw"})
    real_connect = sqlite3.connect

    def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)  # type: ignore[arg-type]
        conn.set_trace_callback(statements.append)
        return conn

    sqlite3.connect = traced  # type: ignore[assignment]
    try:
        store._open()
    finally:
        sqlite3.connect = real_connect
    assert store._conn is not None
    store._conn.close()
    creates = [i for i, s in enumerate(statements) if s.lstrip().upper().startswith("CREATE TABLE")]
    begins = [i for i, s in enumerate(statements) if s.strip().upper().startswith("BEGIN")]
    commits = [i for i, s in enumerate(statements) if s.strip().upper().startswith("COMMIT")]
    assert creates and any(b < creates[0] for b in begins)
    assert any(c > creates[-1] for c in commits)
    assert not any(creates[0] < c < creates[-1] for c in commits)


def test_a_policy_change_takes_effect_for_the_next_readings(tmp_path: Path) -> None:
    """A sensor stored as 1 s rollups whose policy then becomes raw (a fleet learning its rate from a late
    meta): the earlier seconds stay 1 s rows, every later reading is a raw row, the 1 m rollup counts them all."""
    path = tmp_path / "h.db"
    st = store(path, policies={"g1/env": "1s"})
    feed(st, "g1/env", range(0, 5), per_s=2)
    st.commit()
    st.policies["g1/env"] = "raw"
    feed(st, "g1/env", range(5, 10), per_s=2)
    st.commit(final=True)
    reader = HistoryReader(path)
    raw = reader.query("g1/env", ["v"], T0, T0 + 10 * S)
    assert raw is not None and raw.tier == "raw"
    assert [r[0] for r in raw.rows] == [T0 + s * S + k * S // 2 for s in range(5, 10) for k in range(2)]
    secs = reader.query("g1/env", ["v"], T0, T0 + 5 * S, period_ns=S)
    assert secs is not None and secs.tier == "1s"
    assert [(r[0], r[1][0]) for r in secs.rows] == [(T0 + s * S, 2) for s in range(5)]
    minute = reader.query("g1/env", ["v"], T0, T0 + 10 * S, period_ns=60 * S)
    assert minute is not None and minute.tier == "1m" and sum(r[1][0] for r in minute.rows) == 20


def test_long_mixed_batches_store_as_reading_by_reading(tmp_path: Path) -> None:
    """Long batches of interleaved sensors (the writer's run path: a stable sort by sensor, column folds) store the
    same raw rows, in arrival order, and the same 1 s / 1 m cells as short batches fed reading by reading."""
    readings = []
    rnd = random.Random(7)
    for i in range(3000):
        sensor = "a" if rnd.random() < 0.7 else "b"
        readings.append((i + 1, 0, T0 + i * (S // 40), sensor, {"v": rnd.uniform(-5, 5), "n": i}, 0))
    results = []
    for size in (1, 500):  # 1: every batch below RUN_MIN_READINGS, reading by reading
        st = store(tmp_path / f"h{size}.db", policies={"a": "raw", "b": "1s"})
        for k in range(0, len(readings), size):
            st.on_batch(readings[k : k + size])
        st.commit(final=True)
        reader = HistoryReader(tmp_path / f"h{size}.db")
        raw = reader.query("a", ["v", "n"], T0, T0 + 100 * S)
        second = reader.query("b", ["v"], T0, T0 + 100 * S, period_ns=S)
        minute = reader.query("b", ["v"], T0, T0 + 100 * S, period_ns=60 * S)
        assert raw is not None and second is not None and minute is not None
        assert (raw.tier, second.tier, minute.tier) == ("raw", "1s", "1m")
        results.append((raw.rows, [[r[0], *r[1][:3]] for r in second.rows], [r[1][:3] for r in minute.rows]))
    assert results[0] == results[1]
    raw_rows, seconds, _ = results[1]
    assert [r[2] for r in raw_rows] == [r[4]["n"] for r in readings if r[3] == "a"]
    assert sum(s[1] for s in seconds) == sum(1 for r in readings if r[3] == "b")
