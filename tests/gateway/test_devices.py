"""gateway.devices: the hardware's composition root: a context that hands out the emulators, a stand-in for
hardware that is missing at start, and the dry build that reports every driver option mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import parse_config
from gateway.devices import DeferredSensor, build_context, build_devices, driver_errors
from sensors.errors import SensorError
from sensors.sim.emulators import EMULATORS


def test_the_gateways_context_hands_out_the_emulators() -> None:
    """build_context wires sensors.sim's emulators in, and passes its other arguments on."""
    ctx = build_context(simulate=True, data_dir="/var/lib/x")
    assert (ctx.emulated() is EMULATORS, ctx.simulate, ctx.data_dir) == (True, True, "/var/lib/x")


def test_absent_hardware_gets_a_stand_in_that_builds_the_driver_once_it_appears(tmp_path: Path) -> None:
    """A DS18B20 bus with no probe yet: a DeferredSensor, whose open() fails until the probe's files exist, then
    builds the real driver and takes its catalogue entry."""
    cfg = parse_config({"sensors": [{"id": "temps", "driver": "ds18b20", "interval_s": 1.0}]}, file="(test)")
    ctx = build_context(sysfs_root=str(tmp_path))
    sensors, actuators = build_devices(cfg, ctx)
    assert actuators == [] and [type(s) for s in sensors] == [DeferredSensor]
    stand_in = sensors[0]
    assert (stand_in.info.fields, stand_in.bus_id) == ((), "deferred:temps")
    with pytest.raises(SensorError):
        stand_in.open()
    with pytest.raises(OSError, match="device not available"):
        stand_in.read()
    probe = tmp_path / "bus" / "w1" / "devices" / "28-0316a2799f3c"
    probe.mkdir(parents=True)
    stand_in.open()
    assert [f.name for f in stand_in.info.fields] == ["temp_28_0316a2799f3c_c", "probes_ok"]
    assert stand_in.bus_id != "deferred:temps"
    stand_in.close()


def test_a_dry_build_reports_every_driver_option_mistake_at_once() -> None:
    """driver_errors builds every device on emulators and returns each option a driver rejects, by key."""
    cfg = parse_config(
        {
            "sensors": [
                {"id": "env", "driver": "bme280", "address": 0x10},
                {"id": "wave", "driver": "synthetic"},
            ],
            "actuators": [{"id": "relay1", "driver": "relay", "pin": 26, "colour": "red"}],
        },
        file="(test)",
    )
    assert [e.key for e in driver_errors(cfg)] == ["sensors[0].address", "actuators[0].colour"]
    ok = parse_config({"sensors": [{"id": "wave", "driver": "synthetic"}]}, file="(test)")
    assert driver_errors(ok) == []
