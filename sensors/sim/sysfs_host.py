"""Emulated Raspberry Pi and Jetson hosts for the system sensor: /proc and /sys files that evolve."""

from __future__ import annotations

import math

from sensors.base import BuildContext
from sensors.sim.sysfs import FakeSysfs

PI_MODEL = "Raspberry Pi 4 Model B Rev 1.4"
JETSON_MODEL = "NVIDIA Jetson Nano Developer Kit"


def populate(tree: FakeSysfs, board: str, t_s: float = 0.0) -> None:
    """Write the files of ``board`` (``pi`` or ``jetson``) as they are ``t_s`` seconds after boot."""
    busy = 0.25 + 0.2 * math.sin(t_s / 30.0)  # CPU busy fraction
    jiffies = int(100 * 4 * (1000.0 + t_s))  # 4 cores at USER_HZ=100
    user = int(jiffies * busy * 0.8)
    system = int(jiffies * busy * 0.2)
    net_rx = int(5_000_000 + 42_000 * t_s)
    net_tx = int(1_200_000 + 9_000 * t_s)
    if board == "pi":
        tree.set_thermal_zone(0, "cpu-thermal", 48.0 + 12.0 * busy)
        # Under-voltage seen once at boot (bit 16) and, for 10 s every 5 minutes, right now (bits 0 and 2).
        now = 0x5 if (t_s % 300.0) < 10.0 and t_s > 0 else 0x0
        tree.write("sys/devices/platform/soc/soc:firmware/get_throttled", f"{0x50000 | now:x}\n")
        model, mem_kb = PI_MODEL, 3_884_436
    else:
        for i, (kind, base) in enumerate(
            (
                ("AO-therm", 38.0),
                ("CPU-therm", 41.0),
                ("GPU-therm", 39.5),
                ("PLL-therm", 37.0),
                ("thermal-fan-est", 40.0),
            )
        ):
            tree.set_thermal_zone(i, kind, base + 10.0 * busy)
        tree.write("sys/devices/gpu.0/load", f"{int(300 + 250 * math.sin(t_s / 20.0))}\n")
        model, mem_kb = JETSON_MODEL, 4_051_000
    tree.set_proc(
        uptime_s=1000.0 + t_s,
        load=(4 * busy, 4 * busy * 0.9, 4 * busy * 0.8),
        mem_total_kb=mem_kb,
        mem_available_kb=int(mem_kb * (0.62 - 0.05 * busy)),
        cpu_jiffies=(user, 0, system, jiffies - user - system),
        net={"lo": (12_345, 12_345), "eth0": (net_rx, net_tx), "wlan0": (1000, 2000)},
        model=model,
    )


def shared_board(ctx: BuildContext, board: str) -> FakeSysfs:
    """The emulated board tree of a gateway, one per board kind, updated every second."""

    def make() -> FakeSysfs:
        tree = FakeSysfs()
        populate(tree, board)
        tree.add_updater(lambda t: populate(tree, board, t))
        return tree.start()

    tree: FakeSysfs = ctx.shared(f"sim:board:{board}", make)
    return tree
