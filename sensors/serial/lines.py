"""Generic line-protocol sensor: a microcontroller (Arduino, ESP32, Pico) printing readings on a serial port.

Formats: ``jsonl`` (one JSON object per line), ``csv`` (a header line naming the columns, then values), and
``kv`` (``t=21.5 h=40`` pairs, separated by spaces, commas or semicolons, ``=`` or ``:``). Field names, keys,
types, units and scales come from config (see :func:`build`). One line is one reading.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast

from sensors.base import BuildContext, FieldKind, FieldSpec, SensorInfo, Value, Values
from sensors.serial.framing import LineFramer
from sensors.serial.lines_codec import FORMATS, LineError, LineField, LineFormat, LineParser
from sensors.serial.options import COMMON_OPTIONS, port_options
from sensors.serial.port import PortFactory, StreamingSerialSensor
from sensors.spec import DeviceSpec

MAX_PENDING_LINES = 64
"""Readings kept when the poller falls behind a fast printer; the oldest are dropped (and counted) beyond."""

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
_KINDS: tuple[FieldKind, ...] = ("float", "int", "bool", "str")


class LineSensor(StreamingSerialSensor):
    """One reading per valid line, plus ``line_errors_total`` (lines rejected so far).

    Args:
        info: catalogue entry.
        url: configured port URL.
        port_factory: opens the port.
        parser: the line parser.
        max_line_bytes: framing bound.
        timeout_s: see :class:`StreamingSerialSensor`.
        stale_after_s: see :class:`StreamingSerialSensor` (0: a quiet device is fine).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        info: SensorInfo,
        url: str,
        port_factory: PortFactory,
        parser: LineParser,
        *,
        max_line_bytes: int = 512,
        timeout_s: float = 0.5,
        stale_after_s: float = 0.0,
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
        self.parser = parser
        self.framer = LineFramer(max_line_bytes)
        self.bad_lines = 0
        self.dropped_lines = 0
        self._pending: deque[dict[str, Value]] = deque()

    @property
    def errors_total(self) -> int:
        """Rejected lines, over-long ones included."""
        return self.bad_lines + self.framer.overlong_total

    def _reset(self) -> None:
        self.framer.reset()
        self.parser.reset()
        self._pending.clear()

    def _feed(self, data: bytes) -> None:
        for raw in self.framer.feed(data):
            try:
                values = self.parser.parse(raw.decode("utf-8"))
            except (UnicodeDecodeError, LineError):
                self.bad_lines += 1
                continue
            if values is not None:
                self._pending.append(values)
                if len(self._pending) > MAX_PENDING_LINES:
                    self._pending.popleft()
                    self.dropped_lines += 1

    def _take(self, quiet: bool) -> Values | None:
        if not self._pending:
            return None
        values = self._pending.popleft()
        values["line_errors_total"] = self.errors_total
        return values


def parse_fields(spec: DeviceSpec) -> list[LineField]:
    """Read the ``fields`` option: a list of tables ``{name, key?, type?, unit?, scale?, min?, max?}``."""
    raw = spec.opt_list("fields")
    if not raw:
        raise spec.error(
            "fields", 'expected at least one field table, e.g. {name = "temperature_c", key = "t"}'
        )
    out: list[LineField] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"fields[{i}]"
        if not isinstance(item, dict):
            raise spec.error(where, f"expected a table, got {item!r}")
        for key in item:
            if key not in ("name", "key", "type", "unit", "scale", "min", "max"):
                raise spec.error(
                    f"{where}.{key}", "unknown key; known: key, max, min, name, scale, type, unit"
                )
        name = item.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name) or name == "line_errors_total":
            raise spec.error(
                f"{where}.name", f"expected a field name of [a-z0-9_] starting with a letter, got {name!r}"
            )
        if name in seen:
            raise spec.error(f"{where}.name", f"duplicate field name {name!r}")
        seen.add(name)
        key = item.get("key", name)
        kind = item.get("type", "float")
        unit = item.get("unit", "")
        if not isinstance(key, str) or not key:
            raise spec.error(f"{where}.key", f"expected the device's name for this value, got {key!r}")
        if kind not in _KINDS:
            raise spec.error(f"{where}.type", f"expected one of {', '.join(_KINDS)}, got {kind!r}")
        if not isinstance(unit, str):
            raise spec.error(f"{where}.unit", f"expected a string, got {unit!r}")
        nums: dict[str, float | None] = {}
        for opt, default in (("scale", 1.0), ("min", None), ("max", None)):
            value: Any = item.get(opt, default)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise spec.error(f"{where}.{opt}", f"expected a number, got {value!r}")
            nums[opt] = None if value is None else float(value)
        if kind in ("bool", "str") and item.keys() & {"scale", "min", "max"}:
            raise spec.error(where, f"scale/min/max apply to numbers, not to type {kind!r}")
        out.append(
            LineField(name, key, cast(FieldKind, kind), unit, nums["scale"] or 1.0, nums["min"], nums["max"])
        )
    return out


def build(spec: DeviceSpec, ctx: BuildContext) -> LineSensor:
    """Build a line-protocol sensor from config.

    Options: ``url`` (required on hardware), ``format`` (``jsonl``, ``csv``, ``kv``), ``fields`` (see
    :func:`parse_fields`), ``delimiter`` (CSV, ``","``), ``columns`` (CSV column names when the device
    prints no header), ``baudrate`` (115200), ``timeout_s`` (0.5), ``stale_after_s`` (0: off),
    ``max_line_bytes`` (512), ``sim_noise`` (0.02).
    The emulator prints keys ``soil``, ``lux``, ``pump``, ``ms``.
    """
    spec.check_unknown([*COMMON_OPTIONS, "format", "fields", "delimiter", "columns", "max_line_bytes"])
    fmt = cast(LineFormat, spec.opt_str("format", choices=FORMATS))
    fields = parse_fields(spec)
    delimiter = spec.opt_str("delimiter", ",")
    if len(delimiter) != 1 or delimiter in '\r\n"':
        raise spec.error("delimiter", f"expected one character such as ',' ';' or '\\t', got {delimiter!r}")
    columns: Sequence[str] | None = spec.opt_list("columns", []) or None
    if columns is not None and not all(isinstance(c, str) and c for c in columns):
        raise spec.error("columns", "expected a list of column names")
    opts = port_options(spec, ctx, baudrate=115200, stale_after_s=0.0, emulator=("lines", 0.05, {"fmt": fmt}))
    parser = LineParser(fmt, fields, delimiter=delimiter, columns=columns)
    specs = (
        *(f.spec() for f in fields),
        FieldSpec("line_errors_total", "", "int", None, 0, series="counter"),
    )
    info = SensorInfo(
        spec.id,
        spec.driver,
        specs,
        0.0,
        simulated=opts.simulated,
        description=f"serial line protocol ({fmt})",
        model=fmt,
    )
    return LineSensor(
        info,
        opts.url,
        ctx.serial_port(spec.id, opts.url, opts.baudrate, min(0.1, opts.timeout_s)),
        parser,
        max_line_bytes=spec.opt_int("max_line_bytes", 512, min=16, max=65536),
        timeout_s=opts.timeout_s,
        stale_after_s=opts.stale_after_s,
        clock=ctx.clock(spec.id),
    )
