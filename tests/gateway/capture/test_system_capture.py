"""A `system` sensor capture replays on any machine: its probing of thermal zones, GPU load files and hwmon
devices (listings and existence tests of the file tree) is in the capture with the files it read."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from gateway import __version__
from gateway.capture.recorder import CaptureWriter, RecordingTap
from gateway.capture.replayer import Capture, ReplayTap
from gateway.capture.session import Driven, capture_header, drive, replay_config, replay_context
from gateway.config import parse_config
from gateway.devices import build_devices
from sensors.base import BuildContext
from sensors.sim.emulators import EMULATORS
from sensors.sim.sysfs import FakeSysfs

POLLS = 3
CONFIG = {
    "gateway": {"id": "board"},
    "sensors": [
        {"id": "system", "driver": "system", "interval_s": 1.0, "vcgencmd": "", "interfaces": ["eth0"]}
    ],
}


def board_tree(root: Path) -> FakeSysfs:
    """A board unlike this machine: two thermal zones (SoC and GPU), a GPU load file found by a wildcard
    (``devices/platform/*.ga10b/load``), no get_throttled but the ``rpi_volt`` hwmon alarm (second hwmon)."""
    tree = FakeSysfs(str(root))
    tree.set_thermal_zone(0, "gpu-thermal", 41.5)
    tree.set_thermal_zone(1, "cpu-thermal", 52.25)
    tree.write("sys/devices/platform/17000000.ga10b/load", "420\n")
    tree.write("sys/devices/platform/serial8250/uevent", "DRIVER=serial8250\n")  # a file among the dirs
    tree.write("sys/class/hwmon/hwmon0/name", "cpu_thermal\n")
    tree.write("sys/class/hwmon/hwmon1/name", "rpi_volt\n")
    tree.write("sys/class/hwmon/hwmon1/in0_lcrit_alarm", "1\n")
    tree.set_proc(
        uptime_s=1234.5,
        load=(0.5, 0.25, 0.75),
        mem_total_kb=1000,
        mem_available_kb=750,
        cpu_jiffies=(100, 0, 0, 300),
        net={"lo": (5, 5), "eth0": (1000, 2000)},
        model="Test Board Rev 1.0",
    )
    return tree


def record(path: Path, tree: FakeSysfs) -> tuple[Driven, tuple[str, ...], str]:
    cfg = parse_config(CONFIG, file="(test)")
    writer = CaptureWriter(str(path), capture_header(cfg, __version__, "test board", list(cfg.sensors)))
    ctx = BuildContext(sysfs_root=tree.sysfs_root, procfs_root=tree.procfs_root, tap=RecordingTap(writer))
    (sensor,), failed = build_devices(cfg, ctx)
    assert not failed
    count = [0]
    stop = threading.Event()

    def pause(_sensor: object) -> None:
        count[0] += 1
        if count[0] >= POLLS:
            stop.set()

    try:
        return (
            drive([sensor], stop, pause=pause),
            tuple(f.name for f in sensor.info.fields),
            sensor.info.model,
        )
    finally:
        ctx.close()
        writer.close()


def test_a_system_capture_replays_after_the_board_tree_is_gone(tmp_path: Path) -> None:
    """The fields found by probing the board (CPU and GPU zones, GPU load, the under-voltage alarm) and every
    reading come back from the capture alone, with the tree deleted and this machine's /sys unlike it."""
    tree = board_tree(tmp_path / "board")
    path = tmp_path / "system.scap"
    recorded, fields, model = record(path, tree)
    tree.close()
    shutil.rmtree(tmp_path / "board")

    capture = Capture.load(str(path))
    assert {"file:/sys/class/thermal", "file:/sys/devices/platform", "file:/sys/class/hwmon"} <= (
        capture.keys
    )
    tap = ReplayTap(capture, None)
    ctx = replay_context(tap, EMULATORS)
    (sensor,), failed = build_devices(replay_config(capture.header), ctx)
    assert not failed
    try:
        replayed = drive([sensor], threading.Event(), hit_end=tap.hit_end)
    finally:
        ctx.close()
    assert tap.first_mismatch is None
    assert tuple(f.name for f in sensor.info.fields) == fields
    assert sensor.info.model == model == "Test Board Rev 1.0"
    assert {"cpu_temp_c", "gpu_temp_c", "gpu_load_pct", "undervoltage_now"} <= set(fields)
    want = [(o.values, o.error) for o in recorded.outcomes["system"]]
    assert len(want) == POLLS
    assert [(o.values, o.error) for o in replayed.outcomes["system"]] == want
    first = want[0][0]
    assert first is not None
    assert (first["cpu_temp_c"], first["gpu_temp_c"], first["gpu_load_pct"], first["undervoltage_now"]) == (
        52.25,
        41.5,
        42.0,
        True,
    )
