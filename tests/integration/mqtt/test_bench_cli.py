"""`sensorcast bench` runs end to end (a smoke test of the command, not a measurement)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


def test_bench_starts_its_broker_prints_one_table_and_writes_json(tmp_path: Path) -> None:
    """A short run over all three paths exits 0, shows progress, prints a row per path and writes the same
    rows as JSON and a PNG plot."""
    out = tmp_path / "bench.json"
    png = tmp_path / "bench.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "bench",
            "--rate",
            "100",
            "--clients",
            "2",
            "--duration",
            "1",
            "--warmup",
            "0.5",
            "--json",
            str(out),
            "--png",
            str(png),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split()[0] for line in proc.stdout.splitlines()]
    assert rows == ["path", "ws", "mqtt-qos1", "mqtt-qos0"]
    assert "Mosquitto (pid" in proc.stderr and "gateway produces" in proc.stderr
    doc = json.loads(out.read_text())
    assert [r["mode"] for r in doc["results"]] == ["ws", "mqtt-qos1", "mqtt-qos0"]
    for r in doc["results"]:
        assert r["delivered_per_s"] > 0 and r["bytes_per_reading"] > 0 and r["latency_sample_ms"]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000  # a real plot, not an empty image
