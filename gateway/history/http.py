"""``GET /api/history`` and ``GET /api/events``: the export endpoints (the server checks the token first). Run
the query off the loop."""

from __future__ import annotations

import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

from websockets.http11 import Request, Response

from gateway.history.export import (
    MAX_HTTP_ROWS,
    ExportError,
    parse_events,
    parse_export,
    render,
    render_events,
)
from gateway.history.service import HistoryService
from gateway.server.http import head_response, response


async def history_response(service: HistoryService, request: Request) -> Response:
    """Answer one export request (see :mod:`gateway.history.export` for the parameters and paging)."""
    url = urlsplit(request.path)
    params = parse_qs(url.query, keep_blank_values=True, max_num_fields=32)
    try:
        req = parse_export(params, time.time_ns())
    except (ExportError, ValueError) as exc:
        return response(HTTPStatus.BAD_REQUEST, f"{exc}\n" if isinstance(exc, ExportError) else "bad query\n")
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
        return response(
            HTTPStatus.SERVICE_UNAVAILABLE, "history query timed out\n", extra={"Retry-After": "5"}
        )
    except FileNotFoundError:
        result = None
    if result is None:
        return response(HTTPStatus.NOT_FOUND, "no history for this sensor\n")
    ctype = "application/json" if req.format == "json" else "text/csv; charset=utf-8; header=present"
    extra = {"Cache-Control": "no-store"}
    if req.format == "csv":
        extra["Content-Disposition"] = f'attachment; filename="{req.sensor}.csv"'
    if result.next_ns is not None:
        nxt = {k: v[0] for k, v in params.items() if k != "from"}
        nxt["from"] = f"{result.next_ns // 10**9}.{result.next_ns % 10**9:09d}"
        extra["Link"] = f'<{url.path}?{urlencode(nxt)}>; rel="next"'
        extra["X-Sensorcast-Next"] = nxt["from"]
    resp = response(HTTPStatus.OK, render(req, result, units), ctype, extra)
    return head_response(resp) if request.method == "HEAD" else resp


async def events_response(service: HistoryService, request: Request) -> Response:
    """Answer one ``/api/events`` request: stored rule events, oldest first, at most ``MAX_HTTP_ROWS`` (then
    ``Link: <...>; rel="next"`` as for ``/api/history``)."""
    url = urlsplit(request.path)
    params = parse_qs(url.query, keep_blank_values=True, max_num_fields=8)
    try:
        req = parse_events(params, time.time_ns())
    except (ExportError, ValueError) as exc:
        return response(HTTPStatus.BAD_REQUEST, f"{exc}\n" if isinstance(exc, ExportError) else "bad query\n")
    try:
        events, next_ns = await service.events(req.from_ns, req.to_ns, req.sensor, limit=MAX_HTTP_ROWS)
    except TimeoutError:
        return response(
            HTTPStatus.SERVICE_UNAVAILABLE, "history query timed out\n", extra={"Retry-After": "5"}
        )
    except FileNotFoundError:
        events, next_ns = [], None
    ctype = "application/json" if req.format == "json" else "text/csv; charset=utf-8; header=present"
    extra = {"Cache-Control": "no-store"}
    if req.format == "csv":
        extra["Content-Disposition"] = 'attachment; filename="events.csv"'
    if next_ns is not None:
        nxt = {k: v[0] for k, v in params.items() if k != "from"}
        nxt["from"] = f"{next_ns // 10**9}.{next_ns % 10**9:09d}"
        extra["Link"] = f'<{url.path}?{urlencode(nxt)}>; rel="next"'
        extra["X-Sensorcast-Next"] = nxt["from"]
    resp = response(HTTPStatus.OK, render_events(req, events, next_ns), ctype, extra)
    return head_response(resp) if request.method == "HEAD" else resp
