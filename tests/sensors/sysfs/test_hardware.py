"""On a Raspberry Pi with the w1-gpio / dht11 overlays loaded (pytest --run-hardware)."""

from __future__ import annotations

import time

import pytest

from sensors.errors import SensorError
from sensors.sim.emulators import context_with_emulators
from sensors.spec import DeviceSpec
from sensors.sysfs.dht import build as build_dht
from sensors.sysfs.w1 import build as build_w1

pytestmark = pytest.mark.hardware


def test_real_onewire_probes_read_plausible_temperatures() -> None:
    """Every probe on the real bus answers with a value in the DS18B20's range."""
    try:
        bus = build_w1(DeviceSpec("probe", "ds18b20", "hw", 5.0, False, {}), context_with_emulators())
    except SensorError as exc:
        pytest.skip(f"no 1-Wire probe on this board: {exc}")
    bus.open()
    values = bus.read()
    assert values["probes_ok"] == len(bus.roms)
    assert all(-55.0 <= float(v) <= 125.0 for k, v in values.items() if k != "probes_ok")  # type: ignore[arg-type]


def test_real_dht_gives_a_reading_within_five_polls() -> None:
    """The kernel's DHT driver yields a value within five polls (transient errors allowed)."""
    try:
        dht = build_dht(DeviceSpec("climate", "dht22", "hw", 3.0, False, {}), context_with_emulators())
    except SensorError as exc:
        pytest.skip(f"no dht11 IIO device on this board: {exc}")
    dht.open()
    for _ in range(5):
        values = dht.read()
        if values:
            assert -40.0 <= float(values["temperature_c"]) <= 80.0  # type: ignore[arg-type]
            return
        time.sleep(2.1)
    raise AssertionError(f"no DHT reading in 5 polls ({dht.transient_errors} transient errors)")
