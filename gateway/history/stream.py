"""Streaming an export of any length with constant memory: used by ``sensorcast history export`` (to stdout)
and by ``GET /api/history`` / ``GET /api/events`` (to the socket, gateway/server/exportjob.py). Blocking; runs in
a thread of its own, never on the loop.

An export is planned first (:func:`plan_history`: the sensor exists, its fields exist, and the tier is chosen
ONCE for the whole range), so every error is known before the first byte is written; then :func:`write_history`
writes the document page by page (raw rows chunk by chunk, buckets :data:`~gateway.history.reader.MAX_POINTS`
at a time, all from the pinned tier).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from gateway.history.errors import unknown_sensor
from gateway.history.export import csv_header, csv_rows, write_events_csv
from gateway.history.policy import TierChoice
from gateway.history.reader import HistoryReader


@dataclass(frozen=True, slots=True)
class HistoryPlan:
    """A checked export: what to read, and from which tier (pinned for the whole range)."""

    sensor: str
    fields: tuple[str, ...]
    from_ns: int
    to_ns: int
    choice: TierChoice
    units: dict[str, str]


def plan_history(
    reader: HistoryReader,
    sensor: str,
    fields: Sequence[str],
    from_ns: int,
    to_ns: int,
    *,
    period_ns: int | None = None,
    points: int | None = None,
) -> HistoryPlan | None:
    """Check and plan an export. None: no history for ``sensor``. Raises
    :class:`~gateway.history.errors.UnknownField` (a field ``sensor`` never had) and FileNotFoundError (no
    database)."""
    choice = reader.choose(sensor, from_ns, to_ns, points=points, period_ns=period_ns)
    if choice is None:
        return None
    if fields:
        reader.check_fields(sensor, fields, from_ns, to_ns)
    elif choice.bucket_ns:
        # Buckets are read a page (MAX_POINTS buckets) at a time, and a page before the data starts names no
        # field: pin the columns now, so the header written first names the columns of every later page.
        fields = reader.first_fields(sensor, choice.tier, from_ns, to_ns)
    return HistoryPlan(sensor, tuple(fields), from_ns, to_ns, choice, reader.units(sensor))


def _peek(pages: Iterator[tuple[list[str], Any]]) -> tuple[list[str], Iterator[tuple[list[str], Any]]]:
    """The field names of the first page (known before any row is written), and all pages."""
    first = next(pages, None)
    if first is None:
        return [], iter(())

    def again() -> Iterator[tuple[list[str], Any]]:
        yield first
        yield from pages

    return first[0], again()


def _pages(reader: HistoryReader, plan: HistoryPlan) -> Iterator[tuple[list[str], Any]]:
    """(field names, rows) page by page from the pinned tier: raw rows chunk by chunk, or buckets."""
    if plan.choice.bucket_ns == 0:
        yield from reader.iter_raw(plan.sensor, plan.fields, plan.from_ns, plan.to_ns, plan.choice.tier)
        return
    cursor: int | None = plan.from_ns
    while cursor is not None:
        result = reader.query(plan.sensor, plan.fields, cursor, plan.to_ns, choice=plan.choice)
        if (
            result is None
        ):  # moved aside or emptied by retention while we read: the export must not look whole
            raise FileNotFoundError(f"history of {plan.sensor} vanished during the export")
        yield result.fields, result.rows
        cursor = result.next_ns


def write_history(
    reader: HistoryReader,
    plan: HistoryPlan,
    fmt: str,
    out: TextIO,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the whole export as CSV (header row with units, RFC 4180) or as one JSON document
    ``{"sensor","tier","bucket_ns","fields","units","rows","next":null}``. Returns the number of rows.
    ``progress(rows so far)`` is called after each page (a chunk of raw rows, or a page of buckets)."""
    names, pages = _peek(_pages(reader, plan))
    names = names or list(plan.fields)
    bucket_ns = plan.choice.bucket_ns
    n = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(csv_header(names, plan.units, bucket_ns))
        for _, rows in pages:
            for row in csv_rows(rows, bucket_ns):
                writer.writerow(row)
                n += 1
            if progress is not None:
                progress(n)
        return n
    head = {
        "sensor": plan.sensor,
        "tier": plan.choice.tier,
        "bucket_ns": bucket_ns,
        "fields": names,
        "units": {f: plan.units.get(f, "") for f in names},
    }
    out.write(json.dumps(head, separators=(",", ":"))[:-1] + ',"rows":[')
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    for _, rows in pages:
        for row in rows:
            out.write(("," if n else "") + dumps(list(row)))
            n += 1
        if progress is not None:
            progress(n)
    out.write('],"next":null}\n')
    return n


def check_events_sensor(reader: HistoryReader, sensor: str | None) -> str | None:
    """The unknown-sensor error (one line, as ``/api/history`` answers it) for an events export of ``sensor``,
    or None: no ``sensor`` filter, or ``sensor`` has readings or events stored (then an empty range is just
    empty). A typo must not look like a quiet sensor. Raises FileNotFoundError (no database)."""
    if sensor is None:
        return None
    known = reader.sensor_names(with_events=True)
    return None if sensor in known else unknown_sensor(sensor, known)


def write_events(
    reader: HistoryReader, sensor: str | None, from_ns: int, to_ns: int, fmt: str, out: TextIO
) -> int:
    """Write the stored rule events (of ``sensor``, or all) oldest first, page by page, as CSV or as
    ``{"events":[...],"next":null}``. Returns the number of events."""
    cursor: int | None = from_ns
    n = 0
    first = True
    if fmt == "json":
        out.write('{"events":[')
    while cursor is not None:
        events, cursor = reader.events(cursor, to_ns, sensor)
        if fmt == "csv":
            write_events_csv(out, events, header=first)
            first = False
        else:
            for e in events:
                out.write(("," if n else "") + json.dumps(e, separators=(",", ":")))
                n += 1
            continue
        n += len(events)
    if fmt == "json":
        out.write('],"next":null}\n')
    return n
