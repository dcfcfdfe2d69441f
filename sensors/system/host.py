"""The host as a sensor: temperatures, throttling, load, memory, disk, network, uptime (and Jetson GPU load).

Which fields exist is decided when the sensor is built, from what the host offers: no thermal zone, no
``cpu_temp_c``; not a Raspberry Pi, no throttling flags; not a Jetson, no ``gpu_load_pct``. A source that
fails at read time is left out of that reading; the read fails only if every source failed.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sensors.base import BuildContext, FieldSpec, Sensor, SensorInfo, Value, Values
from sensors.buses import DiskUsage, FileTree
from sensors.errors import SensorError
from sensors.hardware import REAL_HARDWARE
from sensors.spec import DeviceSpec
from sensors.sysfs.files import TextReader, read_text
from sensors.system import probes

THROTTLED_SYSFS = "devices/platform/soc/soc:firmware/get_throttled"
"""Raspberry Pi firmware driver attribute (hex word). Newer kernels mark it deprecated and log one warning
with a backtrace on its first read after boot; it is still the only unprivileged source of the whole word.
Fallbacks: vcgencmd (needs access to /dev/vchiq), then the ``rpi_volt`` hwmon alarm (under-voltage only)."""

GPU_LOAD_GLOBS = (
    "devices/gpu.0/load",
    "devices/platform/gpu.0/load",
    "devices/platform/*.gpu/load",
    "devices/platform/*.ga10b/load",
    "devices/platform/*/*.gpu/load",
    "devices/*.gv11b/load",
    "class/devfreq/*.gpu/device/load",
    "class/devfreq/*.gv11b/device/load",
    "class/devfreq/*.ga10b/device/load",
)
"""Jetson GPU load (per mille): Nano/TX1/TX2 (gpu.0), Xavier (gv11b), Orin (ga10b, JetPack 5 and 6), and the
devfreq view of the same attribute (``/sys/class/devfreq/17000000.gpu/device/load`` on Orin, JetPack 6)."""

VCGENCMD_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class Sources:
    """What this host offers (paths are absolute; None: not available).

    Attributes:
        cpu_zone: thermal ``temp`` file of the CPU.
        gpu_zone: thermal ``temp`` file of the GPU.
        throttled: the firmware's ``get_throttled`` file.
        vcgencmd: vcgencmd executable, used when the file is missing.
        undervoltage_alarm: ``in0_lcrit_alarm`` of the ``rpi_volt`` hwmon device, the last resort.
        gpu_load: Jetson GPU load file.
        disk_path: directory whose file system is measured.
        interfaces: network interfaces summed (None: all but lo).
        model: board model from the device tree.
    """

    cpu_zone: str | None
    gpu_zone: str | None
    throttled: str | None
    vcgencmd: str | None
    undervoltage_alarm: str | None
    gpu_load: str | None
    disk_path: str | None
    interfaces: tuple[str, ...] | None
    model: str


def find(tree: FileTree, root: str, pattern: str) -> list[str]:
    """The paths under ``root`` matching ``pattern`` (``/``-separated, ``*``/``?``/``[...]`` within one name, as
    :func:`glob.glob`: names starting with ``.`` only when the pattern's do), sorted; found through ``tree``'s
    listings and existence tests, so a capture holds the probing and a replay finds the same on any machine."""
    found = [root]
    parts = pattern.split("/")
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        nxt: list[str] = []
        for base in found:
            if not glob.has_magic(part):
                path = os.path.join(base, part)
                if not last or tree.exists(path):
                    nxt.append(path)
                continue
            try:
                names = tree.list_dir(base)
            except OSError:  # gone, or not a directory
                continue
            hidden = part.startswith(".")
            nxt += [
                os.path.join(base, n)
                for n in names
                if fnmatch.fnmatchcase(n, part) and (hidden or n[0] != ".")
            ]
        found = nxt
    return sorted(found)


def discover(
    tree: FileTree,
    *,
    disk_path: str | None,
    interfaces: Sequence[str] | None,
    vcgencmd: str | None,
) -> Sources:
    """Find the sources this host offers, through ``tree`` (its reads, listings and existence tests)."""
    sysfs_root, procfs_root, reader = tree.sysfs_root, tree.procfs_root, tree.read_text
    zones: dict[str, str] = {}
    for zone in find(tree, sysfs_root, "class/thermal/thermal_zone*"):
        try:
            kind = reader(os.path.join(zone, "type")).strip()
        except OSError:
            continue
        zones.setdefault(kind, os.path.join(zone, "temp"))
    cpu = probes.pick_zone(zones, probes.CPU_ZONE_TYPES)
    if cpu is None and zones and not probes.pick_zone(zones, probes.GPU_ZONE_TYPES):
        cpu = next(iter(zones.values()))  # an unknown SoC with one zone: that zone is the SoC
    throttled = os.path.join(sysfs_root, THROTTLED_SYSFS)
    gpu_load = next((p for pattern in GPU_LOAD_GLOBS for p in find(tree, sysfs_root, pattern)), None)
    try:
        model = reader(os.path.join(procfs_root, "device-tree", "model")).strip("\0\n ")
    except OSError:
        model = ""
    has_file = tree.exists(throttled)
    vcgencmd_path = None if has_file or not vcgencmd else shutil.which(vcgencmd)
    alarm = None
    if not has_file and not vcgencmd_path:
        for hwmon in find(tree, sysfs_root, "class/hwmon/hwmon*"):
            try:
                if reader(os.path.join(hwmon, "name")).strip() == "rpi_volt":
                    alarm = os.path.join(hwmon, "in0_lcrit_alarm")
                    break
            except OSError:
                continue
    return Sources(
        cpu_zone=cpu,
        gpu_zone=probes.pick_zone(zones, probes.GPU_ZONE_TYPES),
        throttled=throttled if has_file else None,
        vcgencmd=vcgencmd_path,
        undervoltage_alarm=alarm,
        gpu_load=gpu_load,
        disk_path=disk_path,
        interfaces=tuple(interfaces) if interfaces is not None else None,
        model=model,
    )


def fields_for(src: Sources) -> tuple[FieldSpec, ...]:
    """The catalogue of a host with ``src``."""
    out: list[FieldSpec] = []
    if src.cpu_zone:
        out.append(FieldSpec("cpu_temp_c", "°C", "float", "temperature", -40.0, 125.0))
    if src.gpu_zone:
        out.append(FieldSpec("gpu_temp_c", "°C", "float", "temperature", -40.0, 125.0))
    if src.gpu_load:
        out.append(FieldSpec("gpu_load_pct", "%", "float", None, 0.0, 100.0))
    out += [
        FieldSpec("cpu_pct", "%", "float", None, 0.0, 100.0),
        FieldSpec("load_1m", "", "float", None, 0.0),
        FieldSpec("load_5m", "", "float", None, 0.0),
        FieldSpec("load_15m", "", "float", None, 0.0),
        FieldSpec("mem_used_pct", "%", "float", None, 0.0, 100.0),
        FieldSpec("mem_available_bytes", "B", "int", "data_size", 0),
    ]
    if src.disk_path:
        out += [
            FieldSpec("disk_used_pct", "%", "float", None, 0.0, 100.0),
            FieldSpec("disk_free_bytes", "B", "int", "data_size", 0),
        ]
    out += [
        FieldSpec("net_rx_bytes", "B", "int", "data_size", 0, series="counter"),
        FieldSpec("net_tx_bytes", "B", "int", "data_size", 0, series="counter"),
        FieldSpec("net_rx_bps", "B/s", "float", "data_rate", 0.0),
        FieldSpec("net_tx_bps", "B/s", "float", "data_rate", 0.0),
        FieldSpec("uptime_s", "s", "float", "duration", 0.0),
    ]
    if src.throttled or src.vcgencmd:
        out += [FieldSpec(name, "", "bool") for name in probes.THROTTLE_BITS]
        out.append(FieldSpec("throttled_raw", "", "int", None, 0, series="state"))
    elif src.undervoltage_alarm:
        out.append(FieldSpec("undervoltage_now", "", "bool"))
    return tuple(out)


class SystemSensor(Sensor):
    """Reads the host's health figures; see :func:`fields_for` for the fields.

    Args:
        info: catalogue entry.
        sources: what to read.
        procfs_root: root of /proc.
        reader: file reader.
        clock: monotonic seconds, for rates.
        run: runs vcgencmd (injected for tests).
    """

    bus_id = "system"

    def __init__(
        self,
        info: SensorInfo,
        sources: Sources,
        procfs_root: str,
        *,
        reader: TextReader = read_text,
        clock: Callable[[], float] = time.monotonic,
        run: Callable[[list[str]], str] | None = None,
        disk_usage: DiskUsage = REAL_HARDWARE.disk_usage,
    ) -> None:
        super().__init__(info)
        self._disk_usage = disk_usage
        self.sources = sources
        self.procfs_root = procfs_root
        self._read = reader
        self._clock = clock
        self._run = run or _run
        self._cpu_prev: tuple[int, int] | None = None
        self._net_prev: tuple[float, int, int] | None = None
        self.source_errors = 0
        self._parts: list[Callable[[dict[str, Value]], None]] = [
            self._cpu,
            self._memory,
            self._network,
            self._uptime,
        ]
        if sources.cpu_zone or sources.gpu_zone or sources.gpu_load:
            self._parts.append(self._temperatures)
        if sources.disk_path:
            self._parts.append(self._disk)
        if sources.throttled or sources.vcgencmd or sources.undervoltage_alarm:
            self._parts.append(self._throttling)

    def _proc(self, name: str) -> str:
        return self._read(os.path.join(self.procfs_root, name))

    def _temperatures(self, out: dict[str, Value]) -> None:
        if self.sources.cpu_zone:
            out["cpu_temp_c"] = round(probes.parse_milli(self._read(self.sources.cpu_zone)), 2)
        if self.sources.gpu_zone:
            out["gpu_temp_c"] = round(probes.parse_milli(self._read(self.sources.gpu_zone)), 2)
        if self.sources.gpu_load:
            out["gpu_load_pct"] = round(int(self._read(self.sources.gpu_load)) / 10.0, 1)

    def _cpu(self, out: dict[str, Value]) -> None:
        sample = probes.parse_cpu_times(self._proc("stat"))
        if self._cpu_prev is not None:
            pct = probes.cpu_percent(self._cpu_prev, sample)
            if pct is not None:
                out["cpu_pct"] = pct
        self._cpu_prev = sample
        out["load_1m"], out["load_5m"], out["load_15m"] = probes.parse_loadavg(self._proc("loadavg"))

    def _memory(self, out: dict[str, Value]) -> None:
        info = probes.parse_meminfo(self._proc("meminfo"))
        used = probes.memory_used_pct(info)
        if used is not None:
            out["mem_used_pct"] = used
            out["mem_available_bytes"] = info["MemAvailable"]

    def _disk(self, out: dict[str, Value]) -> None:
        if self.sources.disk_path:
            total, free = self._disk_usage(self.sources.disk_path)
            out["disk_free_bytes"] = free
            out["disk_used_pct"] = round(100.0 * (total - free) / total, 2) if total else 0.0

    def _network(self, out: dict[str, Value]) -> None:
        rx, tx = probes.parse_net_dev(self._proc("net/dev"), self.sources.interfaces)
        now = self._clock()
        out["net_rx_bytes"], out["net_tx_bytes"] = rx, tx
        if self._net_prev is not None:
            then, prx, ptx = self._net_prev
            dt = now - then
            if dt > 0 and rx >= prx and tx >= ptx:  # counters reset when an interface goes away
                out["net_rx_bps"] = round((rx - prx) / dt, 1)
                out["net_tx_bps"] = round((tx - ptx) / dt, 1)
        self._net_prev = (now, rx, tx)

    def _uptime(self, out: dict[str, Value]) -> None:
        out["uptime_s"] = probes.parse_uptime(self._proc("uptime"))

    def _throttling(self, out: dict[str, Value]) -> None:
        if self.sources.throttled:
            word = probes.parse_throttled(self._read(self.sources.throttled))
        elif self.sources.vcgencmd:
            word = probes.parse_throttled(self._run([self.sources.vcgencmd, "get_throttled"]))
        elif self.sources.undervoltage_alarm:
            out["undervoltage_now"] = self._read(self.sources.undervoltage_alarm).strip() == "1"
            return
        else:
            return
        out.update(probes.throttled_flags(word))
        out["throttled_raw"] = word

    def read(self) -> Values:
        """Read every source; one that fails is left out of this reading.

        Raises:
            SensorError: every source failed (the /proc and /sys roots are unreadable).
        """
        out: dict[str, Value] = {}
        failed = 0
        for part in self._parts:
            try:
                part(out)
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                failed += 1
        self.source_errors += failed
        if failed == len(self._parts):
            raise SensorError(errno.EIO, f"no system source readable under {self.procfs_root}")
        return out


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=VCGENCMD_TIMEOUT_S, check=True)
    return done.stdout


def build(spec: DeviceSpec, ctx: BuildContext) -> SystemSensor:
    """Build the system sensor from config.

    Options: ``disk_path`` (directory measured, default ``/``; set it to the gateway's data directory),
    ``interfaces`` (list; default all but ``lo``), ``vcgencmd`` (executable used on a Pi whose kernel lacks
    ``get_throttled``, default ``vcgencmd``; ``""`` disables), ``sim_board`` (with ``simulate``: ``host``
    reads this machine, ``pi`` / ``jetson`` an emulated board).
    """
    spec.check_unknown(["disk_path", "interfaces", "vcgencmd", "sim_board"])
    disk_path = spec.opt_str("disk_path", "/") or None
    interfaces = spec.opt_list("interfaces", []) or None
    if interfaces is not None and not all(isinstance(i, str) and i for i in interfaces):
        raise spec.error("interfaces", 'expected a list of interface names such as ["eth0", "wlan0"]')
    board = spec.opt_str("sim_board", "host", choices=("host", "pi", "jetson"))
    simulated = spec.simulate and board != "host"
    tree = ctx.files(simulated, board if simulated else None)
    if disk_path and not tree.is_dir(disk_path):  # through the tree: a capture replays it on any machine
        raise spec.error("disk_path", f"expected an existing directory, got {disk_path!r}")
    sources = discover(
        tree, disk_path=disk_path, interfaces=interfaces, vcgencmd=spec.opt_str("vcgencmd", "vcgencmd")
    )
    info = SensorInfo(
        spec.id,
        spec.driver,
        fields_for(sources),
        spec.interval_s,
        simulated=simulated,
        description="host health",
        model=sources.model or "Linux host",
    )
    return SystemSensor(
        info,
        sources,
        tree.procfs_root,
        reader=tree.read_text,
        clock=ctx.clock(spec.id),
        disk_usage=tree.disk_usage,
    )
