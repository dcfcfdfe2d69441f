"""``sensorcast history``'s own output: the info table's columns and the export's --help."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

import gateway.cli.history as history_cli
from gateway.cli.dispatch import build_parser
from gateway.cli.history import ExportProgress, info
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


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_export_progress_shows_at_most_every_interval_and_ends_the_line() -> None:
    """Pages at 0, 1, 2.5, 3, 5 s with a 2 s interval: the count at 2.5 s and 5 s, then the total and a newline;
    an export that never reached the interval writes nothing."""
    clock = iter([0.0, 1.0, 2.5, 3.0, 5.0])
    err = io.StringIO()
    progress = ExportProgress(err, lambda: next(clock), interval_s=2.0)
    for rows in (1000, 2000, 3000, 4000):
        progress(rows)
    progress.done(4500)
    quiet_err = io.StringIO()
    quiet = ExportProgress(quiet_err, lambda: 0.0, interval_s=2.0)
    quiet(10)
    quiet.done(10)
    assert (err.getvalue().split("\r"), quiet_err.getvalue()) == (
        [
            "",
            "history export: 2,000 rows",
            "history export: 4,000 rows",
            "history export: 4,500 rows, done\n",
        ],
        "",
    )


def test_an_export_to_a_terminal_reports_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`history export > file` with stderr on a terminal: progress lines on stderr, the rows in the file only."""
    st = HistoryStore(tmp_path / "h.db", policies={"env": "raw"})
    st._open()
    st.on_batch([(i + 1, 0, T0 + i * 10**9, "env", {"t": i}, 0) for i in range(3000)])
    st.commit(final=True)
    monkeypatch.setattr(history_cli, "PROGRESS_INTERVAL_S", 0.0)
    err, out = _Terminal(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    args = build_parser("history").parse_args(
        ["history", "--db", str(tmp_path / "h.db"), "export", "--sensor", "env", "--from", "0"]
    )
    monkeypatch.setattr(sys, "stdout", out)
    assert history_cli.main(args) == 0
    lines = err.getvalue().split("\r")
    assert (lines[0], lines[-1], all(x.startswith("history export: ") for x in lines[1:])) == (
        "",
        "history export: 3,000 rows, done\n",
        True,
    )
    assert len(out.getvalue().splitlines()) == 3001


def test_ctrl_c_while_the_arguments_are_parsed_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SIGINT landing in argparse (between importing the command and running it): exit 130 and the one
    "interrupted" line, no traceback (test_one_ctrl_c_at_any_moment_of_start_up_stops_quietly hit it at 150 ms)."""
    import argparse

    from gateway.cli import dispatch

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", interrupted)
    assert (dispatch.main(["history", "info"]), capsys.readouterr().err) == (130, "sensorcast: interrupted\n")
