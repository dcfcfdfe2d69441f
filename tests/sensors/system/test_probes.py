"""Parsers of /proc and /sys text, on samples copied from real Raspberry Pi and Jetson hosts."""

from __future__ import annotations

import pytest

from sensors.system import probes

MEMINFO = (
    "MemTotal:        3884436 kB\nMemFree:          171428 kB\n"
    "MemAvailable:    2519984 kB\nHugePages_Total: 0\n"
)
STAT = (
    "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0\n"
    "cpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0\n"
)
_HEAD = [
    "Inter-|   Receive                                                |  Transmit",
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls "
    "carrier compressed",
]
_ZEROS = "    0    0    0     0          0"
NET_DEV = (
    "\n".join(
        [
            *_HEAD,
            f"    lo:  123456     100{_ZEROS}         0   123456     100{_ZEROS[:-11]}       0          0",
            f"  eth0: 9876543   12000{_ZEROS}       120  1234567    9000{_ZEROS[:-11]}       0          0",
            f" wlan0:    1000      10{_ZEROS}         0     2000      20{_ZEROS[:-11]}       0          0",
        ]
    )
    + "\n"
)


def test_loadavg_uptime_and_milli_values() -> None:
    """/proc/loadavg, /proc/uptime and thermal 'temp' parse to floats."""
    assert probes.parse_loadavg("0.52 0.58 0.59 1/467 12345\n") == (0.52, 0.58, 0.59)
    assert probes.parse_uptime("350735.47 234388.90\n") == 350735.47
    assert probes.parse_milli("48312\n") == 48.312
    assert probes.parse_milli("-5000") == -5.0


def test_meminfo_in_bytes_and_used_percent() -> None:
    """kB lines become bytes; used = total - available; missing keys give None."""
    info = probes.parse_meminfo(MEMINFO)
    assert info == {
        "MemTotal": 3884436 * 1024,
        "MemFree": 171428 * 1024,
        "MemAvailable": 2519984 * 1024,
        "HugePages_Total": 0,
    }
    assert probes.memory_used_pct(info) == 35.13
    assert probes.memory_used_pct({"MemTotal": 100}) is None
    assert probes.parse_meminfo("VmallocChunk: n/a\nDirectMap4k: 1024 kB\n") == {"DirectMap4k": 1024 * 1024}


def test_cpu_percent_between_two_samples() -> None:
    """Busy jiffies (idle and iowait excluded) over total between two /proc/stat samples."""
    first = probes.parse_cpu_times(STAT)
    assert first == (
        10132153 + 290696 + 3084719 + 25195,
        10132153 + 290696 + 3084719 + 46828483 + 16683 + 25195,
    )
    later = (first[0] + 30, first[1] + 120)
    assert probes.cpu_percent(first, later) == 25.0
    assert probes.cpu_percent(first, first) is None
    with pytest.raises(ValueError, match="no aggregate cpu line"):
        probes.parse_cpu_times("intr 1\n")


def test_net_dev_sums_all_but_loopback_or_the_chosen_interfaces() -> None:
    """Default: every interface except lo; with a list, only those."""
    assert probes.parse_net_dev(NET_DEV) == (9876543 + 1000, 1234567 + 2000)
    assert probes.parse_net_dev(NET_DEV, ["wlan0"]) == (1000, 2000)
    assert probes.parse_net_dev(NET_DEV + "\n") == (9876543 + 1000, 1234567 + 2000)  # a trailing blank line


def test_throttled_word_and_flags() -> None:
    """0x50005 (sysfs '50005', vcgencmd 'throttled=0x50005'): under-voltage and throttled, now and before."""
    assert probes.parse_throttled("50005\n") == probes.parse_throttled("throttled=0x50005\n") == 0x50005
    assert probes.throttled_flags(0x50005) == {
        "undervoltage_now": True,
        "freq_capped_now": False,
        "throttled_now": True,
        "soft_temp_limit_now": False,
        "undervoltage_occurred": True,
        "freq_capped_occurred": False,
        "throttled_occurred": True,
        "soft_temp_limit_occurred": False,
    }
    assert not any(probes.throttled_flags(0).values())


def test_zone_preference_for_pi_jetson_and_pc_names() -> None:
    """CPU zones by known names in order of preference; GPU zones separately."""
    jetson = {"AO-therm": "/z0", "CPU-therm": "/z1", "GPU-therm": "/z2"}
    assert probes.pick_zone(jetson, probes.CPU_ZONE_TYPES) == "/z1"
    assert probes.pick_zone(jetson, probes.GPU_ZONE_TYPES) == "/z2"
    assert probes.pick_zone({"acpitz": "/a", "x86_pkg_temp": "/x"}, probes.CPU_ZONE_TYPES) == "/x"
    assert probes.pick_zone({"cpu-thermal": "/pi"}, probes.CPU_ZONE_TYPES) == "/pi"
    assert probes.pick_zone({"battery": "/b"}, probes.CPU_ZONE_TYPES) is None
