"""Plantower PMS5003 / PMS7003 particulate-matter sensor (laser scattering, UART 9600 8N1).

Reference: Plantower PMS5003 data manual V2.3 (2016), PMS7003 data manual V2.5 (2016); both send the same
32-byte active-mode frame (see :mod:`sensors.serial.pms_codec`). On open the driver wakes the sensor and puts
it in active mode, so a module left asleep or in passive mode by another program starts streaming again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from sensors.base import BuildContext, FieldSpec, SensorInfo, Values
from sensors.serial.options import COMMON_OPTIONS, port_options
from sensors.serial.pms_codec import CMD_MODE, CMD_SLEEP, PmsDecoder, PmsFrame, encode_pms_command
from sensors.serial.port import PortFactory, SerialPort, StreamingSerialSensor
from sensors.spec import DeviceSpec

_UG = "µg/m³"
_DL = "#/dL"
FIELDS = (
    FieldSpec("pm1_0_ugm3", _UG, "int", "pm1", 0, 1000),
    FieldSpec("pm2_5_ugm3", _UG, "int", "pm25", 0, 1000),
    FieldSpec("pm10_ugm3", _UG, "int", "pm10", 0, 1000),
    FieldSpec("pm1_0_cf1_ugm3", _UG, "int", None, 0, 1000),
    FieldSpec("pm2_5_cf1_ugm3", _UG, "int", None, 0, 1000),
    FieldSpec("pm10_cf1_ugm3", _UG, "int", None, 0, 1000),
    FieldSpec("n0_3_per_dl", _DL, "int", None, 0),
    FieldSpec("n0_5_per_dl", _DL, "int", None, 0),
    FieldSpec("n1_0_per_dl", _DL, "int", None, 0),
    FieldSpec("n2_5_per_dl", _DL, "int", None, 0),
    FieldSpec("n5_0_per_dl", _DL, "int", None, 0),
    FieldSpec("n10_per_dl", _DL, "int", None, 0),
    FieldSpec("frame_errors_total", "", "int", None, 0, series="counter"),
)

MAX_PENDING_FRAMES = 8
"""Frames kept when the poller falls behind (the sensor sends about one a second; older ones are stale)."""


def frame_values(frame: PmsFrame) -> dict[str, int]:
    """Return the wire fields of one frame (without the error counter)."""
    return {
        "pm1_0_ugm3": frame.pm1_0,
        "pm2_5_ugm3": frame.pm2_5,
        "pm10_ugm3": frame.pm10,
        "pm1_0_cf1_ugm3": frame.pm1_0_cf1,
        "pm2_5_cf1_ugm3": frame.pm2_5_cf1,
        "pm10_cf1_ugm3": frame.pm10_cf1,
        "n0_3_per_dl": frame.n0_3,
        "n0_5_per_dl": frame.n0_5,
        "n1_0_per_dl": frame.n1_0,
        "n2_5_per_dl": frame.n2_5,
        "n5_0_per_dl": frame.n5_0,
        "n10_per_dl": frame.n10,
    }


class PmsSensor(StreamingSerialSensor):
    """PMS5003/PMS7003 in active mode: one reading per frame, plus ``frame_errors_total`` (bad candidates).

    Args:
        info: catalogue entry.
        url: configured port URL.
        port_factory: opens the port.
        wake_on_open: send "wake up" and "active mode" after opening.
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
        wake_on_open: bool = True,
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
        self.decoder = PmsDecoder()
        self.wake_on_open = wake_on_open
        self.dropped_frames = 0
        self._frames: deque[PmsFrame] = deque()

    def _on_open(self, port: SerialPort) -> None:
        if self.wake_on_open:
            port.write(encode_pms_command(CMD_SLEEP, 1) + encode_pms_command(CMD_MODE, 1))

    def _reset(self) -> None:
        self.decoder.reset()
        self._frames.clear()

    def _feed(self, data: bytes) -> None:
        self._frames.extend(self.decoder.feed(data))
        while len(self._frames) > MAX_PENDING_FRAMES:
            self._frames.popleft()
            self.dropped_frames += 1

    def _take(self, quiet: bool) -> Values | None:
        if not self._frames:
            return None
        values: dict[str, int] = frame_values(self._frames.popleft())
        values["frame_errors_total"] = self.decoder.errors
        return values


def build(spec: DeviceSpec, ctx: BuildContext) -> PmsSensor:
    """Build a PMS5003/PMS7003 from config.

    Options: ``url`` (required on hardware), ``baudrate`` (9600), ``timeout_s`` (0.5), ``stale_after_s`` (10),
    ``wake_on_open`` (true), ``sim_noise`` (0.02).
    """
    spec.check_unknown([*COMMON_OPTIONS, "wake_on_open"])
    opts = port_options(spec, ctx, baudrate=9600, stale_after_s=10.0, emulator=("pms", 0.05, {}))
    model = "PMS7003" if spec.driver == "pms7003" else "PMS5003"
    info = SensorInfo(
        spec.id,
        spec.driver,
        FIELDS,
        0.0,
        simulated=opts.simulated,
        description="particulate matter (laser scattering)",
        model=model,
    )
    return PmsSensor(
        info,
        opts.url,
        ctx.serial_port(spec.id, opts.url, opts.baudrate, min(0.1, opts.timeout_s)),
        wake_on_open=spec.opt_bool("wake_on_open", True),
        timeout_s=opts.timeout_s,
        stale_after_s=opts.stale_after_s,
        clock=ctx.clock(spec.id),
    )
