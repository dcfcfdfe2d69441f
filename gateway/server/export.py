"""``GET /api/history`` and ``GET /api/events`` as ONE streamed response on the WebSocket port: the sniffing half.

websockets answers plain HTTP from ``process_request`` with one whole response, inside the handshake's
``open_timeout``. So the decision is taken before websockets reads a byte: :class:`StreamingConnection` (given
to ``serve(create_connection=...)``, the documented hook) starts websockets as usual but looks at the request
line first (:func:`gateway.protocol.httpstream.sniff`). Anything but an export is fed to websockets unchanged,
in the same callback: websockets alone owns those sockets. On an export request, websockets' handler task
(still waiting for a request it never gets, having written nothing) is cancelled and the gateway owns that
socket alone (one writer per socket): the owner (:class:`gateway.server.routes.HttpRoutes`) starts an export
job (:mod:`gateway.server.exportjob`, imported at the first export: a demo that never exports never loads it
nor the history streaming machinery), which runs the same checks as ``process_request`` and streams a chunked
body produced by a thread of its own through a bounded channel that follows the transport's flow control.
docs/history.md says why this is sound.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Protocol, cast

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request
from websockets.streams import StreamReader
from websockets.version import version as websockets_version

from gateway.protocol.httpstream import MAX_HEAD_BYTES, Sniff, head_end, sniff

log = logging.getLogger("gateway.server")

HEAD_TIMEOUT_S = 10.0
"""websockets' ``open_timeout`` (passed to ``serve``; its default): a connection must have sent its request (and,
for a WebSocket, finished its handshake) within this many seconds; while the request line is sniffed it is
what drops a slow-loris peer."""


class ExportSession(Protocol):
    """A taken-over export as its connection sees it (:class:`gateway.server.exportjob.ExportJob`)."""

    def lost(self) -> None:
        """The connection is gone: stop the producer."""

    def pause(self) -> None:
        """The transport's buffer is full."""

    def resume(self) -> None:
        """The transport's buffer drained."""


class ExportStarter(Protocol):
    """Who serves a taken-over export (implemented by :class:`gateway.server.routes.HttpRoutes`)."""

    def start_export(self, conn: ServerConnection, request: Request) -> ExportSession:
        """Run the export's checks and start it on ``conn``, which it owns from now on."""


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


def connection_class(owner: ExportStarter) -> type[ServerConnection]:
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

    owner: ExportStarter

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state = SNIFF
        self._buffer = bytearray()
        self._ws_task: asyncio.Task[None] | None = None
        self._job: ExportSession | None = None

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
        self._job = self.owner.start_export(self, request)


class Exports:
    """The server's exports in progress (for :data:`~gateway.server.exportjob.MAX_EXPORTS` and the stop)."""

    def __init__(self) -> None:
        self.active: set[ExportSession] = set()
        self.refused = 0
        """Exports answered 503 because :data:`~gateway.server.exportjob.MAX_EXPORTS` were streaming."""
        self.stalled = 0
        """Exports aborted after :data:`~gateway.server.exportjob.STALL_TIMEOUT_S` without the client reading."""

    def close(self) -> None:
        """Abort every export (the server stops): their producers end at their next chunk."""
        for job in list(self.active):
            job.lost()
