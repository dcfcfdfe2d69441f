"""NMEA 0183 sentence validation and decoding into GPS fields. Pure (no port, no clock).

Reference: NMEA 0183 v4.11 (sentence structure, ``*hh`` XOR checksum), as emitted by u-blox, MediaTek and
SiRF receivers. Field parsing is delegated to ``pynmea2`` (maintained, covers every talker id); what it does
not do is decided here: framing faults are classified and counted, and values the 8-bit XOR checksum let
through corrupted (two flipped bits cancel) are caught by range checks before they become data.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import pynmea2

from sensors.base import Value

KNOT_MS = 1852.0 / 3600.0
"""One knot in metres per second (1 nautical mile = 1852 m, exact)."""

MIN_FIELDS = {"GGA": 9, "RMC": 9, "VTG": 8, "GSA": 17, "GSV": 3}
"""Data fields each supported sentence must have (through GGA's altitude, RMC's date, GSA's VDOP…)."""

_SENTENCE_RE = re.compile(rb"^\$([A-Z0-9]{2,6}),([\x20-\x7e]*)\*([0-9A-Fa-f]{2})$")
_BARE_RE = re.compile(rb"^\$[A-Z0-9]{2,6},[\x20-\x29\x2b-\x7e]*$")
_PRINTABLE_RE = re.compile(rb"^\$[\x20-\x7e]*$")
_TRAILER_RE = re.compile(rb"^\$([\x20-\x7e]*)\*([0-9A-Fa-f]{2})$")
"""Any printable sentence with a ``*hh`` tail: its checksum is judged before its address field's shape."""


def nmea_checksum(body: bytes) -> int:
    """Return the XOR of every byte of ``body`` (the text between ``$`` and ``*``)."""
    value = 0
    for byte in body:
        value ^= byte
    return value


def encode_sentence(body: str) -> bytes:
    """Return ``$body*HH\\r\\n`` with the checksum filled in (used by the emulator and tests)."""
    raw = body.encode("ascii")
    return b"$" + raw + b"*%02X\r\n" % nmea_checksum(raw)


@dataclass(slots=True)
class NmeaStats:
    """Counters of what the decoder saw; every sentence lands in exactly one of them."""

    ok: int = 0
    unsupported: int = 0
    """Valid sentences of a type this decoder does not use (ZDA, GLL, TXT, proprietary)."""
    bad_checksum: int = 0
    truncated: int = 0
    """Sentences cut short: no ``*hh`` tail, or a new ``$`` began inside them (interleaved writers)."""
    malformed: int = 0
    """Noise lines and sentences whose fields do not parse."""
    implausible: int = 0
    """Checksum-valid sentences with values out of physical range."""

    @property
    def errors(self) -> int:
        """Every sentence that was skipped for a fault (not counting unsupported types)."""
        return self.bad_checksum + self.truncated + self.malformed + self.implausible

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Implausible(ValueError):
    pass


def _float(text: str | None, lo: float, hi: float) -> float | None:
    if text is None or text == "":
        return None
    value = float(text)
    if not lo <= value <= hi:  # also rejects NaN
        raise _Implausible(f"{value} outside {lo}..{hi}")
    return value


def _int(text: Any, lo: int, hi: int) -> int | None:
    if text is None or text == "":
        return None
    value = int(text)
    if not lo <= value <= hi:
        raise _Implausible(f"{value} outside {lo}..{hi}")
    return value


def _position(msg: Any) -> dict[str, Value]:
    if not msg.lat or not msg.lon:
        return {}
    if msg.lat_dir not in ("N", "S") or msg.lon_dir not in ("E", "W"):
        raise ValueError("hemisphere")
    lat = float(msg.latitude)
    lon = float(msg.longitude)
    # ddmm.mmmm: minutes >= 60 cannot occur; pynmea2 would silently add them to the degrees.
    if float(msg.lat[2:]) >= 60 or float(msg.lon[3:]) >= 60:
        raise _Implausible("minutes >= 60")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise _Implausible("position out of range")
    return {"lat_deg": round(lat, 8), "lon_deg": round(lon, 8)}


def utc_ns(date: dt.date, time: dt.time) -> int:
    """Return nanoseconds since the Unix epoch of a UTC ``date`` + ``time`` (exact, no float rounding)."""
    seconds = calendar.timegm((date.year, date.month, date.day, time.hour, time.minute, time.second))
    return seconds * 1_000_000_000 + time.microsecond * 1000


class NmeaDecoder:
    """Validates lines and turns GGA/RMC/VTG/GSA/GSV sentences into field updates.

    Fields produced: ``lat_deg``, ``lon_deg``, ``alt_m`` (above mean sea level), ``speed_ms``, ``course_deg``
    (true), ``fix_quality`` (GGA: 0 none, 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float, 6 dead reckoning…),
    ``fix_type`` (GSA: 1 none, 2 2D, 3 3D), ``satellites`` (used in the fix), ``satellites_in_view`` (summed
    over constellations), ``hdop``, ``pdop``, ``vdop``, and ``gps_time_ns`` (UTC from a valid RMC: a
    clock-sync hint; NMEA output lags the true second by tens to hundreds of milliseconds, so it is good to
    about a second).

    Args:
        require_checksum: reject sentences without ``*hh`` (every GPS receiver sends one).
    """

    def __init__(self, require_checksum: bool = True) -> None:
        self.require_checksum = require_checksum
        self.stats = NmeaStats()
        self._in_view: dict[str, int] = {}
        self._handlers: dict[str, Callable[[Any], dict[str, Value]]] = {
            "GGA": self._gga,
            "RMC": self._rmc,
            "VTG": self._vtg,
            "GSA": self._gsa,
            "GSV": self._gsv,
        }

    def reset(self) -> None:
        """Forget per-constellation state (after a re-open). Counters are kept: they are totals."""
        self._in_view.clear()

    def decode_line(self, line: bytes) -> dict[str, Value]:
        """Classify one framed line and return the fields it updates (empty if skipped or unsupported)."""
        start = line.rfind(b"$")
        if start < 0:
            self.stats.malformed += 1
            return {}
        if start > 0:
            # Bytes before the last '$': noise, or a sentence another writer (or a dropped byte) cut short.
            if b"$" in line[:start] or b"," in line[:start]:
                self.stats.truncated += 1
            line = line[start:]
        return self._decode_sentence(line)

    def _decode_sentence(self, line: bytes) -> dict[str, Value]:
        match = _SENTENCE_RE.match(line)
        if match is None:
            trailer = _TRAILER_RE.match(line)
            if trailer is not None:
                # Complete (it has its *hh tail) but the address field is not [A-Z0-9]{2,6}: damage there,
                # such as '$G^GSV', is what the checksum exists to catch; a matching sum means the sender
                # itself wrote a bad address.
                if nmea_checksum(trailer.group(1)) != int(trailer.group(2), 16):
                    self.stats.bad_checksum += 1
                else:
                    self.stats.malformed += 1
                return {}
            if not self.require_checksum and _BARE_RE.match(line):
                return self._parse(line.decode("ascii"))
            if _PRINTABLE_RE.match(line):  # printable, but the *hh tail is missing or cut
                self.stats.truncated += 1
            else:
                self.stats.malformed += 1
            return {}
        body = line[1 : match.start(3) - 1]
        if nmea_checksum(body) != int(match.group(3), 16):
            self.stats.bad_checksum += 1
            return {}
        return self._parse(line.decode("ascii"))

    def _parse(self, text: str) -> dict[str, Value]:
        try:
            msg = pynmea2.parse(text, check=False)
        except pynmea2.SentenceTypeError:  # a valid sentence of a type pynmea2 does not know
            self.stats.unsupported += 1
            return {}
        except (pynmea2.ParseError, ValueError, TypeError, AttributeError):
            self.stats.malformed += 1
            return {}
        kind = getattr(msg, "sentence_type", "")
        handler = self._handlers.get(kind)
        if handler is None:
            self.stats.unsupported += 1
            return {}
        if len(msg.data) < MIN_FIELDS[kind]:
            self.stats.malformed += 1
            return {}
        try:
            values = handler(msg)
        except _Implausible:
            self.stats.implausible += 1
            return {}
        except (ValueError, TypeError, IndexError, AttributeError):
            self.stats.malformed += 1
            return {}
        self.stats.ok += 1
        return values

    # -- sentence handlers: read every field first, so a bad field skips the whole sentence -----------------

    def _gga(self, msg: Any) -> dict[str, Value]:
        quality = _int(msg.gps_qual, 0, 8)
        out: dict[str, Value] = {"fix_quality": quality if quality is not None else 0}
        sats = _int(msg.num_sats, 0, 99)
        if sats is not None:
            out["satellites"] = sats
        hdop = _float(msg.horizontal_dil, 0.0, 99.99)
        if hdop is not None:
            out["hdop"] = hdop
        if out["fix_quality"]:
            pos = _position(msg)
            out.update(pos)
            alt = _float(msg.data[8], -1000.0, 100_000.0)
            if alt is not None and pos:
                out["alt_m"] = alt
        return out

    def _rmc(self, msg: Any) -> dict[str, Value]:
        if msg.status != "A":
            if msg.status != "V":
                raise ValueError("status")
            return {}
        out = _position(msg)
        speed_kn = _float(msg.data[6], 0.0, 1000.0)
        if speed_kn is not None:
            out["speed_ms"] = round(speed_kn * KNOT_MS, 4)
        course = _float(msg.data[7], 0.0, 360.0)
        if course is not None:
            out["course_deg"] = course
        if msg.data[0] and msg.data[8]:
            out["gps_time_ns"] = utc_ns(msg.datestamp, msg.timestamp)
        return out

    def _vtg(self, msg: Any) -> dict[str, Value]:
        mode = getattr(msg, "faa_mode", None) or ""
        if mode == "N":  # NMEA 2.3+: data not valid
            return {}
        out: dict[str, Value] = {}
        kmh = _float(msg.data[6] if len(msg.data) > 6 else None, 0.0, 2000.0)
        if kmh is not None:
            out["speed_ms"] = round(kmh / 3.6, 4)
        else:
            kn = _float(msg.data[4] if len(msg.data) > 4 else None, 0.0, 1000.0)
            if kn is not None:
                out["speed_ms"] = round(kn * KNOT_MS, 4)
        course = _float(msg.data[0], 0.0, 360.0)
        if course is not None:
            out["course_deg"] = course
        return out

    def _gsa(self, msg: Any) -> dict[str, Value]:
        out: dict[str, Value] = {}
        fix_type = _int(msg.mode_fix_type, 1, 3)
        if fix_type is not None:
            out["fix_type"] = fix_type
        for name, text in (("pdop", msg.pdop), ("hdop", msg.hdop), ("vdop", msg.vdop)):
            value = _float(text, 0.0, 99.99)
            if value is not None:
                out[name] = value
        return out

    def _gsv(self, msg: Any) -> dict[str, Value]:
        in_view = _int(msg.num_sv_in_view, 0, 99)
        if in_view is None:
            return {}
        self._in_view[msg.talker] = in_view
        return {"satellites_in_view": sum(self._in_view.values())}
