"""Building serial sensors from config: option errors, and the demo entries streaming from emulators."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sensors.base import BuildContext
from sensors.errors import ConfigError
from sensors.registry import sensor_factory
from sensors.serial import DEMO
from sensors.sim.emulators import context_with_emulators
from sensors.spec import DeviceSpec
from tests.conftest import scaled


def spec_of(table: dict[str, Any], index: int = 0) -> DeviceSpec:
    generic = ("id", "driver", "interval_s", "simulate")
    options = {k: v for k, v in table.items() if k not in generic}
    return DeviceSpec(
        table["id"],
        table["driver"],
        f"sensors[{index}]",
        float(table.get("interval_s", 1.0)),
        bool(table.get("simulate", False)),
        options,
    )


def build(table: dict[str, Any], ctx: BuildContext | None = None) -> Any:
    factory = sensor_factory(table["driver"])
    assert factory is not None
    return factory(spec_of(table), ctx or context_with_emulators())


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ({"driver": "nmea_gps"}, "sensors[0].url", "required"),
        ({"driver": "nmea_gps", "url": ""}, "sensors[0].url", "port path or URL"),
        ({"driver": "nmea_gps", "url": "/dev/ttyS0", "baud": 9600}, "sensors[0].baud", "unknown option"),
        ({"driver": "pms5003", "url": "/dev/ttyS0", "baudrate": 9}, "sensors[0].baudrate", "50..4000000"),
        (
            {"driver": "pms7003", "url": "/dev/ttyS0", "stale_after_s": 0.1},
            "sensors[0].stale_after_s",
            "at least timeout_s",
        ),
        (
            {"driver": "serial_lines", "url": "x", "format": "xml", "fields": []},
            "sensors[0].format",
            "'jsonl'",
        ),
        (
            {"driver": "serial_lines", "url": "x", "format": "csv", "fields": []},
            "sensors[0].fields",
            "at least one",
        ),
        (
            {"driver": "serial_lines", "url": "x", "format": "csv", "fields": [{"name": "T"}]},
            "sensors[0].fields[0].name",
            "field name",
        ),
        (
            {"driver": "serial_lines", "url": "x", "format": "csv", "fields": [{"name": "t\n"}]},
            "sensors[0].fields[0].name",
            "field name",
        ),
        (
            {"driver": "serial_lines", "url": "x", "format": "csv", "fields": [{"name": "a"}, {"name": "a"}]},
            "sensors[0].fields[1].name",
            "duplicate",
        ),
        (
            {
                "driver": "serial_lines",
                "url": "x",
                "format": "csv",
                "fields": [{"name": "a", "type": "double"}],
            },
            "sensors[0].fields[0].type",
            "float, int, bool, str",
        ),
        (
            {
                "driver": "serial_lines",
                "url": "x",
                "format": "csv",
                "fields": [{"name": "a", "type": "bool", "scale": 2}],
            },
            "sensors[0].fields[0]",
            "apply to numbers",
        ),
        (
            {"driver": "serial_lines", "url": "x", "format": "csv", "fields": [{"name": "a", "units": "V"}]},
            "sensors[0].fields[0].units",
            "unknown key",
        ),
        (
            {
                "driver": "serial_lines",
                "url": "x",
                "format": "csv",
                "fields": [{"name": "a"}],
                "delimiter": ",,",
            },
            "sensors[0].delimiter",
            "one character",
        ),
    ],
)
def test_config_mistakes_name_the_key(table: dict[str, Any], key: str, message: str) -> None:
    """Each mistake raises ConfigError naming the exact key path and what was expected."""
    with pytest.raises(ConfigError, match=message) as info:
        build({"id": "s", **table})
    assert info.value.key == key


def test_hardware_build_uses_the_configured_url_without_opening_it() -> None:
    """Building does not touch the port; bus_id carries the URL; streaming sources have interval 0."""
    sensor = build(
        {"id": "gps", "driver": "nmea_gps", "url": "/dev/serial/by-id/usb-u-blox-if00", "interval_s": 5}
    )
    assert sensor.bus_id == "serial:/dev/serial/by-id/usb-u-blox-if00"
    assert sensor.info.interval_s == 0.0
    assert sensor.info.simulated is False


def test_demo_entries_stream_readings_from_their_emulators() -> None:
    """gps, air and mcu from DEMO build on emulated ptys and each delivers a reading within seconds."""
    ctx = context_with_emulators(simulate=True)
    sensors = [build(t, ctx) for t in DEMO]
    assert [s.info.id for s in sensors] == ["gps", "air", "mcu"]
    got: dict[str, dict[str, Any]] = {}
    try:
        for s in sensors:
            s.open()
        deadline = time.monotonic() + scaled(6.0)
        while len(got) < 3 and time.monotonic() < deadline:
            for s in sensors:
                values = s.read()
                if values and s.info.id not in got:
                    got[s.info.id] = dict(values)
    finally:
        for s in sensors:
            s.close()
        for resource in ctx.resources.values():
            resource.close()
    assert sorted(got) == ["air", "gps", "mcu"]
    assert all(s.info.simulated for s in sensors)
    assert set(got["air"]) == {f.name for f in sensors[1].info.fields}
    assert set(got["mcu"]) == {"soil_moisture_pct", "light_lux", "pump_on", "uptime_s", "line_errors_total"}
    assert got["gps"]["nmea_errors_total"] >= 0
    assert set(got["gps"]) <= {f.name for f in sensors[0].info.fields}
    assert ctx.resources["sim:serial:air"].device.commands[:2] == [(0xE4, 1), (0xE1, 1)]


def test_family_packages_import_no_hardware_library() -> None:
    """Importing the family tables (what the registry does) loads neither pyserial nor pynmea2."""
    import subprocess
    import sys

    code = (
        "import sys, sensors.serial, sensors.sysfs, sensors.system; "
        "print(sorted(m for m in ('serial', 'pynmea2', 'sensors.serial.port') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
