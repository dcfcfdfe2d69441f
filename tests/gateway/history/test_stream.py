"""The streaming export shared by the CLI and HTTP: one tier for the whole range, whole documents."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.cli.history import export
from gateway.history.export import ExportError, iso_utc, parse_export, parse_fields
from gateway.history.reader import HistoryReader
from gateway.history.stream import plan_history, write_history
from tests.gateway.history.test_store import T0, S, feed, store

DAY = 86400


def _pruned_raw(path: Path) -> HistoryReader:
    """Eight days of one reading every 10 min (30 s into a minute); raw kept for the last two days only, the 1 m
    rollups for all eight."""
    st = store(
        path,
        policies={"env": "raw"},
        retention_s={"raw": 2 * DAY, "1s": 1, "10s": 1, "1m": 10**7, "1h": 10**7},
        clock_ns=lambda: T0 + 8 * DAY * S,
    )
    for day in range(8):
        feed(st, "env", range(day * DAY + 30, (day + 1) * DAY, 600))
        st.commit()
        st.fold()
    assert st.prune() == {"raw": 6}
    return HistoryReader(path)


def test_a_long_period_export_keeps_the_tier_chosen_for_the_whole_range(tmp_path: Path) -> None:
    """A period export spanning more than one page reads every page from the tier chosen for the whole range:
    a later page whose start raw data covers does not switch to raw rows (different buckets mid-file)."""
    reader = _pruned_raw(tmp_path / "h.db")
    args = argparse.Namespace(
        sensor="env", fields="v", from_=str(T0 // S), to=str(T0 // S + 8 * DAY), period="1s", format="csv"
    )
    out = io.StringIO()
    args.events = False
    assert export(reader, args, out) == 0
    table = list(csv.reader(io.StringIO(out.getvalue())))
    assert table[0] == ["time_utc", "ts_ns", "v n", "v min", "v max", "v mean", "v last"]
    # every minute with a reading, as a 1 m bucket (the last minute is still open, so not rolled up yet)
    expected = [T0 + k * 600 * S for k in range(8 * 144 - 1)]
    assert [int(r[1]) for r in table[1:]] == expected
    assert {r[2] for r in table[1:]} == {"1"}


def test_json_is_one_document_with_the_pinned_tier(tmp_path: Path) -> None:
    """JSON keeps the paged document's shape: sensor, tier, bucket_ns, fields, units, rows, next null."""
    reader = _pruned_raw(tmp_path / "h.db")
    plan = plan_history(reader, "env", ["v"], T0, T0 + 8 * DAY * S, period_ns=S)
    assert plan is not None
    out = io.StringIO()
    n = write_history(reader, plan, "json", out)
    doc = json.loads(out.getvalue())
    assert (list(doc), doc["tier"], doc["bucket_ns"], doc["fields"], doc["next"], n) == (
        ["sensor", "tier", "bucket_ns", "fields", "units", "rows", "next"],
        "1m",
        60 * S,
        ["v"],
        None,
        len(doc["rows"]),
    )
    assert [r[0] for r in doc["rows"]] == [T0 + k * 600 * S for k in range(8 * 144 - 1)]


def test_an_unknown_sensor_is_no_plan(tmp_path: Path) -> None:
    """Planning an export of a sensor without history gives None (before any byte is written)."""
    reader = _pruned_raw(tmp_path / "h.db")
    assert plan_history(reader, "nope", [], T0, T0 + S) is None


def test_a_period_export_starting_long_before_the_data_names_every_field(tmp_path: Path) -> None:
    """No --fields and a range whose first page of buckets (MAX_POINTS of them) holds no data: the CSV header and
    the JSON ``fields`` still name the sensor's fields, in the columns the rows are written in."""
    path = tmp_path / "h.db"
    st = store(path, policies={"env": "raw"})
    feed(st, "env", range(3))
    st.commit()
    reader = HistoryReader(path)
    plan = plan_history(reader, "env", [], T0 - 3 * 3600 * S, T0 + 10 * S, period_ns=S)
    assert plan is not None
    csv_out, json_out = io.StringIO(), io.StringIO()
    write_history(reader, plan, "csv", csv_out)
    write_history(reader, plan, "json", json_out)
    doc = json.loads(json_out.getvalue())
    table = list(csv.reader(io.StringIO(csv_out.getvalue())))
    assert table[0] == ["time_utc", "ts_ns"] + [
        f"{f} {s}" for f in ("v", "on") for s in ("n", "min", "max", "mean", "last")
    ]
    assert [r[:7] for r in table[1:]] == [
        [iso_utc(T0 + s * S), str(T0 + s * S), "1", str(s * 10), str(s * 10), str(s * 10.0), str(s * 10)]
        for s in range(3)
    ]
    assert (doc["fields"], doc["units"], [r[0] for r in doc["rows"]]) == (
        ["v", "on"],
        {"v": "", "on": ""},
        [T0, T0 + S, T0 + 2 * S],
    )


def test_parse_fields_strips_spaces_drops_empties_and_repeats() -> None:
    """The --fields / ?fields= list: spaces around names go, empty names and repeats too, order is kept; more
    than 64 names is an error naming the key."""
    assert [
        parse_fields(""),
        parse_fields(" a, b ,,a,c "),
        parse_fields(",".join(f"f{i}" for i in range(64)))[-1],
    ] == [
        (),
        ("a", "b", "c"),
        "f63",
    ]
    with pytest.raises(ExportError) as err:
        parse_fields(",".join(f"f{i}" for i in range(65)), "--fields")
    assert str(err.value) == "--fields: at most 64"


def test_an_unknown_history_parameter_is_refused_naming_it() -> None:
    """`/api/history?sensor=env&form=...` (a typo of from): 400 naming the key, the likely one and the known ones,
    instead of the default last hour; as /api/events does. A long key is echoed cut short."""
    messages = []
    for params in ({"sensor": ["env"], "form": ["2026-12-01"]}, {"sensor": ["env"], "x" * 100: ["1"]}):
        with pytest.raises(ExportError) as err:
            parse_export(params, T0)
        messages.append(str(err.value))
    assert messages == [
        "'form': unknown parameter (did you mean 'format' or 'from'?);"
        " known: sensor, fields, from, to, period, points, format",
        f"'{'x' * 40}...': unknown parameter; known: sensor, fields, from, to, period, points, format",
    ]
    assert parse_export({"sensor": ["env"], "from": ["0"], "to": ["1"]}, T0).to_ns == S


class _CountingReader(HistoryReader):
    """Counts the pages an export reads, and stops one that reads far more than its data needs."""

    pages = 0

    def query(self, *args: Any, **kw: Any) -> Any:
        self.pages += 1
        assert self.pages <= 20, "an export of a few hours of data read more than 20 pages"
        return super().query(*args, **kw)


def test_a_period_export_from_long_before_the_data_skips_the_empty_pages(tmp_path: Path) -> None:
    """--from a year before the data, --period 1s (31.5 M buckets, 3,000 empty pages of 10,000): the export jumps
    to where the data starts and reads a handful of pages, with the same rows as from the data's start."""
    path = tmp_path / "h.db"
    st = store(path, policies={"env": "raw"})
    feed(st, "env", range(0, 12_000, 7))
    st.commit()
    reader = _CountingReader(path)
    plan = plan_history(reader, "env", ["v"], T0 - 365 * DAY * S, T0 + 3 * 3600 * S + S // 2, period_ns=S)
    near = plan_history(HistoryReader(path), "env", ["v"], T0, T0 + 3 * 3600 * S + S // 2, period_ns=S)
    assert plan is not None and near is not None
    far_out, near_out = io.StringIO(), io.StringIO()
    n = write_history(reader, plan, "csv", far_out)
    write_history(HistoryReader(path), near, "csv", near_out)
    assert (n, far_out.getvalue()) == (len(range(0, 3 * 3600 + 1, 7)), near_out.getvalue())  # one a bucket
    assert reader.pages <= 4


def test_a_period_export_from_an_unaligned_time_writes_each_bucket_once(tmp_path: Path) -> None:
    """--from half a second into a second, --period 1s, more than one page (10,000 buckets) of data: every
    bucket is one row (a page boundary does not split the bucket it falls in into two rows with one time)."""
    path = tmp_path / "h.db"
    st = store(path, policies={"env": "raw"})
    feed(st, "env", range(12_000), per_s=2)
    st.commit()
    reader = HistoryReader(path)
    plan = plan_history(reader, "env", ["v"], T0 + S // 2, T0 + 12_000 * S, period_ns=S)
    assert plan is not None
    out = io.StringIO()
    write_history(reader, plan, "csv", out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))[1:]
    assert [int(r[1]) for r in rows] == [T0 + k * S for k in range(12_000)]
    assert [int(r[2]) for r in rows] == [1] + [2] * 11_999
