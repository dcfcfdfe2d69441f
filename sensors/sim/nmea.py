"""An NMEA 0183 GPS receiver model: a walk around a circle, reported once per second like a u-blox NEO-6M.

Each epoch emits GGA, GSA, GSV (three sentences), RMC and VTG with correct checksums, in the order u-blox
receivers use. Product code: the demo's "gps" sensor reads these bytes through a real pty.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sensors.serial.nmea import KNOT_MS, encode_sentence

EARTH_M_PER_DEG = 111_320.0
"""Metres per degree of latitude (and of longitude at the equator), spherical approximation."""


def _dm(value_deg: float, deg_digits: int) -> tuple[str, float]:
    deg = int(abs(value_deg))
    minutes = (abs(value_deg) - deg) * 60.0
    return f"{deg:0{deg_digits}d}{minutes:08.5f}", minutes


class NmeaEmulator:
    """GPS receiver model.

    Args:
        lat_deg: centre of the walk (default: Cambridge, UK).
        lon_deg: centre of the walk.
        alt_m: altitude above mean sea level.
        radius_m: radius of the circle walked.
        speed_ms: walking speed.
        talker: talker id (``GP`` GPS, ``GN`` multi-constellation).
        fix_after_s: seconds from the first epoch until the receiver reports a fix (cold start).
        wall_ns: UTC clock in nanoseconds (the emulated satellites' time).
    """

    def __init__(
        self,
        lat_deg: float = 52.2053,
        lon_deg: float = 0.1218,
        alt_m: float = 12.0,
        radius_m: float = 50.0,
        speed_ms: float = 1.4,
        talker: str = "GP",
        fix_after_s: float = 0.0,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.lat_deg = lat_deg
        self.lon_deg = lon_deg
        self.alt_m = alt_m
        self.radius_m = radius_m
        self.speed_ms = speed_ms
        self.talker = talker
        self.fix_after_s = fix_after_s
        self._wall_ns = wall_ns
        self._start_s: float | None = None

    def handle(self, data: bytes) -> None:
        """Receivers accept configuration sentences; this model ignores them."""

    def position(self, t_s: float) -> tuple[float, float, float]:
        """Return (lat_deg, lon_deg, course_deg) ``t_s`` seconds into the walk."""
        angle = self.speed_ms * t_s / self.radius_m
        north_m, east_m = self.radius_m * math.cos(angle), self.radius_m * math.sin(angle)
        lat = self.lat_deg + north_m / EARTH_M_PER_DEG
        lon = self.lon_deg + east_m / (EARTH_M_PER_DEG * math.cos(math.radians(self.lat_deg)))
        # Clockwise walk: it starts north of the centre, heading east.
        course = (math.degrees(angle) + 90.0) % 360.0
        return lat, lon, course

    def tick(self, now_s: float) -> list[bytes]:
        """Return one epoch of sentences for monotonic time ``now_s``."""
        if self._start_s is None:
            self._start_s = now_s
        return self.epoch(now_s - self._start_s, self._wall_ns())

    def epoch(self, t_s: float, utc_ns: int) -> list[bytes]:
        """Return the sentences of the epoch ``t_s`` seconds into the walk, stamped ``utc_ns``."""
        fix = t_s >= self.fix_after_s
        secs, ns = divmod(utc_ns, 1_000_000_000)
        tm = time.gmtime(secs)
        hhmmss = f"{tm.tm_hour:02d}{tm.tm_min:02d}{tm.tm_sec:02d}.{ns // 10_000_000:02d}"
        ddmmyy = f"{tm.tm_mday:02d}{tm.tm_mon:02d}{tm.tm_year % 100:02d}"
        lat, lon, course = self.position(t_s)
        lat_s, _ = _dm(lat, 2)
        lon_s, _ = _dm(lon, 3)
        ns_hemi, ew_hemi = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
        sats = [
            (2, 40, 45, 38),
            (5, 63, 180, 42),
            (12, 21, 270, 31),
            (15, 55, 310, 40),
            (18, 12, 90, 22),
            (24, 33, 135, 35),
            (25, 70, 10, 44),
            (29, 8, 220, 0),
            (31, 17, 30, 27),
        ]
        used = [s[0] for s in sats if s[3] > 25] if fix else []
        p = self.talker
        kn = self.speed_ms / KNOT_MS
        out = []
        if fix:
            out.append(
                encode_sentence(
                    f"{p}GGA,{hhmmss},{lat_s},{ns_hemi},{lon_s},{ew_hemi},1,{len(used):02d},"
                    f"0.92,{self.alt_m:.1f},M,47.0,M,,"
                )
            )
        else:
            out.append(encode_sentence(f"{p}GGA,{hhmmss},,,,,0,00,99.99,,,,,,"))
        prns = ",".join([f"{n:02d}" for n in used[:12]] + [""] * (12 - len(used[:12])))
        out.append(
            encode_sentence(
                f"{p}GSA,A,{3 if fix else 1},{prns},1.65,0.92,1.37"
                if fix
                else f"{p}GSA,A,1,{prns},99.99,99.99,99.99"
            )
        )
        for i in range(0, len(sats), 4):
            group = ",".join(f"{n:02d},{el:02d},{az:03d},{snr:02d}" for n, el, az, snr in sats[i : i + 4])
            out.append(encode_sentence(f"{p}GSV,{(len(sats) + 3) // 4},{i // 4 + 1},{len(sats):02d},{group}"))
        if fix:
            out.append(
                encode_sentence(
                    f"{p}RMC,{hhmmss},A,{lat_s},{ns_hemi},{lon_s},{ew_hemi},{kn:.3f},"
                    f"{course:.2f},{ddmmyy},,,A"
                )
            )
            out.append(encode_sentence(f"{p}VTG,{course:.2f},T,,M,{kn:.3f},N,{self.speed_ms * 3.6:.3f},K,A"))
        else:
            out.append(encode_sentence(f"{p}RMC,{hhmmss},V,,,,,,,{ddmmyy},,,N"))
            out.append(encode_sentence(f"{p}VTG,,,,,,,,,N"))
        return out
