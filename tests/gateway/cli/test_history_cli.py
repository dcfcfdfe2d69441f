"""``sensorcast history``'s own output: the info table's columns and the export's --help."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from gateway.cli.history import info
from gateway.history.reader import HistoryReader
from gateway.history.store import HistoryStore
from tests.conftest import scaled

T0 = 1_790_000_000 * 10**9


def test_the_info_table_keeps_its_columns_for_the_event_tier(tmp_path: Path) -> None:
    """A sensor with rule events: the ``event`` tier's row lines up with the header like every other row."""
    st = HistoryStore(tmp_path / "h.db", policies={"env": "raw"})
    st._open()
    st.on_batch([(1, 0, T0, "env", {"t": 20}, 0)])
    st.on_event({"rule": "hot", "sensor": "env", "field": "t", "state": "active", "ts": T0, "value": 20})
    st.commit(final=True)
    out = io.StringIO()
    assert info(HistoryReader(tmp_path / "h.db"), out) == 0
    table = out.getvalue().splitlines()[1:-1]
    assert [line.split() for line in table] == [
        ["sensor", "tier", "rows", "oldest", "(UTC)", "newest", "(UTC)"],
        ["env", "raw", "1", "2026-09-21T14:13:20", "2026-09-21T14:13:20"],
        ["env", "1m", "1", "2026-09-21T14:13:00", "2026-09-21T14:13:00"],
        ["env", "1h", "1", "2026-09-21T14:00:00", "2026-09-21T14:00:00"],
        ["env", "event", "1", "2026-09-21T14:13:20", "2026-09-21T14:13:20"],
    ]
    # the oldest column starts where the header's does, on every row
    assert [(line.index(" 2026") + 1) for line in table[1:]] == [table[0].index("oldest")] * 4


def test_export_help_names_the_options_as_the_docs_do() -> None:
    """`history export --help` shows --from FROM and --to TO (docs/history.md), not argparse's internal FROM_."""
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "history", "export", "--help"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert (
        done.returncode,
        "--from FROM " in done.stdout,
        "FROM_" in done.stdout,
        "--to TO " in done.stdout,
    ) == (
        0,
        True,
        False,
        True,
    )


def test_the_info_table_widens_for_long_fleet_names(tmp_path: Path) -> None:
    """A fleet's `<gateway>/<sensor>` names longer than the default column keep every row's columns in line."""
    st = HistoryStore(tmp_path / "h.db", policies={"greenhouse-north/soil_moisture": "raw", "pi/env": "raw"})
    st._open()
    st.on_batch(
        [(1, 0, T0, "greenhouse-north/soil_moisture", {"v": 1}, 0), (2, 0, T0, "pi/env", {"t": 20}, 0)]
    )
    st.commit(final=True)
    out = io.StringIO()
    assert info(HistoryReader(tmp_path / "h.db"), out) == 0
    table = out.getvalue().splitlines()[1:-1]
    assert [line.index(" 2026") + 1 for line in table[1:]] == [table[0].index("oldest")] * (len(table) - 1)
    assert [line.split()[:2] for line in table[1:]] == [
        ["greenhouse-north/soil_moisture", "raw"],
        ["greenhouse-north/soil_moisture", "1m"],
        ["greenhouse-north/soil_moisture", "1h"],
        ["pi/env", "raw"],
        ["pi/env", "1m"],
        ["pi/env", "1h"],
    ]
