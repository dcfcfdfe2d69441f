"""Record the demo's buses (emulators standing in for hardware, faults injected), replay the capture through
the same drivers, and get the same readings bit for bit."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.capture.recorder import CaptureWriter, RecordingTap
from gateway.capture.replayer import Capture, ReplayTap
from gateway.capture.session import (
    Driven,
    capture_header,
    drive,
    is_push,
    recording_config,
    replay_config,
    replay_context,
    select,
)
from gateway.capture.window import MAX_AHEAD_CALLS
from gateway.config import Config, demo_config, parse_config
from gateway.devices import build_context, build_devices
from sensors.sim.emulators import EMULATORS
from sensors.sim.nmea import NmeaEmulator
from sensors.sim.serial import Noise, PtyLink, SerialEmulator
from sensors.sim.sysfs import DEMO_PROBES
from tests.conftest import scaled

RECORD_S = 6.0
"""Recording length: long enough for every demo sensor (the slowest polls every 3-5 s) to read at least once
before and after each fault; the 60 s of the issue is `benchmarks/record.py`'s run (same code path)."""

PAUSE_CAP_S = 0.25
"""Longest pause between two reads of one sensor here (the demo's own intervals reach 5 s)."""


def gps_device(link: str) -> SerialEmulator:
    return SerialEmulator(PtyLink(link), NmeaEmulator(), 0.2, Noise(0.0, seed=3)).start()


def config_with_usb_gps(link: str) -> Config:
    """The demo's sensors (GPIO left out) plus a GPS on a 'real' serial port: a pty behind a stable name."""
    demo = demo_config(port=0)
    tables: list[dict[str, Any]] = []
    for s in select(demo, None)[0]:
        if is_push(s):
            continue  # GPIO inputs replay by timing: test_gpio.py
        tables.append(
            {"id": s.id, "driver": s.driver, "interval_s": s.interval_s, "simulate": True, **s.options}
        )
    tables.append({"id": "usb_gps", "driver": "nmea_gps", "interval_s": 0, "url": link, "stale_after_s": 1.0})
    return parse_config({"gateway": {"id": "t", "port": 0}, "sensors": tables}, file="(test)")


def record(path: Path, cfg: Config, link: str, compress: bool) -> tuple[Driven, dict[str, int]]:
    """Drive ``cfg``'s sensors on recorded buses for RECORD_S, injecting every fault kind once."""
    writer = CaptureWriter(
        str(path), capture_header(cfg, __version__, "test", list(cfg.sensors)), compress=compress
    )
    ctx = build_context(tap=RecordingTap(writer))
    sensors, _ = build_devices(recording_config(cfg, list(cfg.sensors)), ctx)
    stop = threading.Event()
    device = [gps_device(link)]
    injected: dict[str, int] = {}

    def faults() -> None:
        bus = ctx.resources["sim-i2c-1"]
        tree = ctx.resources["sim:sysfs"]
        stop.wait(1.0)
        bus.inject("nack", 0x76, count=6)  # two failed polls of the BME280 (3 attempts each)
        injected["nack"] = 1
        stop.wait(0.8)
        bus.stick()  # SDA held low: every call on bus 1 waits
        stop.wait(0.4)
        bus.release()
        injected["stuck"] = 1
        stop.wait(0.5)
        device[0].close()  # the USB GPS is pulled ...
        stop.wait(1.2)
        device.append(gps_device(link))  # ... and plugged back (same stable name, another tty)
        injected["unplug"] = 1
        rom = next(iter(DEMO_PROBES))
        deadline = time.monotonic() + 0.8
        while time.monotonic() < deadline:  # the tree's updater rewrites the file every second
            tree.set_ds18b20(rom, 19.0, crc_ok=False)
            stop.wait(0.05)
        injected["crc"] = 1

    def pause(sensor: Any) -> None:
        stop.wait(min(PAUSE_CAP_S, sensor.info.interval_s))

    timer = threading.Timer(scaled(RECORD_S), stop.set)
    injector = threading.Thread(target=faults)
    timer.start()
    injector.start()
    try:
        driven = drive(sensors, stop, pause=pause)
    finally:
        injector.join()
        timer.cancel()
        ctx.close()
        writer.close()
        for d in device:
            d.close()
    return driven, injected


SMALL_WINDOW = 16
"""Transactions read ahead in the small-window replay: far fewer than the capture's thousands, so every driver
thread waits on the others (and streams get evicted) many times."""


def replay(path: Path, window: int = MAX_AHEAD_CALLS) -> tuple[Driven, ReplayTap]:
    capture = Capture.load(str(path))
    tap = ReplayTap(capture, None, max_ahead_calls=window)
    ctx = replay_context(tap, EMULATORS)
    sensors, _ = build_devices(replay_config(capture.header), ctx)
    try:
        return drive(sensors, threading.Event(), hit_end=tap.hit_end), tap
    finally:
        ctx.close()


def sequences(driven: Driven) -> dict[str, list[tuple[Any, ...]]]:
    return {
        sid: [(o.values, o.error, o.errno) for o in outs] for sid, outs in sorted(driven.outcomes.items())
    }


def check_roundtrip(tmp_path: Path, compress: bool) -> None:
    link = str(tmp_path / "usb-gps")
    cfg = config_with_usb_gps(link)
    path = tmp_path / "demo.scap"
    recorded, injected = record(path, cfg, link, compress)
    assert injected == {"nack": 1, "stuck": 1, "unplug": 1, "crc": 1}
    seq = sequences(recorded)
    # the faults are in what was recorded ...
    assert any(e == "SensorError" for _, e, _ in seq["env"]), "the NACKs failed no BME280 read"
    assert any(e == "SensorError" for _, e, _ in seq["usb_gps"]), "the unplug failed no GPS read"
    probe = [v for v, _, _ in seq["probe"] if v is not None]
    assert any(None in v.values() for v in probe), "no probe reading lost to a CRC error"
    # ... and the replay gives the same sequence per sensor, bit for bit, faults included.
    replayed, tap = replay(path)
    assert tap.first_mismatch is None
    assert sequences(replayed) == seq
    assert sum(len(v) for v in seq.values()) > 100
    # A read-ahead window far smaller than the capture changes the memory a replay holds, not what it replays.
    small, tap = replay(path, SMALL_WINDOW)
    assert tap.first_mismatch is None
    assert sequences(small) == seq
    assert 0 < tap.feed.demux.peak_calls <= SMALL_WINDOW
    assert tap.served > 50 * SMALL_WINDOW


def test_replay_gives_the_recorded_readings_and_faults_bit_for_bit(tmp_path: Path) -> None:
    """Every sensor's replayed reading sequence equals the recorded one (values, errors, order), with a NACK,
    a stuck bus, a serial unplug/replug and a DS18B20 CRC error recorded."""
    check_roundtrip(tmp_path, compress=False)


def test_a_compressed_capture_replays_the_same(tmp_path: Path) -> None:
    """--compress changes the bytes on disk, not what replays."""
    check_roundtrip(tmp_path, compress=True)
