"""``GET /api/history`` and ``GET /api/events`` as ONE streamed response on the WebSocket port.

websockets answers plain HTTP from ``process_request`` with one whole response, inside the handshake's
``open_timeout``. So the decision is taken before websockets reads a byte: :class:`StreamingConnection` (given
to ``serve(create_connection=...)``, the documented hook) starts websockets as usual but looks at the request
line first (:func:`gateway.protocol.httpstream.sniff`). Anything but an export is fed to websockets unchanged,
in the same callback: websockets alone owns those sockets. On an export request, websockets' handler task
(still waiting for a request it never gets, having written nothing) is cancelled and the gateway owns that
socket alone (one writer per socket): it runs the same checks as ``process_request``
(:meth:`GatewayServer.export_refusal`) and streams a chunked body produced by a thread of its own
(:mod:`gateway.history.stream`, the writer ``sensorcast history export`` uses) through a bounded channel that
follows the transport's flow control. docs/history.md says why this is sound.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Protocol, TextIO, cast
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.streams import StreamReader
from websockets.version import version as websockets_version

from gateway.history.errors import UnknownField, unknown_sensor
from gateway.history.export import ExportError, parse_events, parse_export
from gateway.history.reader import HistoryReader
from gateway.history.stream import plan_history, write_events, write_history
from gateway.protocol.httpstream import LAST_CHUNK, MAX_HEAD_BYTES, Sniff, encode_chunk, head_end, sniff
from gateway.server.http import SECURITY_HEADERS, head_response, response

log = logging.getLogger("gateway.server")

HEAD_TIMEOUT_S = 10.0
"""websockets' ``open_timeout`` (passed to ``serve``; its default): a connection must have sent its request (and,
for a WebSocket, finished its handshake) within this many seconds; while the request line is sniffed it is
what drops a slow-loris peer."""
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
    """What an export needs from the server (implemented by :class:`gateway.server.connections.GatewayServer`)."""

    exports: Exports

    def export_refusal(self, conn: ServerConnection, request: Request, path: str) -> Response | None:
        """The refusal ``process_request`` would give this request, or None (then ``history`` is not None)."""

    def export_reader(self) -> HistoryReader:
        """The history reader (only called after :meth:`export_refusal` returned None)."""


class Stopped(Exception):
    """The export's connection is gone (or never drained): the producer stops."""


_OVERRIDDEN = (
    "connection_made",
    "data_received",
    "eof_received",
    "connection_lost",
    "pause_writing",
    "resume_writing",
)


def streaming_supported() -> bool:
    """Whether this websockets has what :class:`StreamingConnection` relies on (checked once at start-up; when
    not, ``/api/history`` keeps the paged ``process_request`` answer and one log line says so)."""
    missing = [name for name in _OVERRIDDEN if not callable(getattr(ServerConnection, name, None))]
    if "create_connection" not in inspect.signature(serve).parameters:
        missing.append("serve(create_connection=)")
    if not callable(getattr(Request, "parse", None)) or not hasattr(StreamReader, "read_line"):
        missing.append("http11.Request.parse")
    if missing:
        log.warning(
            "websockets %s lacks %s: /api/history answers in pages (Link rel=next) instead of one stream",
            websockets_version,
            ", ".join(missing),
        )
    return not missing


def parse_head(head: bytes) -> Request | None:
    """The request parsed with websockets' own parser; None when websockets would refuse it (then it is handed
    over, and websockets answers it as it answers any bad request)."""
    reader = StreamReader()
    reader.feed_data(head)
    reader.feed_eof()
    parser = Request.parse(reader.read_line)
    try:
        next(parser)
    except StopIteration as done:
        return cast(Request, done.value)
    except Exception:  # any parse error: websockets answers it
        return None
    return None  # pragma: no cover - the whole head was fed, the parser cannot wait for more


def connection_class(owner: ExportOwner) -> type[ServerConnection]:
    """A :class:`StreamingConnection` subclass serving ``owner``'s exports (one per server)."""

    class Connection(StreamingConnection):
        pass

    Connection.owner = owner
    return Connection


SNIFF, WEBSOCKETS, EXPORT = object(), object(), object()
"""A :class:`StreamingConnection`'s states: reading the request line; websockets' alone; an export."""


class StreamingConnection(ServerConnection):
    """A websockets connection that looks at the request line before websockets reads it: export requests are
    served here, every other request is fed to websockets unchanged (see the module docstring).

    websockets starts as always when the connection is made (its handler task waits for the request under
    ``open_timeout``, :data:`HEAD_TIMEOUT_S`, which also drops a slow-loris peer while we sniff), so connections
    are scheduled exactly as without the sniffer. Only the bytes wait, for at most the request line: on an
    export, websockets' handler task is cancelled while it still waits for a request it never gets (it has
    written nothing), and the export owns the socket from then on."""

    owner: ExportOwner

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state = SNIFF
        self._buffer = bytearray()
        self._ws_task: asyncio.Task[None] | None = None
        self._job: ExportJob | None = None

    # -- asyncio.Protocol: each callback goes to the state's owner -------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        before = set(self.server.handler_tasks)
        super().connection_made(transport)
        started = set(self.server.handler_tasks) - before
        if len(started) == 1:
            self._ws_task = started.pop()
        else:  # a websockets that starts its handler elsewhere: never take over (the paged answer stays)
            self._state = WEBSOCKETS

    def data_received(self, data: bytes) -> None:
        if self._state is WEBSOCKETS:
            super().data_received(data)
        elif self._state is SNIFF:
            self._sniff(data)
        # EXPORT: reading is paused after the head (a request body or a pipelined request is ignored)

    def eof_received(self) -> None:
        if self._state is SNIFF:  # a request cut short: websockets answers it as it always did
            self._hand_over()
        if self._state is WEBSOCKETS:
            super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._job is not None:
            self._job.lost()
        else:
            super().connection_lost(exc)

    def pause_writing(self) -> None:
        if self._job is not None:
            self._job.pause()
        else:
            super().pause_writing()

    def resume_writing(self) -> None:
        if self._job is not None:
            self._job.resume()
        else:
            super().resume_writing()

    # -- the decision ----------------------------------------------------------------------------------------

    def _sniff(self, data: bytes) -> None:
        self._buffer += data
        decision = sniff(bytes(self._buffer[:32]))
        if decision is Sniff.MORE:
            return
        end = head_end(bytes(self._buffer))
        if decision is Sniff.HAND_OVER or (end is None and len(self._buffer) > MAX_HEAD_BYTES):
            self._hand_over()
            return
        if end is None:
            return
        request = parse_head(bytes(self._buffer[:end]))
        if request is None or end > MAX_HEAD_BYTES:
            self._hand_over()
            return
        self._take_over(request)

    def _hand_over(self) -> None:
        self._state = WEBSOCKETS
        data, self._buffer = bytes(self._buffer), bytearray()
        super().data_received(data)

    def _take_over(self, request: Request) -> None:
        self._state = EXPORT
        self._buffer = bytearray()
        assert self._ws_task is not None
        self._ws_task.cancel()  # it waits for request_rcvd, which is never set: it writes nothing, ever
        self.transport.pause_reading()
        self.request = request
        self._job = ExportJob(self, self.owner, request)
        self._job.start()


class ExportJob:
    """One taken-over export: the checks, the producer thread, and the loop side of its channel."""

    _ids = itertools.count(1)

    def __init__(self, conn: StreamingConnection, owner: ExportOwner, request: Request) -> None:
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
                    reader.sensor_names()
                except FileNotFoundError:  # no database yet: no events (as before the streaming)
                    reader = _EMPTY
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


class Exports:
    """The server's exports in progress (for :data:`MAX_EXPORTS` and the stop)."""

    def __init__(self) -> None:
        self.active: set[ExportJob] = set()
        self.refused = 0
        """Exports answered 503 because :data:`MAX_EXPORTS` were streaming."""
        self.stalled = 0
        """Exports aborted after :data:`STALL_TIMEOUT_S` without the client reading."""

    def close(self) -> None:
        """Abort every export (the server stops): their producers end at their next chunk."""
        for job in list(self.active):
            job.lost()
