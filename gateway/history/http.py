"""``GET /api/history`` and ``GET /api/events``: the export endpoints (the server checks the token first). Run
the query off the loop."""

from __future__ import annotations

import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

from websockets.http11 import Request, Response

from gateway.history.errors import UnknownField, unknown_sensor
from gateway.history.export import (
    MAX_HTTP_ROWS,
    ExportError,
    parse_events,
    parse_export,
    render,
    render_events,
)
from gateway.history.service import HistoryService
from gateway.history.stream import check_events_sensor
from gateway.server.http import head_response, response

TIMED_OUT = "history query timed out\n"


def _bad(exc: Exception) -> Response:
    return response(HTTPStatus.BAD_REQUEST, f"{exc}\n" if isinstance(exc, ExportError) else "bad query\n")


def _timed_out() -> Response:
    return response(HTTPStatus.SERVICE_UNAVAILABLE, TIMED_OUT, extra={"Retry-After": "5"})


def _page(
    request: Request, params: dict[str, list[str]], fmt: str, filename: str, body: str, next_ns: int | None
) -> Response:
    """One page as CSV or JSON; ``Link: <...>; rel="next"`` and ``X-Sensorcast-Next`` when more follows."""
    ctype = "application/json" if fmt == "json" else "text/csv; charset=utf-8; header=present"
    extra = {"Cache-Control": "no-store"}
    if fmt == "csv":
        extra["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    if next_ns is not None:
        nxt = {k: v[0] for k, v in params.items() if k != "from"}
        nxt["from"] = f"{next_ns // 10**9}.{next_ns % 10**9:09d}"
        extra["Link"] = f'<{urlsplit(request.path).path}?{urlencode(nxt)}>; rel="next"'
        extra["X-Sensorcast-Next"] = nxt["from"]
    resp = response(HTTPStatus.OK, body, ctype, extra)
    return head_response(resp) if request.method == "HEAD" else resp


async def history_response(service: HistoryService, request: Request) -> Response:
    """Answer one export request (see :mod:`gateway.history.export` for the parameters and paging)."""
    params = parse_qs(urlsplit(request.path).query, keep_blank_values=True, max_num_fields=32)
    try:
        req = parse_export(params, time.time_ns())
    except (ExportError, ValueError) as exc:
        return _bad(exc)
    try:
        result = await service.query(
            req.sensor,
            req.fields,
            req.from_ns,
            req.to_ns,
            points=req.points,
            period_ns=req.period_ns,
            limit=MAX_HTTP_ROWS,
        )
        units = await service.run(lambda: service.reader.units(req.sensor)) if result is not None else {}
    except TimeoutError:
        return _timed_out()
    except UnknownField as exc:
        return response(HTTPStatus.BAD_REQUEST, f"{exc}\n")
    except FileNotFoundError:
        result = None
    if result is None:
        try:
            names = await service.run(service.reader.sensor_names)
        except (TimeoutError, FileNotFoundError):
            names = []
        return response(HTTPStatus.NOT_FOUND, unknown_sensor(req.sensor, names) + "\n")
    return _page(request, params, req.format, req.sensor, render(req, result, units), result.next_ns)


async def events_response(service: HistoryService, request: Request) -> Response:
    """Answer one ``/api/events`` request: stored rule events, oldest first, at most ``MAX_HTTP_ROWS`` (then
    ``Link: <...>; rel="next"`` as for ``/api/history``)."""
    params = parse_qs(urlsplit(request.path).query, keep_blank_values=True, max_num_fields=8)
    try:
        req = parse_events(params, time.time_ns())
    except (ExportError, ValueError) as exc:
        return _bad(exc)
    sensor = req.sensor
    try:
        error = await service.run(lambda: check_events_sensor(service.reader, sensor))
        events, next_ns = await service.events(req.from_ns, req.to_ns, sensor, limit=MAX_HTTP_ROWS)
    except TimeoutError:
        return _timed_out()
    except FileNotFoundError:
        error = None if sensor is None else unknown_sensor(sensor, [])
        events, next_ns = [], None
    if error is not None:  # a typo in ``sensor`` is a 404, as for /api/history, not an empty list
        return response(HTTPStatus.NOT_FOUND, error + "\n")
    return _page(request, params, req.format, "events", render_events(req, events, next_ns), next_ns)
