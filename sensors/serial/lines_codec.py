"""Line protocols that microcontrollers print: JSON lines, CSV with a header line, ``key=value`` pairs. Pure.

What a line means comes from config: each :class:`LineField` maps a key (JSON member, CSV column, or the key
of a pair) to a typed, unit-carrying field. Keys the config does not name are ignored; a line in which a named
key has a value of the wrong type is rejected as a whole, so a corrupted line never yields half a reading.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sensors.base import FieldKind, FieldSpec, Value

LineFormat = Literal["jsonl", "csv", "kv"]
FORMATS: tuple[LineFormat, ...] = ("jsonl", "csv", "kv")
MAX_STR_CHARS = 64
"""Longest string value kept (a display label, not a payload)."""

_KV_RE = re.compile(r"([A-Za-z_][\w.\-]*)\s*[=:]\s*(\"[^\"]*\"|[^\s,;]+)")
_TRUE = frozenset({"1", "true", "on", "yes", "high"})
_FALSE = frozenset({"0", "false", "off", "no", "low"})


class LineError(ValueError):
    """A line could not be turned into a reading (the reason is a short, user-facing phrase)."""


@dataclass(frozen=True, slots=True)
class LineField:
    """One configured field.

    Attributes:
        name: field name on the wire.
        key: JSON member / CSV column / pair key in the device's output.
        kind: wire type.
        unit: display unit.
        scale: numbers are multiplied by this (e.g. 0.001 for a millisecond counter published in seconds).
        min: plausibility bound, passed on to the catalogue.
        max: plausibility bound, passed on to the catalogue.
    """

    name: str
    key: str
    kind: FieldKind = "float"
    unit: str = ""
    scale: float = 1.0
    min: float | None = None
    max: float | None = None

    def spec(self) -> FieldSpec:
        """The catalogue entry of this field."""
        return FieldSpec(self.name, self.unit, self.kind, None, self.min, self.max)

    def convert(self, raw: Any) -> Value:
        """Return ``raw`` (a JSON value or a text cell) as this field's type.

        Raises:
            LineError: the value does not have the configured type.
        """
        if self.kind == "str":
            if isinstance(raw, bool | int | float | str):
                return str(raw)[:MAX_STR_CHARS]
            raise LineError(f"{self.key}: expected text")
        if self.kind == "bool":
            return _bool(raw, self.key)
        if isinstance(raw, str):
            text = raw.strip()
            try:
                number: float = int(text) if self.kind == "int" else float(text)
            except ValueError:
                raise LineError(
                    f"{self.key}: expected {'an integer' if self.kind == 'int' else 'a number'}"
                ) from None
        elif isinstance(raw, int | float) and not isinstance(raw, bool):
            number = raw
        else:
            raise LineError(f"{self.key}: expected a number")
        if not math.isfinite(number):
            raise LineError(f"{self.key}: not a finite number")
        if self.kind == "int":
            if isinstance(number, float) and not number.is_integer():
                raise LineError(f"{self.key}: expected an integer")
            return round(int(number) * self.scale)
        return float(number) * self.scale


def _bool(raw: Any, key: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise LineError(f"{key}: expected true/false")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class LineParser:
    """Parses one line at a time in one format.

    Args:
        fmt: ``jsonl``, ``csv`` or ``kv``.
        fields: the configured fields.
        delimiter: CSV delimiter.
        columns: CSV column names when the device prints no header; a header line, when one arrives, wins.

    Attributes:
        columns: the CSV columns in effect (None until a header was seen or configured).
    """

    def __init__(
        self,
        fmt: LineFormat,
        fields: Sequence[LineField],
        *,
        delimiter: str = ",",
        columns: Sequence[str] | None = None,
    ) -> None:
        self.fmt = fmt
        self.fields = tuple(fields)
        self.delimiter = delimiter
        self.columns: tuple[str, ...] | None = tuple(columns) if columns else None
        self._configured_columns = self.columns

    def reset(self) -> None:
        """Forget a header learnt from the stream (a re-opened Arduino prints it again after its reset)."""
        self.columns = self._configured_columns

    def parse(self, line: str) -> dict[str, Value] | None:
        """Return the reading of ``line``, or None when the line was a CSV header.

        Raises:
            LineError: the line does not parse, or a configured key has a wrongly typed value.
        """
        if self.fmt == "jsonl":
            record = self._json(line)
        elif self.fmt == "kv":
            record = {m.group(1): m.group(2).strip('"') for m in _KV_RE.finditer(line)}
            if not record:
                raise LineError("no key=value pairs")
        else:
            cells = next(csv.reader([line], delimiter=self.delimiter))
            cells = [c.strip() for c in cells]
            if cells and all(c and not _is_number(c) for c in cells):
                self.columns = tuple(cells)
                return None
            if self.columns is None:
                raise LineError("data before the CSV header")
            if len(cells) != len(self.columns):
                raise LineError(f"expected {len(self.columns)} columns, got {len(cells)}")
            record = dict(zip(self.columns, cells, strict=True))
        return self._values(record)

    def _json(self, line: str) -> Mapping[str, Any]:
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise LineError("not JSON") from None
        if not isinstance(record, dict):
            raise LineError("expected a JSON object")
        return record

    def _values(self, record: Mapping[str, Any]) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for f in self.fields:
            if f.key in record and record[f.key] is not None and record[f.key] != "":
                out[f.name] = f.convert(record[f.key])
        if not out:
            raise LineError("none of the configured keys")
        return out
