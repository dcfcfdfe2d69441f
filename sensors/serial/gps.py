"""NMEA 0183 GPS receiver on any serial port (u-blox NEO-6M/7M/M8N, MediaTek MT3339, SiRF IV, …).

Reads lines through a bounded framer, validates and decodes them with
:class:`~sensors.serial.nmea.NmeaDecoder`, and merges the sentences of one output burst (an "epoch": GGA,
GSA, GSV…, RMC, VTG) into one reading: a reading is returned when the port falls quiet after at least one
good sentence, or when ``timeout_s`` ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sensors.base import BuildContext, FieldSpec, SensorInfo, Value, Values
from sensors.serial.framing import LineFramer
from sensors.serial.nmea import NmeaDecoder
from sensors.serial.options import COMMON_OPTIONS, port_options
from sensors.serial.port import PortFactory, StreamingSerialSensor
from sensors.spec import DeviceSpec

FIELDS = (
    FieldSpec("lat_deg", "°", "float", None, -90.0, 90.0),
    FieldSpec("lon_deg", "°", "float", None, -180.0, 180.0),
    FieldSpec("alt_m", "m", "float", "distance", -1000.0, 100_000.0),
    FieldSpec("speed_ms", "m/s", "float", "speed", 0.0, 600.0),
    FieldSpec("course_deg", "°", "float", None, 0.0, 360.0),
    FieldSpec("fix_quality", "", "int", None, 0, 8, series="state"),
    FieldSpec("fix_type", "", "int", None, 1, 3, series="state"),
    FieldSpec("satellites", "", "int", None, 0, 99),
    FieldSpec("satellites_in_view", "", "int", None, 0, 99),
    FieldSpec("hdop", "", "float", None, 0.0, 99.99),
    FieldSpec("pdop", "", "float", None, 0.0, 99.99),
    FieldSpec("vdop", "", "float", None, 0.0, 99.99),
    FieldSpec("gps_time_ns", "ns", "int", "timestamp", series="state"),  # bridges convert ns to ISO text
    FieldSpec("nmea_errors_total", "", "int", None, 0, series="counter"),
)


class NmeaGps(StreamingSerialSensor):
    """GPS receiver speaking NMEA 0183.

    Each non-empty reading holds the fields updated by the sentences of the burst (see
    :class:`~sensors.serial.nmea.NmeaDecoder` for their meaning) plus ``nmea_errors_total``, the running
    count of sentences skipped as corrupt, truncated, interleaved or implausible.

    Args:
        info: catalogue entry.
        url: configured port URL.
        port_factory: opens the port.
        decoder: the NMEA decoder (its counters are kept across re-opens).
        max_line_bytes: framing bound.
        timeout_s: see :class:`StreamingSerialSensor`.
        stale_after_s: see :class:`StreamingSerialSensor`.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        info: SensorInfo,
        url: str,
        port_factory: PortFactory,
        *,
        decoder: NmeaDecoder | None = None,
        max_line_bytes: int = 128,
        timeout_s: float = 0.5,
        stale_after_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            info,
            url,
            port_factory,
            timeout_s=timeout_s,
            stale_after_s=stale_after_s,
            slice_s=min(0.1, timeout_s),
            clock=clock,
        )
        self.decoder = decoder or NmeaDecoder()
        self.framer = LineFramer(max_line_bytes)
        self._pending: dict[str, Value] = {}

    @property
    def errors_total(self) -> int:
        """Sentences skipped for a fault, including over-long lines."""
        return self.decoder.stats.errors + self.framer.overlong_total

    def _reset(self) -> None:
        self.framer.reset()
        self.decoder.reset()
        self._pending.clear()

    def _feed(self, data: bytes) -> None:
        for line in self.framer.feed(data):
            self._pending.update(self.decoder.decode_line(line))

    def _take(self, quiet: bool) -> Values | None:
        if not quiet or not self._pending:
            return None
        values, self._pending = self._pending, {}
        values["nmea_errors_total"] = self.errors_total
        return values


def build(spec: DeviceSpec, ctx: BuildContext) -> NmeaGps:
    """Build an NMEA GPS from config.

    Options: ``url`` (required on hardware), ``baudrate`` (9600), ``timeout_s`` (0.5), ``stale_after_s`` (10),
    ``require_checksum`` (true), ``max_line_bytes`` (128), ``sim_noise`` (fraction of emulated sentences
    damaged, 0.02).
    """
    spec.check_unknown([*COMMON_OPTIONS, "require_checksum", "max_line_bytes"])
    opts = port_options(spec, ctx, baudrate=9600, stale_after_s=10.0, emulator=("nmea", 1.0, {}))
    decoder = NmeaDecoder(require_checksum=spec.opt_bool("require_checksum", True))
    info = SensorInfo(
        spec.id,
        spec.driver,
        FIELDS,
        0.0,
        simulated=opts.simulated,
        description="GPS receiver (NMEA 0183)",
        model="NMEA 0183",
    )
    return NmeaGps(
        info,
        opts.url,
        ctx.serial_port(spec.id, opts.url, opts.baudrate, min(0.1, opts.timeout_s)),
        decoder=decoder,
        max_line_bytes=spec.opt_int("max_line_bytes", 128, min=82, max=4096),
        timeout_s=opts.timeout_s,
        stale_after_s=opts.stale_after_s,
        clock=ctx.clock(spec.id),
    )
