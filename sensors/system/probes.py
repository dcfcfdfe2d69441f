"""Parsers for the /proc and /sys files the system sensor reads. Pure: text in, numbers out.

Formats: proc(5) for ``loadavg``, ``meminfo``, ``stat``, ``net/dev``, ``uptime``; Linux thermal sysfs
(``thermal_zoneN/type`` and ``temp`` in milli-°C); the Raspberry Pi firmware's ``get_throttled`` bit field
(documented under "vcgencmd get_throttled" in the Raspberry Pi OS documentation).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

CPU_ZONE_TYPES = (
    "cpu-thermal",
    "cpu_thermal",
    "CPU-therm",
    "x86_pkg_temp",
    "soc_thermal",
    "soc-thermal",
    "acpitz",
)
"""Thermal zone types that mean 'the CPU', best first: Raspberry Pi (cpu-thermal), Jetson Nano/TX2/Xavier
(CPU-therm), Jetson Orin (cpu-thermal), Intel (x86_pkg_temp), Rockchip (soc_thermal), ACPI PCs (acpitz)."""

GPU_ZONE_TYPES = ("GPU-therm", "gpu-thermal", "gpu_thermal")
"""Thermal zone types of an integrated GPU (Jetson)."""

THROTTLE_BITS = {
    "undervoltage_now": 0,
    "freq_capped_now": 1,
    "throttled_now": 2,
    "soft_temp_limit_now": 3,
    "undervoltage_occurred": 16,
    "freq_capped_occurred": 17,
    "throttled_occurred": 18,
    "soft_temp_limit_occurred": 19,
}
"""Field name -> bit of the Raspberry Pi firmware's throttled word."""


def parse_loadavg(text: str) -> tuple[float, float, float]:
    """Return the 1, 5 and 15 minute load averages."""
    one, five, fifteen = text.split()[:3]
    return float(one), float(five), float(fifteen)


def parse_meminfo(text: str) -> dict[str, int]:
    """Return every ``Name: value kB`` line in bytes."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[name.strip()] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    return out


def memory_used_pct(meminfo: Mapping[str, int]) -> float | None:
    """Percent of memory not available to new programs (MemTotal - MemAvailable), or None without the keys."""
    total, available = meminfo.get("MemTotal"), meminfo.get("MemAvailable")
    if not total or available is None:
        return None
    return round(100.0 * (total - available) / total, 2)


def parse_cpu_times(text: str) -> tuple[int, int]:
    """Return (busy, total) jiffies of the aggregate ``cpu`` line of /proc/stat."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:9]]  # user..steal; guest time is already in user
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            total = sum(values)
            return total - idle, total
    raise ValueError("no aggregate cpu line")


def cpu_percent(prev: tuple[int, int], cur: tuple[int, int]) -> float | None:
    """CPU busy percent between two (busy, total) samples; None if no time passed or counters went back."""
    busy, total = cur[0] - prev[0], cur[1] - prev[1]
    if total <= 0 or busy < 0:
        return None
    return round(100.0 * busy / total, 2)


def parse_net_dev(text: str, interfaces: Iterable[str] | None = None) -> tuple[int, int]:
    """Return total (rx_bytes, tx_bytes) over ``interfaces`` (default: every interface except ``lo``)."""
    wanted = set(interfaces) if interfaces is not None else None
    rx = tx = 0
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        name = name.strip()
        if (wanted is None and name == "lo") or (wanted is not None and name not in wanted):
            continue
        cols = rest.split()
        rx += int(cols[0])
        tx += int(cols[8])
    return rx, tx


def parse_uptime(text: str) -> float:
    """Return seconds since boot."""
    return float(text.split()[0])


def parse_throttled(text: str) -> int:
    """Return the throttled word from sysfs (``50005``, hex) or vcgencmd (``throttled=0x50005``)."""
    value = text.strip().rpartition("=")[2]
    return int(value, 16)


def throttled_flags(word: int) -> dict[str, bool]:
    """Return the named flags of a throttled word."""
    return {name: bool(word >> bit & 1) for name, bit in THROTTLE_BITS.items()}


def pick_zone(zones: Mapping[str, str], preferred: Iterable[str]) -> str | None:
    """Return the path of the first zone whose type is in ``preferred`` (zones: type -> temp path)."""
    for kind in preferred:
        if kind in zones:
            return zones[kind]
    return None


def parse_milli(text: str) -> float:
    """Return a milli-unit sysfs value (``48312`` -> 48.312)."""
    return int(text.strip()) / 1000.0
