"""The GPIO example configs under deploy/examples/ load and build (on the injected MockFactory / fake Jetson)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.devices import build_devices
from sensors.sim.emulators import context_with_emulators
from sensors.sim.gpio import SimFactory
from tests.sensors.gpio.fake_jetson import FakeJetsonGPIO

EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples"


@pytest.mark.parametrize("name", ["gpio-inputs.toml", "gpio-outputs.toml", "gpio-jetson.toml"])
def test_example_config_builds_every_device(name: str) -> None:
    """Each example passes config validation and every driver accepts its options."""
    config = load_config(EXAMPLES / name)
    ctx = context_with_emulators()
    ctx.resources["gpio-factory"] = SimFactory()
    ctx.resources["jetson-gpio"] = FakeJetsonGPIO()
    sensors, actuators = build_devices(config, ctx)
    assert [s.info.id for s in sensors] == [s.id for s in config.sensors]
    assert [a.info.id for a in actuators] == [a.id for a in config.actuators]
    assert all(type(s).__name__ != "DeferredSensor" for s in sensors)
    ctx.close()
