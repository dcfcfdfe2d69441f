"""What `pytest tests/hardware --record FILE` leaves behind replays with `--replay FILE`: the same bus calls
answer the same way (here with an emulated bus standing in for the board's /dev/i2c-1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.capture.recorder import CaptureWriter, RecordingTap
from gateway.capture.replayer import Capture, ReplayTap
from sensors.hardware import RealHardware
from sensors.i2c.bme280 import build as build_bme280
from sensors.scan import scan
from sensors.sim.emulators import context_with_emulators, simulated_bus
from sensors.spec import DeviceSpec


def session(tap: object, board: object) -> tuple[object, list[dict[str, object]]]:
    """What tests/hardware does: scan the bus, then read a BME280 three times."""

    class Board(RealHardware):
        def i2c_bus(self, bus: int) -> Any:
            return board

    ctx = context_with_emulators(tap=tap, hardware=Board())
    smbus = ctx.i2c_bus(1, simulate=False)
    found = scan(smbus, 1)
    spec = DeviceSpec("hw-bme280", "bme280", "sensors[0]", 1.0, False, {"bus": 1, "address": 0x76})
    sensor = build_bme280(spec, ctx)
    sensor.open()
    readings = [dict(sensor.read()) for _ in range(3)]
    sensor.close()
    return [i.address for i in found.identified], readings


def test_a_recorded_hardware_session_replays_identically(tmp_path: Path) -> None:
    """Scan results and readings from the capture equal the recorded ones, with no bus behind the replay."""
    path = tmp_path / "hw.scap"
    writer = CaptureWriter(str(path), {"sensorcast": "test", "board": "emulated", "config": {"tests": True}})
    recorded = session(RecordingTap(writer), simulated_bus(1))
    writer.close()
    replayed = session(ReplayTap(Capture.load(str(path)), None), None)
    assert replayed == recorded
    assert 0x76 in recorded[0] and len(recorded[1]) == 3
