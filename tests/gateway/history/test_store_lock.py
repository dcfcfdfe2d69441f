"""One history writer per database: a second gateway (or fleet) on the same data_dir keeps no history."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.history.reader import HistoryReader
from gateway.history.store import HistoryStore
from gateway.metrics import Metrics
from tests.conftest import scaled

T0 = 1_800_000_000 * 10**9


def test_a_second_writer_on_the_same_database_stays_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two writers started on one history.db: the second logs one error naming the file and keeps nothing (its
    readings are counted as dropped, no_database); the first stores its own readings only, once each. After the
    first stops, a new writer gets the database."""
    path = tmp_path / "history.db"
    first, second = HistoryStore(path, commit_interval_s=3600), HistoryStore(path, metrics=Metrics())
    with caplog.at_level(logging.ERROR, logger="gateway.history.store"):
        first.start()
        assert first.ready.wait(scaled(10))
        second.start()
        assert second.ready.wait(scaled(10))
    first.on_batch([(1, 0, T0, "env", {"t": 1}, 0)])
    second.on_batch([(1, 0, T0 + 10**9, "env", {"t": 2}, 0)])
    second.close()
    first.close()
    third = HistoryStore(path)
    third.start()
    assert third.ready.wait(scaled(10))
    third.close()
    assert [r.getMessage() for r in caplog.records] == [
        f"history: {path} is in use by another sensorcast process (a second gateway or fleet with this"
        " data_dir?); history is off for this run"
    ]
    assert (first._conn, second._conn, third._conn) == (None, None, None)  # all closed again
    result = HistoryReader(path).query("env", [], 0, T0 + 10 * 10**9)
    assert result is not None and result.rows == [[T0, 1]]
    assert second.metrics.get("sensorcast_history_dropped_total", reason="no_database") == 1
