"""The statistics and argument checks of ``sensorcast bench`` (the measurements themselves are not tests)."""

from __future__ import annotations

import argparse
import sys

import pytest

from gateway.cli import bench as cmd_bench
from gateway.cli.bench_clients import Tally, format_table, percentile, summarise


def tally(seqs: list[int], latency_ms: float, nbytes: int) -> Tally:
    t = Tally()
    for s in seqs:
        t.add(s, 0, int(latency_ms * 1e6))
    t.nbytes.append(nbytes)
    return t


def test_summarise_counts_only_the_window_and_computes_loss() -> None:
    """Readings outside [lo, hi] are ignored; one seq missing at one of two clients: 1 / 20 = 5 % loss."""
    a = tally([1, 2, *range(10, 20), 30], 5.0, 1200)
    b = tally([s for s in range(10, 20) if s != 15], 7.0, 900)
    r = summarise("ws", [a, b], lo=10, hi=19, wall_s=2.0, cpu=12.5, bcpu=None)
    assert (r.mode, r.produced_per_s, r.delivered_per_s, r.gateway_cpu_pct, r.broker_cpu_pct) == (
        "ws",
        5.0,
        9.5,
        12.5,
        None,
    )
    assert r.loss_pct == pytest.approx(5.0)
    assert (r.p50_ms, r.p99_ms) == (5.0, 7.0)  # 10 readings at 5 ms (client a), 9 at 7 ms (client b)
    assert r.bytes_per_reading == pytest.approx(2100 / 22)


def test_percentile_and_empty_window() -> None:
    """Percentiles index a sorted list; an empty window yields NaN latency and 100 % loss."""
    assert [percentile([1.0, 2.0, 3.0, 4.0], q) for q in (0.0, 0.5, 0.99)] == [1.0, 3.0, 4.0]
    r = summarise("mqtt-qos0", [Tally()], lo=5, hi=4, wall_s=1.0, cpu=0.0, bcpu=0.0)
    assert r.loss_pct == 100.0 and r.p50_ms != r.p50_ms


def test_format_table_has_one_row_per_path() -> None:
    """The table lists every path with its figures in fixed columns."""
    rows = [
        summarise(m, [tally(list(range(1, 11)), 2.0, 100)], 1, 10, 1.0, 3.0, b)
        for m, b in (("ws", None), ("mqtt-qos1", 1.5))
    ]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == [
        "path",
        "produced/s",
        "delivered/s",
        "p50",
        "ms",
        "p95",
        "ms",
        "p99",
        "ms",
        "B/reading",
        "gw",
        "CPU",
        "%",
        "broker",
        "CPU",
        "%",
        "loss",
        "%",
    ]
    assert lines[1].split() == ["ws", "10", "10", "2.00", "2.00", "2.00", "10.0", "3.0", "-", "0.00"]
    assert lines[2].split() == ["mqtt-qos1", "10", "10", "2.00", "2.00", "2.00", "10.0", "3.0", "1.5", "0.00"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--modes", "ws,carrier-pigeon"],
        ["--rate", "0"],
        ["--clients", "0"],
        ["--mosquitto", "/nonexistent/mosquitto"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Usage mistakes exit with 2 and a one-line reason, without starting anything."""
    p = argparse.ArgumentParser()
    cmd_bench.add_arguments(p)
    assert cmd_bench.main(p.parse_args(argv)) == 2
    assert capsys.readouterr().err.startswith("sensorcast bench: ")


def test_without_psutil_bench_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a plain install (no psutil), ``sensorcast bench`` exits 2 with one line naming the extra."""
    monkeypatch.setitem(sys.modules, "psutil", None)  # what an interpreter without psutil does on import
    p = argparse.ArgumentParser()
    cmd_bench.add_arguments(p)
    assert cmd_bench.main(p.parse_args([])) == 2
    assert capsys.readouterr().err == "sensorcast bench: needs psutil (pip install 'sensorcast[bench]')\n"
