"""Every deploy/examples/i2c-*.toml loads, and each sensor in it builds, opens and reads on emulators."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gateway.config import load_config
from sensors.registry import sensor_factory
from sensors.sim.emulators import context_with_emulators

EXAMPLES = sorted((Path(__file__).parents[3] / "deploy" / "examples").glob("i2c-*.toml"))
CHIPS = {"bme280", "sht3x", "bh1750", "ads1115", "ina219", "mpu6050"}


def test_one_example_per_chip() -> None:
    """There is an example config for each I2C chip family."""
    assert {p.stem.removeprefix("i2c-") for p in EXAMPLES} == CHIPS


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_on_emulators(path: Path) -> None:
    """The example's sensors build (options valid), open and return every advertised field."""
    config = load_config(path)
    ctx = context_with_emulators(simulate=True)
    assert config.sensors
    for spec in config.sensors:
        factory = sensor_factory(spec.driver)
        assert factory is not None
        sensor = factory(dataclasses.replace(spec, simulate=True), ctx)
        sensor.open()
        values = sensor.read()
        if values:  # a FIFO sensor may have nothing yet right after open
            assert set(values) == {f.name for f in sensor.info.fields}
        sensor.close()
