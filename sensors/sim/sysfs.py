"""A fake /sys and /proc tree on disk, with the kernel's file formats and injectable read errors.

Drivers read it with exactly the code they use on a board; only the root path and the reader function differ.
Product code: the demo's 1-Wire probes and DHT22 live here, and tests build Pi and Jetson layouts with it.
Values change over time when :meth:`FakeSysfs.start` runs the updater thread. Files are replaced atomically
(``os.replace``), as a reader of real sysfs never sees half a value.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import random
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable

from sensors.base import BuildContext
from sensors.sysfs.w1 import crc8_maxim

DEMO_PROBES = {"28-00000a1b2c3d": 17.5, "28-00000d4e5f60": 21.0}
"""ROM id -> mean °C of the demo's two 1-Wire probes (a water tank and the air next to it)."""


def w1_slave_text(temp_c: float, crc_ok: bool = True) -> str:
    """Return what w1_therm prints in ``w1_slave`` for a DS18B20 at ``temp_c`` (12-bit resolution)."""
    raw = round(temp_c * 16) & 0xFFFF
    pad = bytes([raw & 0xFF, raw >> 8, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10])
    crc = crc8_maxim(pad)
    data = pad + bytes([crc if crc_ok else crc ^ 0x5A])
    hexes = " ".join(f"{b:02x}" for b in data)
    signed = raw - 0x10000 if raw & 0x8000 else raw
    return f"{hexes} : crc={data[8]:02x} {'YES' if crc_ok else 'NO'}\n{hexes} t={signed * 1000 // 16}\n"


class FakeSysfs:
    """A temporary tree with ``sys/`` and ``proc/`` below ``root``.

    Args:
        root: directory to build in (default: a new temporary directory, removed by :meth:`close`).
        seed: random seed of the flaky-read model.
    """

    def __init__(self, root: str | None = None, seed: int = 0) -> None:
        self._own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="sensorcast-sysfs-")
        self.sysfs_root = os.path.join(self.root, "sys")
        self.procfs_root = os.path.join(self.root, "proc")
        os.makedirs(self.sysfs_root, exist_ok=True)
        os.makedirs(self.procfs_root, exist_ok=True)
        self._lock = threading.Lock()
        self._faults: dict[str, list[int]] = {}
        self._flaky: dict[str, tuple[float, int]] = {}
        self._rng = random.Random(seed)
        self._updaters: list[Callable[[float], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._names: set[str] = set()
        self.reads_total = 0
        if self._own_root:  # removed at interpreter exit even if nobody calls close()
            self._finalizer = weakref.finalize(self, shutil.rmtree, self.root, True)

    # -- files ---------------------------------------------------------------------------------------------

    def path(self, rel: str) -> str:
        """Absolute path of ``rel`` (``sys/...`` or ``proc/...``)."""
        return os.path.join(self.root, rel)

    def write(self, rel: str, text: str) -> str:
        """Atomically write ``text`` to ``rel``, creating directories; returns the absolute path."""
        path = self.path(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{threading.get_ident()}"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(text)
        os.replace(tmp, path)
        return path

    def remove(self, rel: str) -> None:
        """Remove a file or directory (a probe unplugged, a module unloaded)."""
        path = self.path(rel)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def inject(self, path: str, *errnos: int) -> None:
        """Make the next reads of ``path`` (absolute) fail with ``errnos``, one per read, in order."""
        with self._lock:
            self._faults.setdefault(path, []).extend(errnos)

    def flaky(self, path: str, rate: float, err: int = errno.EIO) -> None:
        """Make a fraction ``rate`` of reads of ``path`` fail with ``err`` (the DHT driver's everyday EIO)."""
        with self._lock:
            self._flaky[path] = (rate, err)

    def read_text(self, path: str) -> str:
        """Read ``path`` like a sysfs attribute, raising injected errors first."""
        with self._lock:
            self.reads_total += 1
            queued = self._faults.get(path)
            err = queued.pop(0) if queued else None
            if err is None and path in self._flaky:
                rate, code = self._flaky[path]
                err = code if self._rng.random() < rate else None
        if err is not None:
            raise OSError(err, os.strerror(err), path)
        with open(path, encoding="ascii") as f:
            return f.read()

    def write_text(self, path: str, text: str) -> None:
        """Write an attribute (e.g. the 1-Wire bulk-conversion trigger)."""
        with open(path, "w", encoding="ascii") as f:
            f.write(text)

    # -- devices -------------------------------------------------------------------------------------------

    def set_ds18b20(self, rom: str, temp_c: float, *, crc_ok: bool = True, bulk: bool = True) -> None:
        """Create or update a probe under ``sys/bus/w1/devices``."""
        base = "sys/bus/w1/devices"
        if bulk and not os.path.exists(self.path(f"{base}/w1_bus_master1/therm_bulk_read")):
            self.write(f"{base}/w1_bus_master1/therm_bulk_read", "0\n")
        self.write(f"{base}/{rom}/w1_slave", w1_slave_text(temp_c, crc_ok))
        self.write(f"{base}/{rom}/temperature", f"{round(temp_c * 16) * 1000 // 16}\n" if crc_ok else "")
        self.write(f"{base}/{rom}/name", f"{rom}\n")

    def set_dht(self, temp_c: float, rh_pct: float, device: str = "iio:device0") -> str:
        """Create or update a DHT IIO device; returns its directory."""
        base = f"sys/bus/iio/devices/{device}"
        self.write(f"{base}/name", "dht11\n")
        self.write(f"{base}/in_temp_input", f"{round(temp_c * 10) * 100}\n")  # DHT22 resolution: 0.1
        self.write(f"{base}/in_humidityrelative_input", f"{round(rh_pct * 10) * 100}\n")
        return self.path(base)

    def set_thermal_zone(self, index: int, kind: str, temp_c: float) -> None:
        """Create or update ``sys/class/thermal/thermal_zoneN``."""
        self.write(f"sys/class/thermal/thermal_zone{index}/type", f"{kind}\n")
        self.write(f"sys/class/thermal/thermal_zone{index}/temp", f"{round(temp_c * 1000)}\n")

    def set_proc(
        self,
        *,
        uptime_s: float,
        load: tuple[float, float, float],
        mem_total_kb: int,
        mem_available_kb: int,
        cpu_jiffies: tuple[int, int, int, int],
        net: dict[str, tuple[int, int]],
        model: str | None = None,
    ) -> None:
        """Write ``/proc`` files: uptime, loadavg, meminfo, stat (user nice system idle), net/dev, model."""
        self.write("proc/uptime", f"{uptime_s:.2f} {uptime_s * 3.5:.2f}\n")
        self.write("proc/loadavg", f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} 1/312 4242\n")
        self.write(
            "proc/meminfo",
            f"MemTotal:       {mem_total_kb} kB\nMemFree:         {mem_available_kb // 2} kB\n"
            f"MemAvailable:   {mem_available_kb} kB\nBuffers:           31220 kB\n",
        )
        user, nice, system, idle = cpu_jiffies
        self.write(
            "proc/stat",
            f"cpu  {user} {nice} {system} {idle} 120 0 35 0 0 0\n"
            f"cpu0 {user} {nice} {system} {idle} 120 0 35 0 0 0\nintr 1 2 3\nctxt 99\n",
        )
        lines = [
            "Inter-|   Receive                                                |  Transmit",
            " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop "
            "fifo colls carrier compressed",
        ]
        for name, (rx, tx) in net.items():
            lines.append(
                f"{name:>6}: {rx:>8} {rx // 900:>7}    0    0    0     0          0         0 "
                f"{tx:>8} {tx // 900:>7}    0    0    0     0       0          0"
            )
        self.write("proc/net/dev", "\n".join(lines) + "\n")
        if model is not None:
            self.write("proc/device-tree/model", model + "\0")

    # -- ready-made layouts --------------------------------------------------------------------------------

    def ensure_ds18b20_demo(self) -> None:
        """The demo's two probes, drifting slowly (idempotent)."""
        with self._lock:
            if "w1" in self._names:
                return
            self._names.add("w1")

        def update(t: float) -> None:
            for i, (rom, mean) in enumerate(DEMO_PROBES.items()):
                self.set_ds18b20(rom, mean + 1.5 * math.sin(t / (120.0 + 60 * i)) + self._rng.gauss(0, 0.03))

        update(0.0)
        self._updaters.append(update)

    def ensure_dht_demo(self) -> None:
        """The demo's DHT22 on iio:device0, with the driver's everyday 10 % EIO (idempotent)."""
        with self._lock:
            if "dht" in self._names:
                return
            self._names.add("dht")

        def update(t: float) -> None:
            self.set_dht(22.0 + 2.0 * math.sin(t / 200.0), 48.0 - 6.0 * math.sin(t / 200.0))

        update(0.0)
        self.flaky(self.path("sys/bus/iio/devices/iio:device0/in_temp_input"), 0.1)
        self._updaters.append(update)

    def add_updater(self, update: Callable[[float], None]) -> None:
        """Call ``update(t_s)`` every period once :meth:`start` ran (``t_s``: seconds since start)."""
        self._updaters.append(update)

    # -- life cycle ----------------------------------------------------------------------------------------

    def start(self, period_s: float = 1.0) -> FakeSysfs:
        """Run the value updaters every ``period_s`` on a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, args=(period_s,), name="sim-sysfs", daemon=True)
            self._thread.start()
        return self

    def _run(self, period_s: float) -> None:
        t = 0.0
        while not self._stop.wait(period_s):
            t += period_s
            for update in list(self._updaters):
                update(t)

    def close(self) -> None:
        """Stop the updater and remove the tree if this object created it."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        if self._own_root:
            self._finalizer()


def shared_tree(ctx: BuildContext) -> FakeSysfs:
    """The one emulated tree of a gateway (``ctx.shared("sim:sysfs")``), started on first use."""
    tree: FakeSysfs = ctx.shared("sim:sysfs", lambda: FakeSysfs().start())
    return tree
