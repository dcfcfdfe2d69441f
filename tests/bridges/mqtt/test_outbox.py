"""The SQLite outbox: FIFO order, deletes by id, caps, durability settings, corruption recovery."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bridges.mqtt.outbox import Outbox, OutRow, StoredRow

NOW_NS = 1_700_000_000 * 10**9


def rows(first: int, n: int, *, ts_ns: int = NOW_NS, synced: bool = True) -> list[OutRow]:
    return [OutRow(f"t/{i}", f"p{i}".encode(), "boot", i, ts_ns, synced) for i in range(first, first + n)]


def opened(path: Path, **kw: object) -> Outbox:
    ob = Outbox(path, **kw)  # type: ignore[arg-type]
    ob.open()
    return ob


def test_wal_and_synchronous_are_set(tmp_path: Path) -> None:
    """The database runs in WAL mode with the configured synchronous level (NORMAL=1, FULL=2)."""
    ob = opened(tmp_path / "a" / "outbox.db")
    assert ob.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ob.db.execute("PRAGMA synchronous").fetchone()[0] == 1
    ob.close()
    ob = opened(tmp_path / "a" / "outbox.db", synchronous="full")
    assert ob.db.execute("PRAGMA synchronous").fetchone()[0] == 2
    ob.close()


def test_fifo_fetch_and_delete_by_ack(tmp_path: Path) -> None:
    """Rows come back in insertion order with their ids; acked ids are deleted in the next write."""
    ob = opened(tmp_path / "o.db")
    res = ob.write(rows(1, 5))
    assert [r.id for r in res.stored] == [1, 2, 3, 4, 5] and ob.rows == 5
    assert ob.fetch(0, 5, 10) == [StoredRow(i, f"t/{i}", f"p{i}".encode(), "boot", i) for i in range(1, 6)]
    assert [r.seq for r in ob.fetch(2, 4, 10)] == [3, 4]
    assert [r.seq for r in ob.fetch(0, 5, 2)] == [1, 2]
    res = ob.write(rows(6, 1), acked=[1, 3, 99])
    assert (res.deleted_acked, [r.id for r in res.stored], ob.rows) == (2, [6], 4)
    assert [r.seq for r in ob.fetch(0, 100, 100)] == [2, 4, 5, 6]


def test_ids_never_reused_after_the_table_empties(tmp_path: Path) -> None:
    """AUTOINCREMENT: after every row was acked, new ids continue from the last one (order survives)."""
    ob = opened(tmp_path / "o.db")
    ob.write(rows(1, 3))
    ob.write([], acked=[1, 2, 3])
    assert ob.rows == 0 and ob.last_id() == 3
    assert [r.id for r in ob.write(rows(4, 2)).stored] == [4, 5]


def test_caller_assigned_ids_with_gaps_are_kept_and_a_repeated_write_is_idempotent(tmp_path: Path) -> None:
    """Rows written under the ids the bridge published them with keep them (gaps where readings were acked
    in memory); writing an id again stores nothing; later SQLite-assigned ids continue after the highest."""
    ob = opened(tmp_path / "o.db")
    res = ob.write(rows(1, 3), ids=[2, 5, 9])
    assert ([r.id for r in res.stored], ob.rows, ob.last_id()) == ([2, 5, 9], 3, 9)
    res = ob.write(rows(3, 2), ids=[9, 10])
    assert ([(r.id, r.seq) for r in res.stored], ob.rows) == ([(10, 4)], 4)
    assert [(r.id, r.seq) for r in ob.fetch(0, 100, 100)] == [(2, 1), (5, 2), (9, 3), (10, 4)]
    assert [r.id for r in ob.write(rows(5, 1)).stored] == [11]
    with pytest.raises(ValueError, match="1 ids for 2 rows"):
        ob.write(rows(6, 2), ids=[12])


def test_survives_reopen(tmp_path: Path) -> None:
    """Committed rows are there after close and reopen, and the row count is restored."""
    ob = opened(tmp_path / "o.db")
    ob.write(rows(1, 50))
    ob.close()
    ob = opened(tmp_path / "o.db")
    assert ob.rows == 50 and [r.seq for r in ob.fetch(0, 10**9, 1000)] == list(range(1, 51))
    assert ob.integrity_check() == "ok"


def test_drop_oldest_cap(tmp_path: Path) -> None:
    """At the cap, drop_oldest removes the oldest stored rows and keeps the newest."""
    ob = opened(tmp_path / "o.db", max_rows=100)
    ob.write(rows(1, 90))
    res = ob.write(rows(91, 20))
    assert (res.dropped_stored, res.dropped_incoming, ob.rows) == (10, 0, 100)
    assert [r.seq for r in ob.fetch(0, 10**9, 1000)] == list(range(11, 111))
    res = ob.write(rows(200, 150))
    assert (res.dropped_stored, res.dropped_incoming, ob.rows) == (100, 50, 100)
    assert [r.seq for r in ob.fetch(0, 10**9, 1000)] == list(range(250, 350))


def test_drop_newest_cap(tmp_path: Path) -> None:
    """At the cap, drop_newest keeps what is stored and refuses the newest incoming rows."""
    ob = opened(tmp_path / "o.db", max_rows=100, overflow="drop_newest")
    ob.write(rows(1, 90))
    res = ob.write(rows(91, 20))
    assert (res.dropped_stored, res.dropped_incoming, ob.rows) == (0, 10, 100)
    assert [r.seq for r in ob.fetch(0, 10**9, 1000)] == list(range(1, 101))


def test_age_cap_drops_the_old_synced_prefix_only(tmp_path: Path) -> None:
    """Rows older than max_age_s go, oldest first, stopping at the first young or unsynchronised row."""
    ob = opened(tmp_path / "o.db", max_age_s=60.0, age_check_interval_s=0.0)
    old = NOW_NS - 120 * 10**9
    ob.write(rows(1, 3, ts_ns=old) + rows(4, 1, ts_ns=old, synced=False) + rows(5, 2, ts_ns=old) + rows(7, 2))
    assert ob.write([], now_ns=None).dropped_age == 0  # clock not synchronised: never age-drop
    assert ob.write([], now_ns=NOW_NS).dropped_age == 3
    assert [r.seq for r in ob.fetch(0, 10**9, 100)] == [4, 5, 6, 7, 8]
    ob.write([], acked=[4])
    assert ob.write([], now_ns=NOW_NS).dropped_age == 2
    assert ob.write([], now_ns=NOW_NS + 10**12).dropped_age == 2 and ob.rows == 0


def test_age_check_is_rate_limited(tmp_path: Path) -> None:
    """The age cap runs at most once per age_check_interval_s."""
    ob = opened(tmp_path / "o.db", max_age_s=1.0, age_check_interval_s=3600.0)
    ob.write(rows(1, 2, ts_ns=NOW_NS - 10 * 10**9))
    assert ob.write([], now_ns=NOW_NS).dropped_age == 2
    ob.write(rows(3, 2, ts_ns=NOW_NS - 10 * 10**9))
    assert ob.write([], now_ns=NOW_NS).dropped_age == 0 and ob.rows == 2


def test_failed_transaction_rolls_back_everything(tmp_path: Path) -> None:
    """A failure inside write() leaves neither the acks nor the inserts applied, and the count exact."""
    ob = opened(tmp_path / "o.db")
    ob.write(rows(1, 3))
    bad = [*rows(4, 1), OutRow("t", None, "b", 5, 0, True)]  # type: ignore[arg-type]  # payload NOT NULL
    with pytest.raises(sqlite3.IntegrityError):
        ob.write(bad, acked=[1])
    assert ob.rows == 3 and [r.seq for r in ob.fetch(0, 100, 100)] == [1, 2, 3]


def test_corrupt_file_is_moved_aside(tmp_path: Path) -> None:
    """A file that is not a database is renamed *.corrupt-<time> and an empty outbox starts."""
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not sqlite" * 500)
    ob = opened(path)
    assert ob.rows == 0 and ob.integrity_check() == "ok"
    assert len(list(tmp_path.glob("o.db.corrupt-*"))) == 1


def test_closed_outbox_refuses_use(tmp_path: Path) -> None:
    """Using a closed outbox is a programming error; close is idempotent."""
    ob = opened(tmp_path / "o.db")
    ob.close()
    ob.close()
    with pytest.raises(RuntimeError, match="not open"):
        ob.fetch(0, 1, 1)


def test_downsample_cap_thins_the_oldest_rows_per_topic(tmp_path: Path) -> None:
    """At the cap, downsample deletes every second row of each topic among the oldest rows, so the oldest
    data keeps its time span at half the resolution; the newest rows are untouched."""
    ob = opened(tmp_path / "o.db", max_rows=100, overflow="downsample")
    ob.write([OutRow(f"t/{i % 2}", b"p", "boot", i, NOW_NS, True) for i in range(1, 101)])
    res = ob.write([OutRow(f"t/{i % 2}", b"p", "boot", i, NOW_NS, True) for i in range(101, 121)])
    assert (res.dropped_stored, res.dropped_incoming, ob.rows) == (20, 0, 100)
    # oldest 40 rows (seq 1..40): per topic, rows 2, 4, ... of that topic are gone
    kept = [r.seq for r in ob.fetch(0, 10**9, 1000)]
    assert kept == [
        1,
        2,
        5,
        6,
        9,
        10,
        13,
        14,
        17,
        18,
        21,
        22,
        25,
        26,
        29,
        30,
        33,
        34,
        37,
        38,
        *range(41, 121),
    ]


def test_downsample_falls_back_to_dropping_what_thinning_cannot_free(tmp_path: Path) -> None:
    """When thinning frees fewer rows than needed (one row per topic), the oldest rows are dropped."""
    ob = opened(tmp_path / "o.db", max_rows=100, overflow="downsample")
    ob.write([OutRow(f"t/{i}", b"p", "boot", i, NOW_NS, True) for i in range(1, 101)])  # every topic once
    res = ob.write(rows(101, 5))
    assert (res.dropped_stored, ob.rows) == (5, 100)
    assert [r.seq for r in ob.fetch(0, 10**9, 1000)][:3] == [6, 7, 8]
