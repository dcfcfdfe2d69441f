"""``replay --dump``/``--check`` keep the decoded readings in per-sensor temporary files, not in memory
(gateway/capture/spool.py): the dump is byte for byte the in-memory one, at most MAX_HELD_OUTCOMES readings are
held whatever the capture's length, and ``--check`` over its database reports what the in-memory comparison did.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.capture.check import compare_dumps
from gateway.capture.holding import MAX_HELD_OUTCOMES
from gateway.capture.replayer import Capture, ReplayTap
from gateway.capture.session import (
    Outcome,
    drive,
    record_polled,
    replay_config,
    replay_context,
)
from gateway.capture.spool import OutcomeSpool, check_spool, dump_line
from gateway.cli.replay import dump_and_check, dump_lines
from gateway.config import demo_config
from gateway.devices import build_devices
from sensors.sim.emulators import EMULATORS
from tests.conftest import scaled
from tests.gateway.capture.test_roundtrip import config_with_usb_gps, record

ROOT = Path(__file__).resolve().parents[3]

BIG_CALLS = 90_000
"""Transactions in the long capture: ~6 min of the demo's traffic, some 20 k readings, several times
MAX_HELD_OUTCOMES."""


def demo_capture(path: Path, calls: int) -> None:
    """The demo's sensors (GPIO inputs aside) polled back to back until the capture holds ``calls``
    transactions (benchmarks/record.py records its 10- and 60-minute captures the same way)."""
    record_polled(str(path), demo_config(port=0), calls, "test")


@pytest.fixture(scope="module")
def roundtrip_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test_roundtrip.py's capture: the demo plus a USB GPS, with a NACK, a stuck bus, an unplug, a CRC error."""
    tmp = tmp_path_factory.mktemp("roundtrip")
    link = str(tmp / "usb-gps")
    path = tmp / "demo.scap"
    record(path, config_with_usb_gps(link), link, compress=False)
    return path


@pytest.fixture(scope="module")
def long_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "long.scap"
    demo_capture(path, BIG_CALLS)
    return path


def replay_outcomes(path: Path, keep: Any = None) -> dict[str, list[Outcome]]:
    """Replay ``path`` at full speed, every outcome at t_s 0 (drive's default clock), kept in memory unless
    ``keep`` takes them."""
    capture = Capture.load(str(path))
    tap = ReplayTap(capture, None)
    ctx = replay_context(tap, EMULATORS)
    sensors, _ = build_devices(replay_config(capture.header), ctx)
    try:
        driven = drive(sensors, threading.Event(), hit_end=tap.hit_end, abandoned=tap.abandoned, keep=keep)
    finally:
        ctx.close()
        tap.close()
    assert tap.first_mismatch is None
    return driven.outcomes


def in_memory_dump(outcomes: dict[str, list[Outcome]]) -> str:
    """The dump as replay wrote it before the spool: every outcome collected, then by sensor, then read."""
    lines = [o.as_json() for sid in sorted(outcomes) for o in outcomes[sid]]
    return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)


@pytest.mark.parametrize("limit", [MAX_HELD_OUTCOMES, 7])
def test_the_spooled_dump_is_byte_for_byte_the_in_memory_one(
    roundtrip_capture: Path, tmp_path: Path, limit: int
) -> None:
    """On the round-trip capture (faults included), the spooled dump equals the in-memory path's bytes, with the
    default budget and with one far smaller than the capture's readings (batches written many times)."""
    want = in_memory_dump(replay_outcomes(roundtrip_capture))
    ids = sorted(json.loads(line)["sensor"] for line in want.splitlines())
    spool = OutcomeSpool(str(tmp_path), set(ids), limit=limit)
    try:
        replay_outcomes(roundtrip_capture, keep=spool.add)
        spool.finish()
        out = io.StringIO()
        spool.write_to(out)
    finally:
        spool.close()
    assert out.getvalue() == want
    assert spool.count == len(want.splitlines()) > 100
    assert spool.holding.peak <= limit
    assert spool.holding.held == 0


def test_a_long_capture_holds_at_most_max_held_outcomes_readings(long_capture: Path, tmp_path: Path) -> None:
    """replay --dump's own path on a capture with several times MAX_HELD_OUTCOMES readings: never more than
    MAX_HELD_OUTCOMES held in memory, every reading in the dump, by sensor then read number."""
    spool, mismatch = dump_lines(Capture.load(str(long_capture)), None, str(tmp_path))
    try:
        assert mismatch is None
        assert spool.count > 4 * MAX_HELD_OUTCOMES
        assert 0 < spool.holding.peak <= MAX_HELD_OUTCOMES
        keys = [(line["sensor"], line["n"]) for line in map(json.loads, spool.lines())]
    finally:
        spool.close()
    assert len(keys) == spool.count
    per_sensor: dict[str, list[int]] = {}
    for sid, n in keys:
        per_sensor.setdefault(sid, []).append(n)
    assert list(per_sensor) == sorted(per_sensor)  # each sensor's lines together, sensors in order
    assert all(ns == list(range(len(ns))) for ns in per_sensor.values())


def spooled(outcomes: list[Outcome], directory: str, limit: int = 3) -> OutcomeSpool:
    spool = OutcomeSpool(directory, {o.sensor for o in outcomes}, limit=limit)
    for o in outcomes:
        spool.add(o)
    spool.finish()
    return spool


def check_both(outcomes: list[Outcome], expected: list[dict[str, Any]]) -> None:
    """check_spool reports exactly what compare_dumps reports on the same readings held in lists."""
    got = [o.as_json() for sid in sorted({o.sensor for o in outcomes}) for o in outcomes if o.sensor == sid]
    with tempfile.TemporaryDirectory() as tmp:
        spool = spooled(outcomes, tmp)
        try:
            assert check_spool(spool, iter(expected), tmp) == compare_dumps(got, expected)
        finally:
            spool.close()


def reads(sensor: str, count: int, **values: Any) -> list[Outcome]:
    return [Outcome(sensor, n, 0.1 * n, values={"v": float(n), **values}) for n in range(count)]


def test_check_over_the_database_reports_as_the_lists_did() -> None:
    """Equal readings, a changed value, a missing and an extra reading, an error line, a file out of order,
    a duplicated line and a number written as text: the same report as the in-memory comparison."""
    outcomes = [*reads("imu", 12), *reads("env", 4), Outcome("env", 4, 0.5, error="SensorError", errno=121)]
    same = [o.as_json() for o in sorted(outcomes, key=lambda o: (o.sensor, o.index))]
    check_both(outcomes, same)
    changed = [dict(line, values={"v": -1.0}) if line["n"] in (2, 9) else line for line in same]
    check_both(outcomes, changed)
    check_both(outcomes, same[:3] + same[5:] + [{"sensor": "gone", "n": 0, "values": {}}])
    check_both(outcomes, list(reversed(same)) + same[:2] + [dict(same[0], n="0")])
    check_both(outcomes, [dict(same[-1], errno=5)])
    with tempfile.TemporaryDirectory() as tmp:
        spool = spooled(outcomes, tmp)
        try:
            assert check_spool(spool, iter(same), tmp) is None
        finally:
            spool.close()


values = st.dictionaries(
    st.sampled_from(["t", "p", "name"]),
    st.one_of(st.floats(allow_nan=True), st.integers(-(2**40), 2**40), st.booleans(), st.none(), st.text()),
    max_size=3,
)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 6), max_size=3),
    data=st.data(),
)
def test_check_over_the_database_matches_the_lists_on_any_readings(
    counts: dict[str, int], data: st.DataObject
) -> None:
    """For any replayed readings and any --check file made from them (lines dropped, changed, repeated,
    reordered, added), check_spool and compare_dumps give the same report."""
    outcomes = [
        Outcome(sid, n, 0.0, values=data.draw(values)) for sid, count in counts.items() for n in range(count)
    ]
    base = [o.as_json() for o in outcomes]
    expected = data.draw(st.lists(st.sampled_from(base), max_size=12) if base else st.just([]))
    expected = [
        dict(line, values=data.draw(values)) if data.draw(st.booleans()) else line for line in expected
    ]
    expected += data.draw(
        st.lists(st.builds(lambda n: {"sensor": "z", "n": n}, st.integers(0, 3)), max_size=2)
    )
    check_both(outcomes, expected)


def test_a_spool_closed_early_drops_later_readings_quietly(tmp_path: Path) -> None:
    """After close (Ctrl-C while a driver thread still decodes), add writes nothing and raises nothing."""
    spool = OutcomeSpool(str(tmp_path), ["a"], limit=1)
    spool.add(reads("a", 1)[0])
    spool.close()
    spool.add(reads("a", 2)[1])
    assert (spool.count, spool.holding.held) == (2, 0)
    assert (tmp_path / "sensor-0.jsonl").read_text() == dump_line(reads("a", 1)[0])


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_dump_removes_its_temporary_files_and_keeps_the_previous_dump(
    long_capture: Path, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    """Ctrl-C or SIGTERM while the readings are being spooled: the temporary directory (beside the dump) and
    the .partial file are removed, the previous dump is kept, and the exit is 130 / 143 without a traceback."""
    dump = tmp_path / "readings.jsonl"
    dump.write_text("previous\n")
    cmd = [
        sys.executable,
        "-m",
        "gateway",
        "replay",
        str(long_capture),
        "--speed",
        "max",
        "--dump",
        str(dump),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + scaled(60)
        while not list(tmp_path.glob("sensorcast-replay-*/sensor-*.jsonl")):
            assert proc.poll() is None, "the replay ended before its spool was seen"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=scaled(30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["readings.jsonl"]
    assert dump.read_text() == "previous\n"


def full_disk(directory: Path) -> Path:
    """``directory`` whose sensors' spool files are /dev/full (every write fails with ENOSPC)."""
    directory.mkdir(exist_ok=True)
    for i in range(32):
        (directory / f"sensor-{i}.jsonl").symlink_to("/dev/full")
    return directory


def test_a_full_disk_is_kept_as_the_spool_error_and_never_raised_to_the_drivers(tmp_path: Path) -> None:
    """A write that fails (ENOSPC) is kept, on_error is called once, and later adds, finish and close raise
    nothing (the driver threads would take an exception for a sensor fault)."""
    calls: list[int] = []
    spool = OutcomeSpool(
        str(full_disk(tmp_path / "spool")), ["a", "b"], limit=2, on_error=lambda: calls.append(1)
    )
    for o in reads("a", 400):
        spool.add(o)
    spool.finish()
    spool.close()
    assert spool.error is not None and spool.error.errno == errno.ENOSPC
    assert (calls, spool.count, spool.holding.held) == ([1], 400, 0)


def test_a_full_disk_stops_the_replay_and_fails_the_dump_with_one_line(
    long_capture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The spool's first failed write stops every driver thread (the replay does not decode on for nothing),
    and replay --dump says where it could not write, exit 2, leaving neither the dump nor its .partial."""
    spool, mismatch = dump_lines(Capture.load(str(long_capture)), None, str(full_disk(tmp_path / "direct")))
    spool.close()
    assert spool.error is not None and spool.error.errno == errno.ENOSPC
    assert mismatch is None and spool.count < 2 * MAX_HELD_OUTCOMES  # stopped, not decoded to the end

    spool_dir = full_disk(tmp_path / "cli")
    monkeypatch.setattr(tempfile, "TemporaryDirectory", lambda **_kw: contextlib.nullcontext(str(spool_dir)))
    dump = tmp_path / "out" / "readings.jsonl"
    dump.parent.mkdir()
    assert dump_and_check(Capture.load(str(long_capture)), None, str(dump), None) == 2
    err = capsys.readouterr().err
    assert f"sensorcast replay: cannot keep the readings in {spool_dir}: No space left on device" in err
    assert list(dump.parent.iterdir()) == []


def test_spool_files_that_cannot_be_made_name_the_directory(roundtrip_capture: Path, tmp_path: Path) -> None:
    """A directory the spool cannot write in is a ValueError naming it (replay prints it, exit 2), not a
    traceback."""
    missing = tmp_path / "gone"
    with pytest.raises(ValueError, match=f"cannot make the temporary files in {missing}: No such file"):
        dump_lines(Capture.load(str(roundtrip_capture)), None, str(missing))
