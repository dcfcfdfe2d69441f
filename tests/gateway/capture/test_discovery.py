"""A board's 1-Wire and DHT captures replay on another machine with discovery left automatic: the directory
listings and existence tests the drivers made are in the capture."""

from __future__ import annotations

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

ROMS = ["28-0000000000a1", "28-0000000000b2"]
BOARD_CONFIG = {
    "gateway": {"id": "board"},
    # no roms, no device: the drivers discover what the board has
    "sensors": [
        {"id": "probe", "driver": "ds18b20", "interval_s": 1.0},
        {"id": "climate", "driver": "dht22"},
    ],
}


def record_board(path: Path, tree: FakeSysfs, polls: int) -> Driven:
    """Run the drivers on the 'board' (a sysfs tree at a path of its own, read as real files), recorded."""
    cfg = parse_config(BOARD_CONFIG, file="(test)")
    writer = CaptureWriter(str(path), capture_header(cfg, __version__, "test board", list(cfg.sensors)))
    ctx = BuildContext(sysfs_root=tree.sysfs_root, procfs_root=tree.procfs_root, tap=RecordingTap(writer))
    sensors, failed = build_devices(cfg, ctx)
    assert [s.info.id for s in sensors] == ["probe", "climate"] and not failed
    count: dict[str, int] = {}
    stop = threading.Event()

    def pause(sensor: object) -> None:
        sid = sensor.info.id  # type: ignore[attr-defined]
        count[sid] = count.get(sid, 0) + 1
        if min(count.get("probe", 0), count.get("climate", 0)) >= polls:
            stop.set()
        if count[sid] >= polls:
            stop.wait()

    try:
        return drive(sensors, stop, pause=pause)
    finally:
        ctx.close()
        writer.close()


def test_a_board_capture_replays_elsewhere_with_discovery_left_automatic(tmp_path: Path) -> None:
    """Probes and the IIO device found by listing the board's /sys replay from the capture alone: the tree is
    gone, the config still has no roms and no device, and the readings are the recorded ones."""
    tree = FakeSysfs(str(tmp_path / "board"))
    for i, rom in enumerate(ROMS):
        tree.set_ds18b20(rom, 20.5 + i)
    tree.set_dht(23.4, 51.0, device="iio:device3")
    tree.write("sys/bus/iio/devices/iio:device3/name", "dht11\n")
    path = tmp_path / "board.scap"
    recorded = record_board(path, tree, polls=3)
    tree.close()
    import shutil

    shutil.rmtree(tmp_path / "board")  # another machine: nothing of the board's /sys is left

    capture = Capture.load(str(path))
    assert "file:/sys/bus/w1/devices" in capture.keys  # the listing is in the capture
    tap = ReplayTap(capture, None)
    ctx = replay_context(tap, EMULATORS)
    cfg = replay_config(capture.header)
    assert [dict(s.options) for s in cfg.sensors] == [{}, {}]
    sensors, failed = build_devices(cfg, ctx)
    assert not failed
    try:
        replayed = drive(sensors, threading.Event(), hit_end=tap.hit_end)
    finally:
        ctx.close()
    assert tap.first_mismatch is None
    for sid in ("probe", "climate"):
        want = [(o.values, o.error) for o in recorded.outcomes[sid]]
        assert [(o.values, o.error) for o in replayed.outcomes[sid]] == want
    assert recorded.outcomes["probe"][0].values == {
        "temp_28_0000000000a1_c": 20.5,
        "temp_28_0000000000b2_c": 21.5,
        "probes_ok": 2,
    }
    assert recorded.outcomes["climate"][0].values == {"temperature_c": 23.4, "humidity_pct": 51.0}
