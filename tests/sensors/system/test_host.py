"""The system sensor on fake Pi and Jetson trees and on the real host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sensors.errors import ConfigError, SensorError
from sensors.sim.emulators import context_with_emulators
from sensors.sim.sysfs import FakeSysfs
from sensors.spec import DeviceSpec
from sensors.system import DEMO
from sensors.system.host import SystemSensor, build

COMMON = [
    "cpu_pct",
    "load_1m",
    "load_5m",
    "load_15m",
    "mem_used_pct",
    "mem_available_bytes",
    "disk_used_pct",
    "disk_free_bytes",
    "net_rx_bytes",
    "net_tx_bytes",
    "net_rx_bps",
    "net_tx_bps",
    "uptime_s",
]
THROTTLE = [
    "undervoltage_now",
    "freq_capped_now",
    "throttled_now",
    "soft_temp_limit_now",
    "undervoltage_occurred",
    "freq_capped_occurred",
    "throttled_occurred",
    "soft_temp_limit_occurred",
    "throttled_raw",
]


def proc(tree: FakeSysfs, *, t: float = 0.0, model: str | None = None) -> None:
    tree.set_proc(
        uptime_s=1000.0 + t,
        load=(0.5, 0.25, 0.75),
        mem_total_kb=1000,
        mem_available_kb=750,
        cpu_jiffies=(100 + int(30 * t), 0, 0, 300 + int(90 * t)),
        net={"lo": (5, 5), "eth0": (1000 + int(500 * t), 2000 + int(100 * t))},
        model=model,
    )


def make(tree: FakeSysfs, clock: list[float] | None = None, **options: object) -> SystemSensor:
    options.setdefault("vcgencmd", "")
    ctx = context_with_emulators(sysfs_root=tree.sysfs_root, procfs_root=tree.procfs_root)
    sensor = build(DeviceSpec("system", "system", "sensors[0]", 2.0, False, dict(options)), ctx)
    if clock is not None:
        sensor._clock = lambda: clock[0]
    return sensor


def test_pi_layout_gives_cpu_temperature_and_throttle_flags(tmp_path: Path) -> None:
    """A Pi tree: cpu-thermal zone and get_throttled appear as fields; values read exactly."""
    tree = FakeSysfs(str(tmp_path))
    tree.set_thermal_zone(0, "cpu-thermal", 51.234)
    tree.write("sys/devices/platform/soc/soc:firmware/get_throttled", "50005\n")
    proc(tree, model="Raspberry Pi 4 Model B Rev 1.4")
    sensor = make(tree, disk_path=str(tmp_path))
    assert [f.name for f in sensor.info.fields] == ["cpu_temp_c", *COMMON, *THROTTLE]
    assert sensor.info.model == "Raspberry Pi 4 Model B Rev 1.4"
    values = dict(sensor.read())
    disk_free = values.pop("disk_free_bytes")
    st = os.statvfs(tmp_path)
    assert abs(int(disk_free) - st.f_bavail * st.f_frsize) < 64 * 1024 * 1024  # type: ignore[arg-type]
    assert 0.0 <= float(values.pop("disk_used_pct")) <= 100.0  # type: ignore[arg-type]
    assert values == {
        "cpu_temp_c": 51.23,
        "load_1m": 0.5,
        "load_5m": 0.25,
        "load_15m": 0.75,
        "mem_used_pct": 25.0,
        "mem_available_bytes": 750 * 1024,
        "net_rx_bytes": 1000,
        "net_tx_bytes": 2000,
        "uptime_s": 1000.0,
        "undervoltage_now": True,
        "freq_capped_now": False,
        "throttled_now": True,
        "soft_temp_limit_now": False,
        "undervoltage_occurred": True,
        "freq_capped_occurred": False,
        "throttled_occurred": True,
        "soft_temp_limit_occurred": False,
        "throttled_raw": 0x50005,
    }


def test_rates_come_from_the_second_reading(tmp_path: Path) -> None:
    """cpu_pct and network rates appear from the second reading, from counter deltas over time."""
    tree = FakeSysfs(str(tmp_path))
    proc(tree)
    clock = [10.0]
    sensor = make(tree, clock, disk_path="")
    first = sensor.read()
    assert "cpu_pct" not in first and "net_rx_bps" not in first
    proc(tree, t=2.0)
    clock[0] = 12.0
    second = sensor.read()
    assert (second["cpu_pct"], second["net_rx_bps"], second["net_tx_bps"]) == (25.0, 500.0, 100.0)
    proc(tree)  # counters went backwards (interface re-created): no rate, no negative number
    clock[0] = 14.0
    assert "net_rx_bps" not in sensor.read()


def test_jetson_layout_gives_cpu_gpu_temperatures_and_gpu_load(tmp_path: Path) -> None:
    """Jetson zone names (CPU-therm, GPU-therm) and gpu.0/load (per mille) are recognised."""
    tree = FakeSysfs(str(tmp_path))
    for i, (kind, temp) in enumerate((("AO-therm", 38.0), ("CPU-therm", 41.5), ("GPU-therm", 39.0))):
        tree.set_thermal_zone(i, kind, temp)
    tree.write("sys/devices/gpu.0/load", "123\n")
    proc(tree)
    sensor = make(tree, disk_path="")
    names = [f.name for f in sensor.info.fields]
    assert names[:3] == ["cpu_temp_c", "gpu_temp_c", "gpu_load_pct"]
    assert "undervoltage_now" not in names
    values = sensor.read()
    assert (values["cpu_temp_c"], values["gpu_temp_c"], values["gpu_load_pct"]) == (41.5, 39.0, 12.3)


def test_orin_gpu_load_through_devfreq(tmp_path: Path) -> None:
    """JetPack 6 on Orin: cpu-thermal/gpu-thermal zones and the GPU load under class/devfreq."""
    tree = FakeSysfs(str(tmp_path))
    tree.set_thermal_zone(0, "cpu-thermal", 45.0)
    tree.set_thermal_zone(1, "gpu-thermal", 44.0)
    tree.write("sys/class/devfreq/17000000.gpu/device/load", "990\n")
    proc(tree)
    values = make(tree, disk_path="").read()
    assert (values["cpu_temp_c"], values["gpu_temp_c"], values["gpu_load_pct"]) == (45.0, 44.0, 99.0)


def test_host_without_thermal_zone_omits_the_field(tmp_path: Path) -> None:
    """No thermal zone (a VM or container): no cpu_temp_c in the catalogue, and reads still work."""
    tree = FakeSysfs(str(tmp_path))
    proc(tree)
    sensor = make(tree, disk_path="")
    assert [f.name for f in sensor.info.fields] == [n for n in COMMON if not n.startswith("disk_")]
    assert sensor.read()["uptime_s"] == 1000.0


def test_single_unknown_zone_is_taken_as_the_cpu(tmp_path: Path) -> None:
    """An SoC with one zone of an unknown type reports it as cpu_temp_c."""
    tree = FakeSysfs(str(tmp_path))
    tree.set_thermal_zone(0, "some-soc-thermal", 40.0)
    proc(tree)
    assert make(tree, disk_path="").read()["cpu_temp_c"] == 40.0


def test_vcgencmd_fallback_runs_the_executable(tmp_path: Path) -> None:
    """Without the sysfs attribute, the configured vcgencmd is run and its 'throttled=0x…' parsed."""
    tree = FakeSysfs(str(tmp_path / "tree"))
    proc(tree)
    script = tmp_path / "vcgencmd"
    script.write_text('#!/bin/sh\n[ "$1" = get_throttled ] && echo "throttled=0x20002"\n')
    script.chmod(0o755)
    sensor = make(tree, vcgencmd=str(script), disk_path="")
    values = sensor.read()
    assert (values["throttled_raw"], values["freq_capped_now"], values["freq_capped_occurred"]) == (
        0x20002,
        True,
        True,
    )
    assert values["undervoltage_now"] is False


def test_hwmon_undervoltage_alarm_is_the_last_resort(tmp_path: Path) -> None:
    """Without get_throttled or vcgencmd, the rpi_volt hwmon alarm still gives undervoltage_now."""
    tree = FakeSysfs(str(tmp_path))
    proc(tree)
    tree.write("sys/class/hwmon/hwmon0/name", "cpu_thermal\n")
    tree.write("sys/class/hwmon/hwmon1/name", "rpi_volt\n")
    tree.write("sys/class/hwmon/hwmon1/in0_lcrit_alarm", "1\n")
    sensor = make(tree, disk_path="")
    assert [f.name for f in sensor.info.fields][-1] == "undervoltage_now"
    assert sensor.read()["undervoltage_now"] is True
    tree.write("sys/class/hwmon/hwmon1/in0_lcrit_alarm", "0\n")
    assert sensor.read()["undervoltage_now"] is False


def test_a_failing_source_is_left_out_and_all_failing_raises(tmp_path: Path) -> None:
    """A missing /proc/net/dev drops the network fields only; an empty tree fails the read."""
    tree = FakeSysfs(str(tmp_path / "t"))
    proc(tree)
    sensor = make(tree, disk_path="")
    tree.remove("proc/net/dev")
    values = sensor.read()
    assert "net_rx_bytes" not in values and values["load_1m"] == 0.5
    assert sensor.source_errors == 1
    empty = FakeSysfs(str(tmp_path / "empty"))
    with pytest.raises(SensorError, match="no system source readable"):
        make(empty, disk_path="").read()


def test_config_errors(tmp_path: Path) -> None:
    """disk_path must exist; interfaces must be names; sim_board is one of host/pi/jetson."""
    tree = FakeSysfs(str(tmp_path))
    for options, key in (
        ({"disk_path": str(tmp_path / "nope")}, "disk_path"),
        ({"interfaces": [1]}, "interfaces"),
        ({"sim_board": "x86"}, "sim_board"),
        ({"disk": "/"}, "disk"),
    ):
        with pytest.raises(ConfigError) as info:
            make(tree, **options)
        assert info.value.key == f"sensors[0].{key}"


@pytest.mark.parametrize(("board", "first"), [("pi", "cpu_temp_c"), ("jetson", "cpu_temp_c")])
def test_simulated_boards(board: str, first: str) -> None:
    """sim_board = pi / jetson builds on an emulated tree whose values the sensor reads."""
    ctx = context_with_emulators(simulate=True)
    sensor = build(DeviceSpec("system", "system", "sensors[0]", 2.0, True, {"sim_board": board}), ctx)
    try:
        values = sensor.read()
        assert sensor.info.simulated
        assert values[first] is not None
        assert ("undervoltage_occurred" in values) == (board == "pi")
        assert ("gpu_load_pct" in values) == (board == "jetson")
    finally:
        ctx.resources[f"sim:board:{board}"].close()


def test_demo_entry_reads_the_real_host() -> None:
    """The demo's 'system' reads this machine's /proc: not flagged simulated, uptime and load present."""
    (table,) = DEMO
    sensor = build(
        DeviceSpec(table["id"], table["driver"], "sensors[0]", 2.0, True, {}),
        context_with_emulators(simulate=True),
    )
    assert sensor.info.simulated is False
    values = sensor.read()
    with open("/proc/uptime") as f:
        assert abs(float(values["uptime_s"]) - float(f.read().split()[0])) < 5.0  # type: ignore[arg-type]
    assert {"load_1m", "mem_used_pct", "disk_used_pct", "net_rx_bytes"} <= set(values)
    assert ("cpu_temp_c" in values) == any(
        os.path.exists(f"/sys/class/thermal/thermal_zone{i}/temp") for i in range(16)
    )


def test_find_matches_what_glob_finds_through_the_tree_alone(tmp_path: Path) -> None:
    """find() gives glob.glob's sorted matches (wildcards per name, hidden names only for a dotted pattern,
    files not descended into) using nothing but the tree's list_dir and exists."""
    import glob

    from sensors.buses import FileTree, list_dir
    from sensors.system.host import GPU_LOAD_GLOBS, find

    tree = FakeSysfs(str(tmp_path / "t"))
    for rel in [
        "sys/devices/platform/17000000.ga10b/load",
        "sys/devices/platform/a/57000000.gpu/load",
        "sys/devices/platform/b/58000000.gpu/other",
        "sys/devices/platform/.hidden.gpu/load",
        "sys/devices/platform/uevent",
        "sys/class/devfreq/17000000.gpu/device/load",
        "sys/class/hwmon/hwmon0/name",
        "sys/class/hwmon/hwmon10/name",
        "sys/class/hwmon/.hwmon9/name",
    ]:
        tree.write(rel, "1\n")
    asked: list[str] = []

    def listing(path: str) -> list[str]:
        asked.append(path)
        return list_dir(path)

    files = FileTree(
        tree.sysfs_root, tree.procfs_root, tree.read_text, tree.write_text, lambda _p: (1, 1), listing
    )
    for pattern in [
        *GPU_LOAD_GLOBS,
        "class/hwmon/hwmon*",
        "class/hwmon/.hw*",
        "devices/platform/*",
        "nope/*",
    ]:
        assert find(files, tree.sysfs_root, pattern) == sorted(
            glob.glob(os.path.join(tree.sysfs_root, pattern))
        )
    assert find(files, tree.sysfs_root, "devices/platform/*/*.gpu/load") == [
        os.path.join(tree.sysfs_root, "devices/platform/a/57000000.gpu/load")
    ]
    assert asked, "listings went through the tree"
