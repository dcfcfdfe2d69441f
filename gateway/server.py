"""The WebSocket + HTTP server: handshake checks, authentication, control messages, and the client lifecycle.

The data path does not pass through here: the hub flushes into :class:`gateway.fanout.FanOut`, which writes
to sockets directly. This module only pumps control messages in and replies out.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from gateway import __version__
from gateway.commands import CommandRouter
from gateway.config import Config
from gateway.fanout import Client, FanOut
from gateway.http import OriginPolicy, StaticFiles, json_response, response
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.protocol import PROTOCOL_VERSION
from gateway.protocol.control import Auth, Command, Ping, Resume, Subscribe, Unsubscribe, parse_control
from gateway.protocol.errors import ProtocolError
from gateway.protocol.model import SENSOR
from gateway.protocol.subscription import FULL, NONE, SubscriptionSet
from gateway.protocol.wire import encode_ack, encode_data, encode_error, encode_gap, encode_hello, encode_pong
from gateway.protocol.wire import encode_result as encode_cmd_result

log = logging.getLogger(__name__)

SUBPROTOCOL = "sensorcast.v1"
BEARER_PREFIX = "bearer."
CAPABILITIES = [
    "subscribe",
    "policy.instant",
    "policy.ideal",
    "policy.fixed",
    "agg",
    "resume",
    "command",
    "ping",
    "json",
]
CLOSE_POLICY = 1008
CLOSE_INVALID = 1007
RATE_WARNINGS = 3
"""Rate-limit errors a client may receive before it is closed with 1008."""


class TokenBucket:
    """Control message rate limiter (``rate_per_s`` sustained, ``burst`` at once)."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.stamp = clock()

    def take(self) -> bool:
        """Consume one token; False when the client is over its rate."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class GatewayServer:
    """Owns the listening socket; one :meth:`handler` call per WebSocket connection."""

    def __init__(
        self,
        config: Config,
        hub: Hub,
        fanout: FanOut,
        commands: CommandRouter,
        metrics: Metrics,
        health: Callable[[], dict[str, Any]],
        on_last_operator: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self.hub = hub
        self.fanout = fanout
        self.commands = commands
        self.metrics = metrics
        self.health = health
        self.on_last_operator = on_last_operator
        self.static = StaticFiles()
        sec = config.security
        self.origins = OriginPolicy(sec.allowed_origins, sec.allowed_hosts)
        self.tokens = {t.token.encode(): t.role for t in sec.tokens}
        self.tls = sec.tls_cert is not None
        self.server: Server | None = None
        self.operators = 0
        self.pending = 0
        for name, kind, text in (
            ("sensorcast_control_messages_total", "counter", "Control messages received"),
            ("sensorcast_bad_messages_total", "counter", "Malformed control messages"),
            ("sensorcast_auth_failures_total", "counter", "Rejected tokens"),
            ("sensorcast_handshakes_rejected_total", "counter", "HTTP/WebSocket requests refused by checks"),
        ):
            metrics.describe(name, kind, text)

    # -- tokens --------------------------------------------------------------------------------------------

    def role_for(self, token: str) -> str | None:
        """Return the role of ``token`` (constant-time compare against every configured token) or None."""
        given = token.encode()
        role = None
        for known, r in self.tokens.items():
            if hmac.compare_digest(given, known):
                role = r
        return role

    # -- HTTP side -----------------------------------------------------------------------------------------

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Host/Origin checks, plain HTTP routes, and the client limit (None: go on with the handshake)."""
        host = request.headers.get("Host")
        if not self.origins.host_ok(host):
            self.metrics.inc("sensorcast_handshakes_rejected_total", reason="host")
            return response(HTTPStatus.FORBIDDEN, "host not allowed (add it to security.allowed_hosts)\n")
        if not self.origins.origin_ok(request.headers.get("Origin"), host, self.tls):
            self.metrics.inc("sensorcast_handshakes_rejected_total", reason="origin")
            return response(HTTPStatus.FORBIDDEN, "origin not allowed (add it to security.allowed_origins)\n")
        path = urlsplit(request.path).path
        upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        if not upgrade:
            if path == "/healthz":
                body = self.health()
                ok = body["status"] != "down"
                return json_response(body, HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE)
            if path == "/metrics":
                return response(
                    HTTPStatus.OK,
                    self.metrics.render(),
                    "text/plain; version=0.0.4; charset=utf-8",
                    {"Cache-Control": "no-store"},
                )
            if path == "/" or path.startswith("/static/") or path == "/index.html":
                return self.static.get(path, request)
            return response(HTTPStatus.NOT_FOUND, "not found\n")
        if path != "/":
            return response(HTTPStatus.NOT_FOUND, "the WebSocket endpoint is /\n")
        if len(self.fanout.clients) + self.pending >= self.config.limits.max_clients:
            self.metrics.inc("sensorcast_handshakes_rejected_total", reason="max_clients")
            return response(HTTPStatus.SERVICE_UNAVAILABLE, "too many clients\n", extra={"Retry-After": "5"})
        return None

    @staticmethod
    def select_subprotocol(conn: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        """Accept ``sensorcast.v1`` when offered (a ``bearer.<token>`` offer rides along, never echoed)."""
        return Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None

    # -- WebSocket side ------------------------------------------------------------------------------------

    async def _authenticate(self, conn: ServerConnection) -> str | None:
        """Return the client's role; None when it was refused (the connection is then closed)."""
        if not self.tokens:
            return "operator"  # no tokens: only allowed on loopback or with --insecure
        offered = conn.request.headers.get_all("Sec-WebSocket-Protocol") if conn.request else []
        for item in (p.strip() for h in offered for p in h.split(",")):
            if item.startswith(BEARER_PREFIX):
                role = self.role_for(item[len(BEARER_PREFIX) :])
                if role:
                    return role
                await self._refuse(conn, None)
                return None
        try:
            async with asyncio.timeout(self.config.limits.auth_timeout_s):
                first = await conn.recv()
        except TimeoutError:
            await conn.send(encode_error(None, "auth_required", 'send {"t": "auth", "token": ...} first'))
            await conn.close(CLOSE_POLICY, "authentication required")
            return None
        try:
            msg = parse_control(first)
        except ProtocolError:
            msg = None
        if not isinstance(msg, Auth):
            await conn.send(
                encode_error(
                    getattr(msg, "ref", None),
                    "auth_required",
                    'this gateway requires a token: send {"t": "auth", "token": ...} first',
                )
            )
            await conn.close(CLOSE_POLICY, "authentication required")
            return None
        role = self.role_for(msg.token)
        if role is None:
            await self._refuse(conn, msg.ref)
            return None
        await conn.send(encode_ack(msg.ref, "auth"))
        return role

    async def _refuse(self, conn: ServerConnection, ref: object) -> None:
        self.metrics.inc("sensorcast_auth_failures_total")
        log.warning("rejected a token from %s", conn.remote_address[0] if conn.remote_address else "?")
        await conn.send(encode_error(ref, "auth_failed", "invalid token"))
        await conn.close(CLOSE_POLICY, "invalid token")

    def _hello(self, role: str | None) -> bytes:
        cfg = self.config
        cat = self.hub.catalogue()
        return encode_hello(
            v=PROTOCOL_VERSION,
            gw=self.hub.gateway_id,
            boot=self.hub.boot_id,
            seq=self.hub.flushed_seq,
            ts=time.time_ns(),
            clock_synced=self.hub.clock_synced(),
            role=role,
            server=f"sensorcast/{__version__}",
            caps=CAPABILITIES,
            sensors=cat["sensors"],
            actuators=cat["actuators"],
            limits={
                "flush_ms": cfg.gateway.flush_interval_ms,
                "batch_size": cfg.gateway.batch_size,
                "ring": cfg.gateway.ring_size,
                "max_message_bytes": cfg.limits.max_message_bytes,
                "control_rate_per_s": cfg.limits.control_rate_per_s,
                "client_buffer_frames": cfg.limits.client_buffer_frames,
            },
        )

    async def handler(self, conn: ServerConnection) -> None:
        """Serve one WebSocket connection until it closes."""
        self.pending += 1
        try:
            role = await self._authenticate(conn)
        except ConnectionClosed:
            role = None
        finally:
            self.pending -= 1
        if role is None:
            return
        client = Client(conn, self.config.limits, self.metrics, role)
        query = parse_qs(urlsplit(conn.request.path).query) if conn.request else {}
        start = NONE if query.get("subscribe", [""])[0] == "none" else FULL
        client.send(self._hello(role))
        self._set_subs(client, start)
        self.fanout.add(client)
        if role == "operator":
            self.operators += 1
        writer = asyncio.get_running_loop().create_task(client.writer(), name=f"writer-{client.name}")
        try:
            await self._read_loop(client)
        except ConnectionClosed:
            pass
        finally:
            client.closing = True
            self.fanout.remove(client)
            writer.cancel()
            if role == "operator":
                self.operators -= 1
                if self.operators == 0 and self.on_last_operator is not None:
                    await self.on_last_operator()

    def _set_subs(self, client: Client, subs: SubscriptionSet) -> None:
        if client.subs.empty and not subs.empty:
            client.live_from = self.hub.flushed_seq
        self.fanout.resubscribe(client, subs)

    async def _read_loop(self, client: Client) -> None:
        limits = self.config.limits
        bucket = TokenBucket(limits.control_rate_per_s, limits.control_burst)
        bad = 0
        rate_warnings = 0
        async for data in client.conn:
            self.metrics.inc("sensorcast_control_messages_total")
            if not bucket.take():
                rate_warnings += 1
                if rate_warnings > RATE_WARNINGS:
                    await client.conn.close(CLOSE_POLICY, "control message rate exceeded")
                    return
                client.send(
                    encode_error(None, "rate_limited", f"at most {limits.control_rate_per_s:g} messages/s")
                )
                continue
            try:
                msg = parse_control(data)
            except ProtocolError as exc:
                bad += 1
                self.metrics.inc("sensorcast_bad_messages_total")
                client.send(encode_error(exc.ref, exc.code, exc.msg))
                if bad > limits.max_bad_messages:
                    await client.conn.close(CLOSE_INVALID, "too many malformed messages")
                    return
                continue
            await self._handle(client, msg)

    async def _handle(self, client: Client, msg: Any) -> None:
        if isinstance(msg, Subscribe):
            self._set_subs(client, client.subs.add(msg.entries, replace=msg.replace))
            client.send(encode_ack(msg.ref, "subscribe"))
        elif isinstance(msg, Unsubscribe):
            self._set_subs(client, client.subs.remove(msg.paths))
            client.send(encode_ack(msg.ref, "unsubscribe"))
        elif isinstance(msg, Resume):
            self._resume(client, msg)
        elif isinstance(msg, Command):
            result = await self.commands.execute(
                msg.target, msg.value, role=client.role or "viewer", origin=f"ws {client.name}"
            )
            client.send(
                encode_cmd_result(
                    msg.ref, result.target, result.ok, result.value, result.error, result.retry_after_s
                )
            )
        elif isinstance(msg, Ping):
            client.send(encode_pong(msg.ref, time.time_ns(), msg.ts))
        elif isinstance(msg, Auth):
            client.send(encode_ack(msg.ref, "auth"))  # already authorised (or no tokens configured)

    def _resume(self, client: Client, msg: Resume) -> None:
        upto = client.live_from if not client.subs.empty else self.hub.flushed_seq
        plan = self.hub.ring.plan_resume(self.hub.boot_id, msg.boot, msg.seq, upto)
        for gap in plan.gaps:
            client.send(encode_gap(msg.ref, gap.boot, gap.first, gap.last, gap.reason))
        subs = client.subs
        out = []
        for r in plan.readings:
            route = subs.route(r[SENSOR])
            if route is not None:
                out.append(route.project(r))
        size = self.config.gateway.batch_size
        for i in range(0, len(out), size):
            chunk = out[i : i + size]
            client.send(encode_data(chunk, backfill=True), None)
        client.send(encode_ack(msg.ref, "resume"))

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> Server:
        """Bind and start serving."""
        cfg = self.config
        ssl_ctx = None
        if cfg.security.tls_cert and cfg.security.tls_key:
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_ctx.load_cert_chain(cfg.security.tls_cert, cfg.security.tls_key)
        lim = cfg.limits
        self.server = await serve(
            self.handler,
            cfg.gateway.host,
            cfg.gateway.port,
            process_request=self.process_request,
            select_subprotocol=self.select_subprotocol,
            max_size=lim.max_message_bytes,
            max_queue=16,
            ping_interval=lim.ping_interval_s or None,
            ping_timeout=lim.ping_timeout_s or None,
            compression="deflate" if lim.compression else None,
            ssl=ssl_ctx,
            server_header=None,
            close_timeout=1.0,
        )
        return self.server

    @property
    def port(self) -> int:
        """The bound TCP port (useful with port 0)."""
        assert self.server is not None
        return int(next(iter(self.server.sockets)).getsockname()[1])
