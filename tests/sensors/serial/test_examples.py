"""The example configs under deploy/examples/ that this family owns load and build (no hardware opened)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.devices import build_devices
from sensors.sim.emulators import context_with_emulators
from sensors.sim.sysfs import FakeSysfs

EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples"


@pytest.mark.parametrize("name", ["serial-gps-air.toml", "serial-arduino.toml", "sysfs-onewire-dht.toml"])
def test_example_config_builds_every_sensor(name: str, tmp_path: Path) -> None:
    """Each example passes config validation and every driver accepts its options."""
    tree = FakeSysfs(str(tmp_path))
    tree.set_dht(20.0, 50.0)  # the sysfs example names iio:device0 and lists its probes; the tree has them
    tree.set_ds18b20("28-0316a2799f3c", 20.0)
    config = load_config(EXAMPLES / name)
    sensors, actuators = build_devices(config, context_with_emulators(sysfs_root=tree.sysfs_root))
    assert [s.info.id for s in sensors] == [s.id for s in config.sensors]
    assert actuators == []
    assert all(type(s).__name__ != "DeferredSensor" for s in sensors)
