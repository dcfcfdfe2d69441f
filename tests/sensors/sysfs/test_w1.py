"""DS18B20 over w1_therm: CRC, the kernel's text, discovery and per-probe failures, on a fake sysfs tree."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from sensors.errors import ChecksumError, ConfigError, ImplausibleReading, SensorError
from sensors.sim.emulators import context_with_emulators
from sensors.sim.sysfs import FakeSysfs, w1_slave_text
from sensors.spec import DeviceSpec
from sensors.sysfs.w1 import Ds18b20Bus, build, crc8_maxim, parse_w1_slave

KERNEL_SAMPLE = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
"""Verbatim w1_slave output from a Raspberry Pi (w1_therm documentation and countless forum posts)."""


def test_crc8_matches_maxim_application_note_27_and_a_real_scratchpad() -> None:
    """AN27's ROM example 02 1C B8 01 00 00 00 has CRC A2; a real scratchpad's CRC byte matches too."""
    assert crc8_maxim(bytes.fromhex("021cb801000000")) == 0xA2
    assert crc8_maxim(bytes.fromhex("72014b467fff0e10")) == 0x57


def test_parse_kernel_sample_and_negative_temperatures() -> None:
    """The kernel's two lines give milli-°C; negative (two's complement) values round-trip too."""
    assert parse_w1_slave(KERNEL_SAMPLE) == 23125
    assert parse_w1_slave(w1_slave_text(-10.125)) == -10125
    assert parse_w1_slave(w1_slave_text(-55.0)) == -55000
    assert parse_w1_slave(w1_slave_text(125.0)) == 125000


def test_parse_rejects_crc_failures_shorted_bus_and_power_on_value() -> None:
    """NO verdict, a CRC the kernel got wrong, all-zero scratchpad and the 85 °C reset value are refused."""
    with pytest.raises(ChecksumError, match="verdict NO"):
        parse_w1_slave(w1_slave_text(20.0, crc_ok=False))
    with pytest.raises(ChecksumError, match="CRC mismatch"):
        parse_w1_slave(KERNEL_SAMPLE.replace("10 57 : crc=57", "10 58 : crc=58"))
    with pytest.raises(ChecksumError, match="all-zero"):
        parse_w1_slave("00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n")
    with pytest.raises(ImplausibleReading, match="85"):
        parse_w1_slave(w1_slave_text(85.0))
    with pytest.raises(ValueError, match="not a w1_slave text"):
        parse_w1_slave("garbage")


@pytest.fixture
def tree(tmp_path: Path) -> FakeSysfs:
    t = FakeSysfs(str(tmp_path))
    t.set_ds18b20("28-0316a2799f3c", 21.5)
    t.set_ds18b20("28-00000a1b2c3d", 4.25)
    t.write("sys/bus/w1/devices/00-400000000000/name", "unknown\n")  # a non-thermometer on the bus
    return t


def make(tree: FakeSysfs, **options: object) -> Ds18b20Bus:
    ctx = context_with_emulators(sysfs_root=tree.sysfs_root)
    return build(DeviceSpec("probe", "ds18b20", "sensors[3]", 5.0, False, dict(options)), ctx)


def test_discovers_every_probe_and_reads_them_with_one_bulk_conversion(tree: FakeSysfs) -> None:
    """Two probes found in ROM order become fields; the bulk trigger is written before reading."""
    bus = make(tree)
    assert [f.name for f in bus.info.fields] == [
        "temp_28_00000a1b2c3d_c",
        "temp_28_0316a2799f3c_c",
        "probes_ok",
    ]
    bus.open()
    assert bus.read() == {"temp_28_00000a1b2c3d_c": 4.25, "temp_28_0316a2799f3c_c": 21.5, "probes_ok": 2}
    assert Path(tree.path("sys/bus/w1/devices/w1_bus_master1/therm_bulk_read")).read_text() == "trigger\n"


def test_names_option_and_temperature_source(tree: FakeSysfs) -> None:
    """A probe can be given a field name; the `temperature` file can be used instead of w1_slave."""
    bus = make(tree, names={"28-0316A2799F3C": "water_c"}, source="temperature", roms=["28-0316a2799f3c"])
    assert [f.name for f in bus.info.fields] == ["water_c", "probes_ok"]
    assert bus.read() == {"water_c": 21.5, "probes_ok": 1}


def test_one_bad_probe_reports_none_and_all_bad_raises(tree: FakeSysfs) -> None:
    """A CRC failure or a vanished probe gives None for it; when every probe fails the read raises."""
    bus = make(tree)
    tree.set_ds18b20("28-0316a2799f3c", 21.5, crc_ok=False)
    assert bus.read() == {"temp_28_00000a1b2c3d_c": 4.25, "temp_28_0316a2799f3c_c": None, "probes_ok": 1}
    tree.remove("sys/bus/w1/devices/28-00000a1b2c3d")
    with pytest.raises(SensorError, match="none of 2"):
        bus.read()
    assert bus.probe_errors == {"28-00000a1b2c3d": 1, "28-0316a2799f3c": 2}
    with pytest.raises(SensorError, match="no configured 1-Wire probe"):
        tree.remove("sys/bus/w1/devices/28-0316a2799f3c")
        bus.open()


def test_kernel_read_errors_are_per_probe(tree: FakeSysfs) -> None:
    """An EIO from one probe's attribute (bus glitch) only blanks that probe."""
    bus = Ds18b20Bus(
        make(tree).info,
        os.path.join(tree.sysfs_root, "bus/w1/devices"),
        ["28-00000a1b2c3d", "28-0316a2799f3c"],
        {"28-00000a1b2c3d": "a_c", "28-0316a2799f3c": "b_c"},
        reader=tree.read_text,
    )
    tree.inject(tree.path("sys/bus/w1/devices/28-0316a2799f3c/w1_slave"), errno.EIO)
    assert bus.read() == {"a_c": 4.25, "b_c": None, "probes_ok": 1}
    assert bus.read() == {"a_c": 4.25, "b_c": 21.5, "probes_ok": 2}


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({"roms": ["28-xyz"]}, "sensors[3].roms[0]", "probe id like"),
        ({"roms": ["05-0316a2799f3c"]}, "sensors[3].roms[0]", "probe id like"),
        ({"roms": ["28-0316a2799f3c\n"]}, "sensors[3].roms[0]", "probe id like"),
        ({"names": {"28-0316a2799f3c": "x_c\n"}}, "sensors[3].names.28-0316a2799f3c", "field name"),
        ({"names": {"28-111111111111": "x_c"}}, "sensors[3].names.28-111111111111", "not one of the probes"),
        ({"names": {"28-0316a2799f3c": "Bad Name"}}, "sensors[3].names.28-0316a2799f3c", "field name"),
        (
            {"names": {"28-0316a2799f3c": "x_c", "28-00000a1b2c3d": "x_c"}},
            "sensors[3].names",
            "same field name",
        ),
        ({"source": "raw"}, "sensors[3].source", "'w1_slave'"),
    ],
)
def test_config_mistakes_name_the_key(
    tree: FakeSysfs, options: dict[str, object], key: str, message: str
) -> None:
    """Each mistake raises ConfigError with the key path."""
    with pytest.raises(ConfigError, match=message) as info:
        make(tree, **options)
    assert info.value.key == key


def test_no_probe_present_is_a_device_error_that_tells_how_to_fix(tmp_path: Path) -> None:
    """No probes yet and no roms: an OSError (the gateway retries the build) naming overlay and pull-up."""
    with pytest.raises(SensorError, match=r"dtoverlay=w1-gpio.*pull-up"):
        make(FakeSysfs(str(tmp_path)))


def test_simulated_bus_has_the_two_demo_probes() -> None:
    """simulate=true builds on the shared emulated tree with its two probes drifting around their means."""
    ctx = context_with_emulators(simulate=True)
    bus = build(DeviceSpec("probe", "ds18b20", "sensors[0]", 5.0, True, {}), ctx)
    try:
        bus.open()
        values = bus.read()
        assert values["probes_ok"] == 2
        assert abs(float(values["temp_28_00000a1b2c3d_c"]) - 17.5) < 2.0  # type: ignore[arg-type]
        assert bus.info.simulated
    finally:
        ctx.resources["sim:sysfs"].close()
