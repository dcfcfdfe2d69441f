"""Plain HTTP on the WebSocket port: websockets' ``process_request`` hook, its checks and its routes.

Header and method checks, Host/Origin checks, ``/healthz``, ``/metrics`` (with its token when protected),
the dashboard files, ``/api/history`` and ``/api/events`` (their token, and the paged answer where the
streamed one cannot be had), and the client limit a WebSocket upgrade meets. The streamed export
(:mod:`gateway.server.export`) runs the same checks through :meth:`HttpRoutes.export_refusal`. What follows a
WebSocket upgrade is :mod:`gateway.server.connections`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from gateway.config import Config
from gateway.metrics import Metrics
from gateway.server.export import Exports, ExportSession
from gateway.server.http import OriginPolicy, StaticFiles, head_response, json_response, response
from gateway.server.tokens import TokenGate, peer_key

if TYPE_CHECKING:
    from gateway.history.reader import HistoryReader
    from gateway.history.service import HistoryService

SINGLE_HEADERS = ("Host", "Origin", "Upgrade", "If-None-Match", "Authorization")
"""Headers read as one value: sent twice, the request is ambiguous and is answered 400."""
METHODS = ("GET", "HEAD")


class HttpRoutes:
    """Answers every request websockets reads before a handshake (and the streamed exports' checks)."""

    history: HistoryService | None = None
    """The history store's queries (set through the server's ``history``), or None: ``/api/*`` answer 404."""

    def __init__(
        self,
        config: Config,
        metrics: Metrics,
        health: Callable[[], dict[str, Any]],
        gate: TokenGate,
        clients: Callable[[], int],
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.health = health
        self.gate = gate
        self.clients = clients
        """How many WebSocket clients are authorised (the upgrade's limit)."""
        self.static = StaticFiles()
        sec = config.security
        self.origins = OriginPolicy(sec.allowed_origins, sec.allowed_hosts)
        self.tls = sec.tls_cert is not None
        self.exports = Exports()
        """Streamed ``/api/history`` and ``/api/events`` answers in progress (gateway/server/exportjob.py)."""

    def process_request(
        self, conn: ServerConnection, request: Request
    ) -> Response | Awaitable[Response] | None:
        """Header and method checks, Host/Origin checks, plain HTTP routes, and the client limit (None: go on
        with the handshake)."""
        refused = self._duplicate_headers(request)
        if refused is not None:
            return refused
        if request.method not in METHODS:
            self.metrics.inc("sensorcast_handshakes_rejected_total", reason="method")
            return response(
                HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD\n", extra={"Allow": ", ".join(METHODS)}
            )
        resp = self._route(conn, request)
        if request.method == "HEAD" and isinstance(resp, Response):
            return head_response(resp)
        return resp

    def _duplicate_headers(self, request: Request) -> Response | None:
        for name in SINGLE_HEADERS:
            if len(request.headers.get_all(name)) > 1:
                self.metrics.inc("sensorcast_handshakes_rejected_total", reason="duplicate_header")
                return response(HTTPStatus.BAD_REQUEST, f"more than one {name} header\n")
        return None

    def _host_origin(self, request: Request) -> Response | None:
        host = request.headers.get("Host")
        if not self.origins.host_ok(host):
            self.metrics.inc("sensorcast_handshakes_rejected_total", reason="host")
            return response(HTTPStatus.FORBIDDEN, "host not allowed (add it to security.allowed_hosts)\n")
        if not self.origins.origin_ok(request.headers.get("Origin"), host, self.tls):
            self.metrics.inc("sensorcast_handshakes_rejected_total", reason="origin")
            return response(HTTPStatus.FORBIDDEN, "origin not allowed (add it to security.allowed_origins)\n")
        return None

    # -- the streamed export (gateway/server/export.py) ------------------------------------------------------

    def start_export(self, conn: ServerConnection, request: Request) -> ExportSession:
        """Start the export ``conn`` was taken over for (its checks first); the job module is imported here, at
        the first export."""
        from gateway.server.exportjob import ExportJob

        job = ExportJob(conn, self, request)
        job.start()
        return job

    def export_refusal(self, conn: ServerConnection, request: Request, path: str) -> Response | None:
        """The refusal ``process_request`` gives a ``GET``/``HEAD`` of ``path`` (``/api/history`` or
        ``/api/events``), or None: then it is answered as one stream (gateway/server/exportjob.py)."""
        return (
            self._duplicate_headers(request)
            or self._host_origin(request)
            or self._history_refusal(conn, request, path)
        )

    def export_reader(self) -> HistoryReader:
        """The history store's reader, for a streamed export (after :meth:`export_refusal` returned None)."""
        assert self.history is not None
        return self.history.reader

    # -- routes ----------------------------------------------------------------------------------------------

    def _route(self, conn: ServerConnection, request: Request) -> Response | Awaitable[Response] | None:
        refused = self._host_origin(request)
        if refused is not None:
            return refused
        path = urlsplit(request.path).path
        upgrade = request.method == "GET" and "websocket" in request.headers.get("Upgrade", "").lower()
        if not upgrade:
            if path == "/healthz":
                body = self.health()
                ok = body["status"] != "down"
                return json_response(body, HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE)
            if path == "/metrics":
                if self.config.security.protect_metrics:
                    refused = self._metrics_auth(conn, request)
                    if refused is not None:
                        return refused
                return response(
                    HTTPStatus.OK,
                    self.metrics.render(),
                    "text/plain; version=0.0.4; charset=utf-8",
                    {"Cache-Control": "no-store"},
                )
            if path in ("/api/history", "/api/events"):
                return self._history_http(conn, request, path)
            if path == "/" or path.startswith("/static/") or path == "/index.html":
                return self.static.get(path, request)
            return response(HTTPStatus.NOT_FOUND, "not found\n")
        if path != "/":
            return response(HTTPStatus.NOT_FOUND, "the WebSocket endpoint is /\n")
        # Only authenticated clients count: connections still waiting for auth have their own budget
        # (the server's preauth pool), so silent peers cannot take the slots of token holders.
        if self.clients() >= self.config.limits.max_clients:
            self.metrics.inc("sensorcast_handshakes_rejected_total", reason="max_clients")
            return response(HTTPStatus.SERVICE_UNAVAILABLE, "too many clients\n", extra={"Retry-After": "5"})
        return None

    def _history_http(
        self, conn: ServerConnection, request: Request, path: str
    ) -> Response | Awaitable[Response]:
        """``/api/history``, ``/api/events`` in pages: only where websockets cannot be sniffed
        (:func:`gateway.server.export.streaming_supported`) or for a head longer than the sniffer reads (the
        paging module is imported here, at the first such request)."""
        refused = self._history_refusal(conn, request, path)
        if refused is not None:
            return refused
        assert self.history is not None
        from gateway.history.http import events_response, history_response

        if path == "/api/events":
            return events_response(self.history, request)
        return history_response(self.history, request)

    def _history_refusal(self, conn: ServerConnection, request: Request, path: str) -> Response | None:
        """``/api/history``, ``/api/events``: a token of any role when tokens are configured (header only, never
        the URL); 404 when history is off."""
        if self.gate.tokens:
            refused = self._metrics_auth(conn, request, path)
            if refused is not None:
                return refused
        if self.history is None:
            return response(HTTPStatus.NOT_FOUND, "history is off on this gateway ([history] enabled)\n")
        return None

    def _metrics_auth(
        self, conn: ServerConnection, request: Request, what: str = "/metrics"
    ) -> Response | None:
        """None when ``what`` carries ``Authorization: Bearer <token>`` of any role, else the refusal."""
        address = peer_key(conn)
        now = time.monotonic()
        wait_s = self.gate.refused_for_s(address, now)
        if wait_s is not None:
            return response(
                HTTPStatus.TOO_MANY_REQUESTS,
                "too many wrong tokens\n",
                extra={"Retry-After": str(math.ceil(wait_s))},
            )
        header = request.headers.get("Authorization")
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() == "bearer" and self.gate.role_for(token.strip()) is not None:
            return None
        if header is not None:
            self.gate.count_failure(address, now)
        return response(
            HTTPStatus.UNAUTHORIZED,
            f"this gateway needs Authorization: Bearer <token> on {what}\n",
            extra={"WWW-Authenticate": 'Bearer realm="sensorcast"'},
        )
