"""``sensorcast record`` and ``sensorcast replay`` as a user runs them: secrets stay out, dumps check, and
truncated, corrupted, foreign or mismatching captures get a clear message instead of a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.capture.codec import Call, CaptureEncoder, Stream

TOKEN = "tok-3f9a1c7e5b2d4a6f8e0c"
MQTT_PASSWORD = "hunter2-mqtt-pass"
ROOT = Path(__file__).resolve().parents[3]

CONFIG = f"""
[gateway]
id = "bench-pi"
host = "127.0.0.1"

[security]
tokens = [{{ name = "laptop", role = "operator", token = "{TOKEN}" }}]

[mqtt]
url = "mqtt://sensorcast:{MQTT_PASSWORD}@127.0.0.1:1"

[[sensors]]
id = "env"
driver = "bme280"
simulate = true
interval_s = 0.2

[[sensors]]
id = "probe"
driver = "ds18b20"
simulate = true
interval_s = 0.5
"""


def sensorcast(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, env=env, timeout=timeout_s
    )


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("rec")
    (tmp / "sensorcast.toml").write_text(CONFIG)
    out = tmp / "cap.scap"
    done = sensorcast(
        "record",
        "--config",
        str(tmp / "sensorcast.toml"),
        "--out",
        str(out),
        "--duration",
        "3s",
        "--port",
        "0",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Recorded" in done.stdout
    return out


def test_the_capture_holds_no_token_and_no_mqtt_password(capture: Path) -> None:
    """Tokens and MQTT passwords of the config never reach the capture file."""
    data = capture.read_bytes()
    assert data.startswith(b"SCAP\x00\x01\x00")
    assert TOKEN.encode() not in data and MQTT_PASSWORD.encode() not in data
    assert b"bench-pi" in data and b"bme280" in data  # the config is there, minus its secrets


def test_dump_then_check_passes_and_a_changed_value_fails(capture: Path, tmp_path: Path) -> None:
    """--dump writes the readings; --check against it passes; one changed value is named."""
    dump = tmp_path / "readings.jsonl"
    done = sensorcast("replay", str(capture), "--speed", "max", "--dump", str(dump))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    assert {line["sensor"] for line in lines} == {"env", "probe"}
    assert all(set(line) >= {"sensor", "n", "t_s"} for line in lines)
    assert sensorcast("replay", str(capture), "--speed", "max", "--check", str(dump)).returncode == 0
    first = next(i for i, line in enumerate(lines) if line["sensor"] == "env" and "values" in line)
    lines[first]["values"]["temperature_c"] += 0.01
    dump.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = sensorcast("replay", str(capture), "--speed", "max", "--check", str(dump))
    assert done.returncode == 1
    assert f"sensor env reading {lines[first]['n']}" in done.stderr and "Traceback" not in done.stderr


def test_the_dump_is_the_in_memory_one_byte_for_byte_and_leaves_no_temporary_file(
    capture: Path, tmp_path: Path
) -> None:
    """replay --dump's file (readings spooled per sensor, then joined) is byte for byte what collecting every
    reading in memory wrote, the replay's clock (``t_s``) aside; only the dump is left beside it."""
    import threading

    from gateway.capture.replayer import Capture, ReplayTap
    from gateway.capture.session import drive, replay_config, replay_context
    from gateway.devices import build_devices
    from sensors.sim.emulators import EMULATORS

    dump = tmp_path / "readings.jsonl"
    done = sensorcast("replay", str(capture), "--speed", "max", "--dump", str(dump))
    assert done.returncode == 0, done.stderr
    got = dump.read_text(encoding="utf-8").splitlines(keepends=True)
    loaded = Capture.load(str(capture))
    tap = ReplayTap(loaded, None)
    ctx = replay_context(tap, EMULATORS)
    sensors, _ = build_devices(replay_config(loaded.header), ctx)
    try:
        driven = drive(sensors, threading.Event(), hit_end=tap.hit_end, abandoned=tap.abandoned)
    finally:
        ctx.close()
        tap.close()
    outcomes = [o for sid in sorted(driven.outcomes) for o in driven.outcomes[sid]]
    assert len(got) == len(outcomes) > 10
    want = [
        json.dumps(dict(o.as_json(), t_s=json.loads(line)["t_s"]), separators=(",", ":")) + "\n"
        for o, line in zip(outcomes, got, strict=True)
    ]
    assert got == want
    assert f"replay: {len(got)} readings from" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["readings.jsonl"]


def test_a_truncated_capture_replays_to_the_cut_with_a_note(capture: Path, tmp_path: Path) -> None:
    """A capture cut mid-write (power cut) replays what it holds and says it was cut short."""
    data = capture.read_bytes()
    cut = tmp_path / "cut.scap"
    cut.write_bytes(data[: len(data) * 2 // 3 + 3])
    dump = tmp_path / "cut.jsonl"
    done = sensorcast("replay", str(cut), "--speed", "max", "--dump", str(dump))
    assert done.returncode == 0, done.stderr
    assert "was cut short" in done.stderr
    assert dump.read_text().count("\n") > 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"%PDF-1.7 not a capture", "not a sensorcast capture"),
        (b"SCAP\x00\x09\x00", "format version 9"),
        (b"", "too short"),
    ],
)
def test_foreign_or_corrupted_files_exit_2_without_a_traceback(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    """A file that is not a capture gets one line saying why, and exit status 2."""
    path = tmp_path / "x.scap"
    path.write_bytes(content)
    done = sensorcast("replay", str(path), "--dump", str(tmp_path / "d.jsonl"))
    assert done.returncode == 2
    assert expected in done.stderr and "Traceback" not in done.stderr


def test_a_corrupted_byte_in_the_middle_is_a_clear_error(capture: Path, tmp_path: Path) -> None:
    """A flipped byte inside a frame fails its checksum: exit 2, the offset named."""
    data = bytearray(capture.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "flipped.scap"
    path.write_bytes(bytes(data))
    done = sensorcast("replay", str(path), "--dump", str(tmp_path / "d.jsonl"))
    assert done.returncode == 2
    assert "byte " in done.stderr and "Traceback" not in done.stderr


def test_a_transaction_the_capture_lacks_names_the_first_mismatch(tmp_path: Path) -> None:
    """A driver asking for another register than the capture holds stops the replay with that transaction."""
    enc = CaptureEncoder()
    header = {
        "config": {"gateway": {"id": "t"}, "sensors": [{"id": "env", "driver": "bme280", "simulate": True}]}
    }
    data = enc.start(header)
    enc.record(Stream(0, "sim:i2c-1@0x76"))
    enc.record(Call(0, 1000, "read_byte_data", (0x42,), 0x60))
    data += enc.end(2000)
    path = tmp_path / "other.scap"
    path.write_bytes(data)
    done = sensorcast("replay", str(path), "--speed", "max", "--dump", str(tmp_path / "d.jsonl"))
    assert done.returncode == 1
    assert "sim:i2c-1@0x76, transaction 1: the capture has read_byte_data[66]" in done.stderr
    assert "the driver asked for read_byte_data[208]" in done.stderr and "Traceback" not in done.stderr


def test_a_mismatch_while_a_driver_probes_at_build_time_is_named_without_a_traceback(tmp_path: Path) -> None:
    """A driver whose build-time probing differs from the capture's (here the system sensor of an older
    sensorcast, which measured the disk before testing disk_path) gets the first mismatch, exit 1."""
    enc = CaptureEncoder()
    header = {"config": {"gateway": {"id": "t"}, "sensors": [{"id": "system", "driver": "system"}]}}
    data = enc.start(header)
    enc.record(Stream(0, "file:/"))
    enc.record(Call(0, 1000, "disk_usage", (), [100, 50]))
    data += enc.end(2000)
    path = tmp_path / "old.scap"
    path.write_bytes(data)
    done = sensorcast("replay", str(path), "--speed", "max", "--dump", str(tmp_path / "d.jsonl"))
    assert done.returncode == 1, done.stderr
    assert "file:/, transaction 1: the capture has disk_usage[], the driver asked for is_dir[]" in done.stderr
    assert "Traceback" not in done.stderr


def test_replay_serves_like_run_and_exits_0_when_the_capture_ends(capture: Path) -> None:
    """`replay --port 0` serves the recorded sensors over WebSocket (hello, then data) and stops at the end."""
    import asyncio
    import re
    import time

    import msgpack
    from websockets.asyncio.client import connect

    from tests.conftest import scaled

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "replay", str(capture), "--port", "0", "--speed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        port = None
        deadline = time.monotonic() + scaled(20)
        while port is None and time.monotonic() < deadline:
            m = re.match(r"Dashboard: http://127\.0\.0\.1:(\d+)/", proc.stdout.readline())
            port = int(m.group(1)) if m else None
        assert port is not None

        async def first_data() -> list[str]:
            async with connect(f"ws://127.0.0.1:{port}/") as ws:
                hello = msgpack.unpackb(await ws.recv())
                kinds = []
                while not kinds or kinds[-1] != "data":
                    kinds.append(msgpack.unpackb(await asyncio.wait_for(ws.recv(), scaled(10)))["t"])
                return [s["id"] for s in hello["sensors"]]

        ids = asyncio.run(first_data())
        assert sorted(ids) == ["env", "probe"]
        out, err = proc.communicate(timeout=scaled(30))
        assert proc.returncode == 0, err[-2000:]
        assert "the capture ended" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_record_names_an_unknown_sensor_and_a_bad_duration(tmp_path: Path) -> None:
    """--sensors with a name the config lacks, or a duration it cannot read, is a usage error (exit 2)."""
    done = sensorcast("record", "--out", str(tmp_path / "x.scap"), "--sensors", "env,nope", "--port", "0")
    assert done.returncode == 2
    assert "--sensors: no sensor nope in the config" in done.stderr and "Traceback" not in done.stderr
    done = sensorcast("record", "--out", str(tmp_path / "x.scap"), "--duration", "ten minutes")
    assert done.returncode == 2 and "expected a duration like 30s, 10m or 2h" in done.stderr


def test_record_sensors_keeps_only_those_in_the_capture(tmp_path: Path) -> None:
    """`--sensors env` on the demo records the BME280's bus traffic and nothing else."""
    from gateway.capture.replayer import Capture

    out = tmp_path / "env.scap"
    done = sensorcast("record", "--out", str(out), "--sensors", "env", "--duration", "1500ms", "--port", "0")
    assert done.returncode == 0, done.stderr[-2000:]
    capture = Capture.load(str(out))
    assert [s["id"] for s in capture.header["config"]["sensors"]] == ["env"]
    assert capture.keys == {"sim:i2c-1@0x76"} and capture.ending == "complete"
