"""One streamed export (``GET /api/history``, ``GET /api/events``) once :mod:`gateway.server.export` took its
connection over: the checks, the producer thread and the loop side of its channel.

Imported at the first export (by :meth:`gateway.server.routes.HttpRoutes.start_export`): it and the history
streaming machinery it needs (:mod:`gateway.history.stream`, the writer ``sensorcast history export`` uses,
and :mod:`gateway.history.export`) stay out of a gateway that never exports.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Protocol, TextIO, cast
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from gateway.history.errors import UnknownField, unknown_sensor
from gateway.history.export import ExportError, parse_events, parse_export
from gateway.history.reader import HistoryReader
from gateway.history.stream import check_events_sensor, plan_history, write_events, write_history
from gateway.protocol.httpstream import LAST_CHUNK, encode_chunk
from gateway.server.export import Exports
from gateway.server.http import SECURITY_HEADERS, head_response, response

log = logging.getLogger("gateway.server")

STALL_TIMEOUT_S = 30.0
"""A client that reads nothing of an export for this long (seconds, socket buffer full) is aborted: its export
slot and thread are freed for someone who reads."""
PLAN_TIMEOUT_S = 10.0
"""The export's checks (sensor, fields, tier: a few indexed reads) must answer within this (seconds), else 503,
as a dashboard query that takes too long."""
MAX_EXPORTS = 2
"""Exports streaming at once (each is a thread reading SQLite and rendering rows, ~one core on a Pi); the next
gets 503 with ``Retry-After``."""
CHUNK_BYTES = 64 * 1024
"""Body bytes per HTTP chunk handed from the export thread to the loop."""
CHANNEL_CHUNKS = 4
"""Chunks in flight between the export thread and the socket (so at most ~256 KiB per export above the
transport's own buffer): the thread waits while the socket does not drain."""
RETRY_AFTER_S = 5


class ExportOwner(Protocol):
    """What an export needs from the server (implemented by :class:`gateway.server.routes.HttpRoutes`)."""

    exports: Exports

    def export_refusal(self, conn: ServerConnection, request: Request, path: str) -> Response | None:
        """The refusal ``process_request`` would give this request, or None (then ``history`` is not None)."""

    def export_reader(self) -> HistoryReader:
        """The history reader (only called after :meth:`export_refusal` returned None)."""


class Stopped(Exception):
    """The export's connection is gone (or never drained): the producer stops."""


class ExportJob:
    """One taken-over export: the checks, the producer thread, and the loop side of its channel."""

    _ids = itertools.count(1)

    def __init__(self, conn: ServerConnection, owner: ExportOwner, request: Request) -> None:
        self.conn = conn
        self.owner = owner
        self.request = request
        self.head_only = request.method == "HEAD"
        self.loop = conn.loop
        self.transport = conn.transport
        self.credits = threading.Semaphore(CHANNEL_CHUNKS)
        self.stopped = False
        self.paused = False
        self.owed = 0
        """Credits to give back to the producer when the socket drains."""
        self.stall: asyncio.TimerHandle | None = None
        self.plan_timer: asyncio.TimerHandle | None = None
        self.thread: threading.Thread | None = None
        self.counted = False
        self.started = False
        """The head went out: from now on an error can only truncate the body."""

    def start(self) -> None:
        """Run the checks; answer a refusal at once, else start the producer (which answers the head)."""
        path = urlsplit(self.request.path).path
        refusal = self.owner.export_refusal(self.conn, self.request, path)
        if refusal is not None:
            self.answer(refusal)
            return
        params = parse_qs(urlsplit(self.request.path).query, keep_blank_values=True, max_num_fields=32)
        try:
            work = self._work(path, params)
        except (ExportError, ValueError) as exc:
            text = f"{exc}\n" if isinstance(exc, ExportError) else "bad query\n"
            self.answer(response(HTTPStatus.BAD_REQUEST, text))
            return
        exports = self.owner.exports
        if len(exports.active) >= MAX_EXPORTS:
            exports.refused += 1
            self.answer(
                response(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    f"{MAX_EXPORTS} exports are already streaming: try again later\n",
                    extra={"Retry-After": str(RETRY_AFTER_S)},
                )
            )
            return
        exports.active.add(self)
        self.counted = True
        self.plan_timer = self.loop.call_later(PLAN_TIMEOUT_S, self._plan_timed_out)
        self.thread = threading.Thread(
            target=self._produce, args=(work,), name=f"history-export-{next(self._ids)}", daemon=True
        )
        self.thread.start()

    def _work(self, path: str, params: dict[str, list[str]]) -> Callable[[HistoryReader], None]:
        """The producer for this request (runs in the export thread); parameter errors raise here, on the loop."""
        now_ns = time.time_ns()
        if path == "/api/events":
            ev = parse_events(params, now_ns)

            def events(reader: HistoryReader) -> None:
                try:
                    error = check_events_sensor(reader, ev.sensor)
                except FileNotFoundError:  # no database yet: no events (as before the streaming)
                    reader = _EMPTY
                    error = None if ev.sensor is None else unknown_sensor(ev.sensor, [])
                if error is not None:  # a typo in ``sensor`` is a 404, as for /api/history, not an empty list
                    self._refuse(response(HTTPStatus.NOT_FOUND, error + "\n"))
                    return
                self._head(ev.format, "events")
                if not self.head_only:
                    with self._sink() as out:
                        write_events(reader, ev.sensor, ev.from_ns, ev.to_ns, ev.format, out)

            return events
        req = parse_export(params, now_ns)

        def history(reader: HistoryReader) -> None:
            try:
                plan = plan_history(
                    reader,
                    req.sensor,
                    req.fields,
                    req.from_ns,
                    req.to_ns,
                    period_ns=req.period_ns,
                    points=req.points,
                )
            except UnknownField as exc:
                self._refuse(response(HTTPStatus.BAD_REQUEST, f"{exc}\n"))
                return
            except FileNotFoundError:
                plan = None
            if plan is None:
                try:
                    names = reader.sensor_names()
                except FileNotFoundError:
                    names = []
                self._refuse(response(HTTPStatus.NOT_FOUND, unknown_sensor(req.sensor, names) + "\n"))
                return
            self._head(req.format, req.sensor)
            if not self.head_only:
                with self._sink() as out:
                    write_history(reader, plan, req.format, out)

        return history

    # -- producer thread -------------------------------------------------------------------------------------

    def _produce(self, work: Callable[[HistoryReader], None]) -> None:
        try:
            work(self.owner.export_reader())
        except Stopped:
            return
        except Exception:  # a failed export is one log line; the client sees a truncated body
            log.exception("history export failed")
            self._call(self.fail)
            return
        self._call(self.finish)

    def _call(self, fn: Callable[[], None]) -> bool:
        """Run ``fn`` on the loop; False when the loop or the connection is gone."""
        if self.stopped:
            return False
        try:
            self.loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop is closed: the process is stopping
            return False
        return True

    def _head(self, fmt: str, filename: str) -> None:
        ctype = "application/json" if fmt == "json" else "text/csv; charset=utf-8; header=present"
        headers = Headers(
            {
                "Content-Type": ctype,
                "Transfer-Encoding": "chunked",
                "Connection": "close",
                "Cache-Control": "no-store",
                "Date": formatdate(usegmt=True),
                "Server": "sensorcast",
                **SECURITY_HEADERS,
            }
        )
        if fmt == "csv":
            headers["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
        head = Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, b"").serialize()
        self._put(head, framed=False)

    def _refuse(self, resp: Response) -> None:
        if not self._call(lambda: self.answer(resp)):
            raise Stopped

    @contextlib.contextmanager
    def _sink(self) -> Iterator[TextIO]:
        sink = _ChunkSink(self._put)
        yield cast(TextIO, sink)
        sink.flush()

    def _put(self, data: bytes, framed: bool = True) -> None:
        """Hand ``data`` to the loop, waiting (bounded) for room in the channel."""
        if not self.credits.acquire(timeout=STALL_TIMEOUT_S + PLAN_TIMEOUT_S):
            raise Stopped  # the loop never freed a slot: it already aborted the connection, or is stuck
        if self.stopped or not self._call(lambda: self._deliver(data, framed)):
            raise Stopped

    # -- loop side -------------------------------------------------------------------------------------------

    def _deliver(self, data: bytes, framed: bool) -> None:
        if self.stopped:
            return
        if self.plan_timer is not None:
            self.plan_timer.cancel()
            self.plan_timer = None
        self.transport.write(encode_chunk(data) if framed else data)
        self.started = True
        if self.paused:
            self.owed += 1
        else:
            self.credits.release()

    def answer(self, resp: Response) -> None:
        """Write a whole (refusal) response and close."""
        if self.stopped:
            return
        if self.plan_timer is not None:
            self.plan_timer.cancel()
            self.plan_timer = None
        resp.headers["Connection"] = "close"
        self.transport.write((head_response(resp) if self.head_only else resp).serialize())
        self._end(close=True)

    def finish(self) -> None:
        """The whole body was written: the last chunk, then close (after the buffer drains)."""
        if self.stopped:
            return
        if not self.head_only:
            self.transport.write(LAST_CHUNK)
        self._end(close=True)

    def fail(self) -> None:
        """An error: 500 before the head, else abort without the last chunk (the client sees a truncated
        transfer, never a file that looks complete)."""
        if not self.started:
            self.answer(response(HTTPStatus.INTERNAL_SERVER_ERROR, "history export failed\n"))
            return
        self._end(close=False)

    def _plan_timed_out(self) -> None:
        self.plan_timer = None
        self.answer(
            response(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "history query timed out\n",
                extra={"Retry-After": str(RETRY_AFTER_S)},
            )
        )

    def pause(self) -> None:
        self.paused = True
        if self.stall is None:
            self.stall = self.loop.call_later(STALL_TIMEOUT_S, self._stalled)

    def resume(self) -> None:
        self.paused = False
        if self.stall is not None:
            self.stall.cancel()
            self.stall = None
        owed, self.owed = self.owed, 0
        if owed:
            self.credits.release(owed)

    def _stalled(self) -> None:
        self.stall = None
        self.owner.exports.stalled += 1
        self._end(close=False)

    def lost(self) -> None:
        """The connection is gone (closed by us, or by the client mid-stream): stop the producer."""
        self._end(close=False)

    def _end(self, close: bool) -> None:
        was = self.stopped
        self.stopped = True
        self.credits.release(CHANNEL_CHUNKS)  # wake a waiting producer: it sees ``stopped`` and ends
        for timer in (self.stall, self.plan_timer):
            if timer is not None:
                timer.cancel()
        self.stall = self.plan_timer = None
        if self.counted:
            self.counted = False
            self.owner.exports.active.discard(self)
        if not was:
            if close:
                self.transport.close()
            else:
                self.transport.abort()


class _ChunkSink:
    """A text sink (``write`` only) that hands ~:data:`CHUNK_BYTES` of UTF-8 at a time to ``emit``."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        self._emit = emit
        self._parts: list[str] = []
        self._size = 0

    def write(self, s: str) -> int:
        self._parts.append(s)
        self._size += len(s)
        if self._size >= CHUNK_BYTES:
            self.flush()
        return len(s)

    def flush(self) -> None:
        if self._parts:
            data = "".join(self._parts).encode()
            self._parts.clear()
            self._size = 0
            self._emit(data)


class _NoEvents:
    """A reader of a database that does not exist yet: no events."""

    def events(
        self, from_ns: int, to_ns: int, sensor: str | None = None
    ) -> tuple[list[dict[str, Any]], int | None]:
        return [], None


_EMPTY = cast(HistoryReader, _NoEvents())
