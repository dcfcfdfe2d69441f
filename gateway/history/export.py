"""``GET /api/history`` and ``sensorcast history export``: query parameters, CSV (RFC 4180) and JSON rendering.

websockets' ``process_request`` answers with one whole :class:`~websockets.http11.Response` (no streaming
body), so an HTTP export is bounded: at most :data:`MAX_HTTP_ROWS` rows per response; when more exist the
response carries the cursor (``Link: <...>; rel="next"``, ``X-Sensorcast-Next``, ``next`` in JSON) and the
client asks again from there. ``sensorcast history export`` reads the database file itself and streams any
range with constant memory.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from gateway.history.errors import MAX_ECHO_CHARS, echo
from gateway.history.reader import HistoryResult

MAX_HTTP_ROWS = 50_000
"""Rows in one HTTP response: about 3 MB of CSV, built in memory (websockets has no streaming body); the rest
follows the ``next`` cursor."""
FORMATS = ("csv", "json")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}


class ExportError(ValueError):
    """A bad query parameter; the text names it and is safe to send back."""


def parse_time_ns(text: str, key: str) -> int:
    """ISO-8601 (``2026-12-01``, ``2026-12-01T10:00:00.5+01:00``; UTC when no offset) or epoch seconds
    (fractions allowed) -> ns since the epoch."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not 0 <= seconds < 2**63 / 1e9:
            raise ExportError(f"{key}: epoch seconds out of range")
        whole, _, frac = text.partition(".")
        if whole.isdigit() and (not frac or frac.isdigit()):  # exact, no float rounding
            return int(whole) * 10**9 + int((frac + "0" * 9)[:9] or 0)
        return int(seconds * 1e9)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ExportError(f"{key}: expected ISO-8601 or epoch seconds, got {echo(text)}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 10**9 + dt.microsecond * 1000


def parse_duration_ns(text: str, key: str) -> int:
    """``60s``, ``5m``, ``1h``, ``1d``, ``500ms`` (a bare number is seconds) -> ns."""
    m = _DURATION.fullmatch(text.strip()) or _DURATION.fullmatch(text.strip() + "s")
    if m is None:
        raise ExportError(f"{key}: expected a duration such as 60s, 5m, 1h, 1d, got {echo(text)}")
    ns = int(float(m.group(1)) * _UNIT_NS[m.group(2)])
    if ns <= 0:
        raise ExportError(f"{key}: expected a duration > 0")
    return ns


MAX_FIELDS = 64
"""Fields one export may name: a sensor has a handful; the list is echoed in errors and bounded like the input."""


def parse_fields(text: str, key: str = "fields") -> tuple[str, ...]:
    """``a, b,a`` -> ``("a", "b")``: comma-separated names, spaces around them and repeats dropped, order kept.

    Raises:
        ExportError: more than :data:`MAX_FIELDS` names (naming ``key``).
    """
    fields = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    if len(fields) > MAX_FIELDS:
        raise ExportError(f"{key}: at most {MAX_FIELDS}")
    return fields


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """A validated export query."""

    sensor: str
    fields: tuple[str, ...]
    from_ns: int
    to_ns: int
    period_ns: int | None
    points: int | None
    format: str


HISTORY_PARAMS = ("sensor", "fields", "from", "to", "period", "points", "format")
"""The query keys ``/api/history`` knows (the paged fallback's next link uses the same)."""


def parse_export(params: Mapping[str, Sequence[str]], now_ns: int) -> ExportRequest:
    """Validate ``/api/history`` parameters (``to`` defaults to now, ``from`` to an hour before ``to``). An
    unknown one is an error (``form=`` for ``from=`` must not quietly give the last hour)."""
    for key in params:
        if key not in HISTORY_PARAMS:
            import difflib  # on a mistake only: difflib stays out of the running gateway

            # two guesses: "form" is as close to "format" as to "from"
            close = difflib.get_close_matches(key[:MAX_ECHO_CHARS], HISTORY_PARAMS, n=2)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise ExportError(f"{echo(key)}: unknown parameter{hint}; known: {', '.join(HISTORY_PARAMS)}")

    def one(key: str) -> str | None:
        values = params.get(key)
        if not values:
            return None
        if len(values) > 1:
            raise ExportError(f"{key}: given more than once")
        return values[0]

    sensor = one("sensor")
    if not sensor or len(sensor) > 64:
        raise ExportError("sensor: required (a sensor id)")
    fields = parse_fields(one("fields") or "")
    to_text, from_text = one("to"), one("from")
    to_ns = parse_time_ns(to_text, "to") if to_text else now_ns
    from_ns = parse_time_ns(from_text, "from") if from_text else to_ns - 3600 * 10**9
    if to_ns <= from_ns:
        raise ExportError("to: expected a time after 'from'")
    period_text, points_text = one("period"), one("points")
    if period_text and points_text:
        raise ExportError("period: give period or points, not both")
    period = parse_duration_ns(period_text, "period") if period_text else None
    points = None
    if points_text:
        if not points_text.isdigit() or not 1 <= int(points_text) <= 10_000:
            raise ExportError("points: expected an integer 1..10000")
        points = int(points_text)
    fmt = one("format") or "csv"
    if fmt not in FORMATS:
        raise ExportError("format: expected csv or json")
    return ExportRequest(sensor, fields, from_ns, to_ns, period, points, fmt)


def iso_utc(ts_ns: int) -> str:
    """``2026-12-05T12:00:00.123456Z`` (microseconds; ``ts_ns`` keeps the full precision)."""
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    return f"{_iso_second(seconds)}.{ns // 1000:06d}Z"


@functools.lru_cache(maxsize=4)
def _iso_second(seconds: int) -> str:
    """The date and time part of a whole second (cached: consecutive rows mostly share their second, and
    formatting a datetime costs more than the rest of a CSV row)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _label(field: str, unit: str, what: str = "") -> str:
    name = f"{field} {what}".strip()
    return f"{name} ({unit})" if unit else name


def csv_header(fields: Sequence[str], units: Mapping[str, str], bucket_ns: int) -> list[str]:
    """The header row: time columns, then per field its value (raw) or n/min/max/mean/last (buckets), with
    units."""
    head = ["time_utc", "ts_ns"]
    for f in fields:
        u = units.get(f, "")
        if bucket_ns:
            head += [f"{f} n", *(_label(f, u, what) for what in ("min", "max", "mean", "last"))]
        else:
            head.append(_label(f, u))
    return head


def csv_rows(rows: Iterable[Sequence[Any]], bucket_ns: int) -> Iterable[list[Any]]:
    """CSV rows for query rows (raw ``[t, v...]`` or buckets ``[t, cell...]``)."""
    if bucket_ns:
        for row in rows:
            t = row[0]
            out: list[Any] = [iso_utc(t), t]
            for cell in row[1:]:
                out += cell if cell is not None else [0, "", "", "", ""]
            yield out
    else:
        for row in rows:  # None is written as an empty field by the csv module
            yield [iso_utc(row[0]), *row]


def write_csv(out: TextIO, result: HistoryResult, units: Mapping[str, str], header: bool = True) -> None:
    """Write one page as RFC 4180 CSV (CRLF line ends, quoting where needed)."""
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(csv_header(result.fields, units, result.bucket_ns))
    writer.writerows(csv_rows(result.rows, result.bucket_ns))


def render(req: ExportRequest, result: HistoryResult, units: Mapping[str, str]) -> str:
    """The HTTP body of one page, CSV or JSON."""
    if req.format == "json":
        return json.dumps(
            {
                "sensor": req.sensor,
                "tier": result.tier,
                "bucket_ns": result.bucket_ns,
                "fields": result.fields,
                "units": {f: units.get(f, "") for f in result.fields},
                "rows": result.rows,
                "next": result.next_ns,
            },
            separators=(",", ":"),
        )
    buf = io.StringIO()
    write_csv(buf, result, units)
    return buf.getvalue()


EVENT_COLUMNS: tuple[str, ...] = (
    "sensor",
    "rule",
    "field",
    "state",
    "value",
    "threshold",
    "severity",
    "acked_by",
)
"""CSV columns of ``/api/events`` after the two time columns (the ``event`` body's keys, docs/protocol.md)."""
EVENTS_DEFAULT_SPAN_NS = 86400 * 10**9
"""``/api/events`` without ``from``: the day before ``to``."""


@dataclass(frozen=True, slots=True)
class EventsRequest:
    """A validated ``/api/events`` query."""

    sensor: str | None
    from_ns: int
    to_ns: int
    format: str


def parse_events(params: Mapping[str, Sequence[str]], now_ns: int) -> EventsRequest:
    """Validate ``/api/events`` parameters: ``sensor`` (optional), ``from``/``to`` as for ``/api/history``
    (``to`` defaults to now, ``from`` to a day before it), ``format`` csv or json."""
    for key, values in params.items():
        if key not in ("sensor", "from", "to", "format"):
            raise ExportError(f"{key[:40]}: unknown parameter; known: sensor, from, to, format")
        if len(values) > 1:
            raise ExportError(f"{key}: given more than once")
    one = {k: v[0] for k, v in params.items() if v}
    sensor = one.get("sensor") or None
    if sensor is not None and len(sensor) > 64:
        raise ExportError("sensor: expected a sensor id (1..64 characters)")
    to_ns = parse_time_ns(one["to"], "to") if "to" in one else now_ns
    from_ns = parse_time_ns(one["from"], "from") if "from" in one else to_ns - EVENTS_DEFAULT_SPAN_NS
    if to_ns <= from_ns:
        raise ExportError("to: expected a time after 'from'")
    fmt = one.get("format") or "json"
    if fmt not in FORMATS:
        raise ExportError("format: expected csv or json")
    return EventsRequest(sensor, from_ns, to_ns, fmt)


def _csv_threshold(value: Any) -> Any:
    return f"{value[0]}..{value[1]}" if isinstance(value, list) and len(value) == 2 else value


def write_events_csv(out: TextIO, events: Iterable[Mapping[str, Any]], header: bool = True) -> None:
    """Write rule events as RFC 4180 CSV: time, then :data:`EVENT_COLUMNS` (a range threshold as ``lo..hi``)."""
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(["time_utc", "ts_ns", *EVENT_COLUMNS])
    for e in events:
        ts = e["ts"]
        row = [e.get(k) for k in EVENT_COLUMNS]
        row[EVENT_COLUMNS.index("threshold")] = _csv_threshold(row[EVENT_COLUMNS.index("threshold")])
        writer.writerow([iso_utc(ts), ts, *row])


def render_events(req: EventsRequest, events: Sequence[Mapping[str, Any]], next_ns: int | None) -> str:
    """The HTTP body of one page of events, CSV or JSON (``{"events": [...], "next": ns or null}``)."""
    if req.format == "json":
        return json.dumps({"events": list(events), "next": next_ns}, separators=(",", ":"))
    buf = io.StringIO()
    write_events_csv(buf, events)
    return buf.getvalue()
