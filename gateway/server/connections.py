"""The WebSocket server: authentication, control messages, and the client lifecycle.

The data path does not pass through here: the hub flushes into :class:`gateway.server.fanout.FanOut`, which writes
to sockets directly. This module only pumps control messages in and replies out. Plain HTTP on the same port
(websockets' ``process_request``: Host/Origin checks, /healthz, /metrics, the dashboard, /api/*) is
:mod:`gateway.server.routes`; the tokens and their throttle, :mod:`gateway.server.tokens`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from gateway import __version__
from gateway.catalogue import Catalogue
from gateway.config import Config
from gateway.history.errors import UnknownField
from gateway.history.service import HistoryService
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.protocol import PROTOCOL_VERSION
from gateway.protocol.admission import FailureThrottle, PreAuthPool
from gateway.protocol.budget import RESUME_BURST_BYTES, RESUME_BYTES_PER_S, ResumeBudget
from gateway.protocol.control import (
    AckEvent,
    Auth,
    Command,
    Ping,
    Resume,
    Subscribe,
    Unsubscribe,
    parse_control,
)
from gateway.protocol.errors import ProtocolError
from gateway.protocol.hello import Hello
from gateway.protocol.history import History, encode_history_pages
from gateway.protocol.model import SENSOR
from gateway.protocol.ratelimit import ControlGate, Verdict
from gateway.protocol.seam import CommandHandler
from gateway.protocol.sessions import review_sessions
from gateway.protocol.subscription import FULL, MAX_SUBSCRIPTIONS, NONE, SubscriptionSet
from gateway.protocol.wire import (
    encode_ack,
    encode_data,
    encode_error,
    encode_gap,
    encode_hello,
    encode_pong,
    encode_status,
)
from gateway.protocol.wire import encode_result as encode_cmd_result
from gateway.server import export
from gateway.server.export import Exports, connection_class, streaming_supported
from gateway.server.fanout import Client, FanOut, close_within
from gateway.server.limits import (
    CLOSE_INVALID,
    CLOSE_POLICY,
    CLOSE_REVOKED,
    CLOSE_TIMEOUT_S,
    CLOSE_TRY_LATER,
    INCOMING_QUEUE_FRAMES,
)
from gateway.server.listen import bind
from gateway.server.routes import HttpRoutes
from gateway.server.tokens import TokenGate, peer_key

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
    "events",
]
CLOSE_WAIT_S = 1.5
"""How long a stop waits for every client's close (seconds): each is aborted after ``CLOSE_TIMEOUT_S`` anyway, so
this only bounds the stop if the server itself hangs."""


class _Resumes:
    """A connection's resume budget and the resume in flight (at most one)."""

    __slots__ = ("budget", "task")

    def __init__(self, budget: ResumeBudget) -> None:
        self.budget = budget
        self.task: asyncio.Task[None] | None = None


class GatewayServer:
    """Owns the listening socket; one :meth:`handler` call per WebSocket connection."""

    resume_bytes_per_s: float = RESUME_BYTES_PER_S
    """Each connection's resume budget (see :mod:`gateway.protocol.budget`)."""
    resume_burst_bytes: int = RESUME_BURST_BYTES
    after_hello: Callable[[], bytes | None] | None = None
    """A frame sent right after ``hello`` (the fleet's gateway list, gateway/fleet/app.py), or None."""

    def __init__(
        self,
        config: Config,
        hub: Hub,
        fanout: FanOut,
        commands: CommandHandler,
        metrics: Metrics,
        health: Callable[[], dict[str, Any]],
        on_last_operator: Callable[[], Awaitable[None]] | None = None,
        *,
        catalogue: Catalogue,
    ) -> None:
        self.config = config
        self.hub = hub
        self.catalogue = catalogue
        self.fanout = fanout
        self.commands = commands
        self.metrics = metrics
        self.health = health
        self.on_last_operator = on_last_operator
        self.rules: Any = None
        """The :class:`gateway.rules_runtime.RuleRunner` (set by the app): ``hello``'s events, ``ack_event``."""
        self.server: Server | None = None
        self.operators = 0
        lim = config.limits
        self.preauth: PreAuthPool[ServerConnection] = PreAuthPool(lim.preauth_max, lim.preauth_per_address)
        self.gate = TokenGate(
            {t.token.encode(): t.role for t in config.security.tokens},
            FailureThrottle(lim.auth_failures_burst, lim.auth_failure_rate_per_s),
            metrics,
        )
        self.http = HttpRoutes(config, metrics, health, self.gate, lambda: len(fanout.clients))
        """Plain HTTP on this port (``process_request``) and the streamed exports' checks."""
        self._waiting: dict[ServerConnection, asyncio.Timeout] = {}
        self._evicted: set[ServerConnection] = set()
        self._history_busy: set[Client] = set()
        self._sessions: dict[Client, bytes | None] = {}
        """Authorised clients and the token each showed (None: the gateway had no tokens then)."""
        self._closers: set[asyncio.Task[None]] = set()
        for name, kind, text in (
            ("sensorcast_control_messages_total", "counter", "Control messages received"),
            ("sensorcast_bad_messages_total", "counter", "Malformed control messages"),
            ("sensorcast_auth_failures_total", "counter", "Rejected tokens"),
            (
                "sensorcast_auth_throttled_total",
                "counter",
                "Token attempts refused unchecked (too many wrong)",
            ),
            (
                "sensorcast_preauth_evicted_total",
                "counter",
                "Unauthenticated connections closed to make room",
            ),
            ("sensorcast_preauth_connections", "gauge", "Connections waiting to authenticate"),
        ):
            metrics.describe(name, kind, text)
        metrics.describe(
            "sensorcast_handshakes_rejected_total",
            "counter",
            "HTTP/WebSocket requests refused by checks",
            ("reason",),
        )
        metrics.add_callback(lambda: [("sensorcast_preauth_connections", (), float(len(self.preauth)))])
        for name, kind, text in (
            (
                "sensorcast_history_exports",
                "gauge",
                "Streamed /api/history and /api/events answers in progress",
            ),
            (
                "sensorcast_history_exports_refused_total",
                "counter",
                "Exports refused 503 (too many streaming)",
            ),
            (
                "sensorcast_history_exports_stalled_total",
                "counter",
                "Exports aborted: the client stopped reading",
            ),
        ):
            metrics.describe(name, kind, text)
        metrics.add_callback(
            lambda: [
                ("sensorcast_history_exports", (), float(len(self.exports.active))),
                ("sensorcast_history_exports_refused_total", (), float(self.exports.refused)),
                ("sensorcast_history_exports_stalled_total", (), float(self.exports.stalled)),
            ]
        )

    @property
    def history(self) -> HistoryService | None:
        """The history store's queries (set by the app when ``[history] enabled``; adds the ``history`` cap and
        serves ``/api/history``, ``/api/events``)."""
        return self.http.history

    @history.setter
    def history(self, service: HistoryService | None) -> None:
        self.http.history = service

    @property
    def exports(self) -> Exports:
        """Streamed ``/api/history`` and ``/api/events`` answers in progress (gateway/server/exportjob.py)."""
        return self.http.exports

    def process_request(
        self, conn: ServerConnection, request: Request
    ) -> Response | Awaitable[Response] | None:
        """websockets' ``process_request`` hook: see :meth:`gateway.server.routes.HttpRoutes.process_request`."""
        return self.http.process_request(conn, request)

    # -- tokens --------------------------------------------------------------------------------------------

    @property
    def tokens(self) -> dict[bytes, str]:
        """Token -> role, as configured now."""
        return self.gate.tokens

    def role_for(self, token: str) -> str | None:
        """Return the role of ``token`` (constant-time compare against every configured token) or None."""
        return self.gate.role_for(token)

    def apply_tokens(self, tokens: dict[bytes, str]) -> tuple[int, int]:
        """Use ``tokens`` (token -> role) from now on, for open sessions too (a reload rotated them).

        Sessions whose token is gone get ``error auth_revoked`` and close 4401 at once; sessions whose token now
        has another role keep going with it (told by a ``status`` frame with ``role``). Returns (closed,
        changed)."""
        self.gate.tokens = tokens
        review = review_sessions(((c, t, c.role or "") for c, t in self._sessions.items()), tokens)
        for client, role in review.roles:
            self._change_role(client, role)
        for client in review.revoked:
            self._revoke(client)
        return len(review.revoked), len(review.roles)

    def _change_role(self, client: Client, role: str) -> None:
        was_operator = client.role == "operator"
        client.role = role
        client.send(encode_status(role=role))
        if was_operator != (role == "operator"):
            self._count_operator(client, +1 if role == "operator" else -1)

    def _count_operator(self, client: Client, delta: int) -> None:
        self.operators += delta
        if delta < 0 and self.operators == 0 and self.on_last_operator is not None:
            self._background(self.on_last_operator(), f"last-operator-{client.name}")

    def _revoke(self, client: Client) -> None:
        """End a session whose token a reload removed: no further reading or command reaches or comes from it."""
        self._sessions.pop(client, None)
        if client.role == "operator":
            self._count_operator(client, -1)
        client.role = None
        client.send(encode_error(None, "auth_revoked", "token revoked"))
        self.fanout.remove(client)
        client.closing = True
        self._background(close_within(client.conn, CLOSE_REVOKED, "token revoked"), f"revoke-{client.name}")

    def _background(self, work: Awaitable[None], name: str) -> None:
        async def run() -> None:
            await work

        task = asyncio.get_running_loop().create_task(run(), name=name)
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    # -- WebSocket side ------------------------------------------------------------------------------------

    @staticmethod
    def select_subprotocol(conn: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        """Accept ``sensorcast.v1`` when offered (a ``bearer.<token>`` offer rides along, never echoed)."""
        return Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None

    async def _authenticate(self, conn: ServerConnection) -> tuple[str, bytes | None] | None:
        """Return the client's role and the token it showed; None when it was refused (the connection is then
        closed)."""
        if not self.tokens:
            return "operator", None  # no tokens: only allowed on loopback or with --insecure
        address = peer_key(conn)
        offered = conn.request.headers.get_all("Sec-WebSocket-Protocol") if conn.request else []
        for item in (p.strip() for h in offered for p in h.split(",")):
            if item.startswith(BEARER_PREFIX):
                return await self._check_token(conn, address, item[len(BEARER_PREFIX) :], None, ack=False)
        victim = self.preauth.admit(address, conn)
        if victim is not None:
            self._evict_preauth(victim)
        try:
            first = await self._first_message(conn)
        finally:
            self.preauth.release(conn)
        if first is None:
            if conn in self._evicted:
                self._evicted.discard(conn)
                await conn.send(encode_error(None, "busy", "too many connections waiting to authenticate"))
                await close_within(conn, CLOSE_TRY_LATER, "too many unauthenticated connections")
                return None
            await conn.send(encode_error(None, "auth_required", 'send {"t": "auth", "token": ...} first'))
            await close_within(conn, CLOSE_POLICY, "authentication required")
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
            await close_within(conn, CLOSE_POLICY, "authentication required")
            return None
        return await self._check_token(conn, address, msg.token, msg.ref, ack=True)

    async def _first_message(self, conn: ServerConnection) -> str | bytes | None:
        """The first message, or None when the auth timeout passed or the pre-auth pool evicted ``conn``."""
        try:
            async with asyncio.timeout(self.config.limits.auth_timeout_s) as deadline:
                self._waiting[conn] = deadline
                if conn in self._evicted:
                    deadline.reschedule(asyncio.get_running_loop().time())
                return await conn.recv()
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(conn, None)

    def _evict_preauth(self, victim: ServerConnection) -> None:
        """End ``victim``'s wait for its first message now (its handler then closes it with 1013)."""
        self.metrics.inc("sensorcast_preauth_evicted_total")
        self._evicted.add(victim)
        deadline = self._waiting.get(victim)
        if deadline is not None:
            deadline.reschedule(asyncio.get_running_loop().time())

    async def _check_token(
        self, conn: ServerConnection, address: str, token: str, ref: object, *, ack: bool
    ) -> tuple[str, bytes] | None:
        now = time.monotonic()
        wait_s = self.gate.refused_for_s(address, now)
        if wait_s is not None:
            wait = math.ceil(wait_s)
            await conn.send(encode_error(ref, "rate_limited", f"too many wrong tokens: retry in {wait} s"))
            await close_within(conn, CLOSE_TRY_LATER, "too many wrong tokens")
            return None
        role = self.role_for(token)
        if role is None:
            await self._refuse(conn, address, now, ref)
            return None
        if ack:
            await conn.send(encode_ack(ref, "auth"))
        return role, token.encode()

    async def _refuse(self, conn: ServerConnection, address: str, now: float, ref: object) -> None:
        self.gate.count_failure(address, now)
        await conn.send(encode_error(ref, "auth_failed", "invalid token"))
        await close_within(conn, CLOSE_POLICY, "invalid token")

    def _hello(self, role: str | None) -> bytes:
        cfg = self.config
        return encode_hello(
            Hello(
                v=PROTOCOL_VERSION,
                gw=self.hub.gateway_id,
                boot=self.hub.boot_id,
                seq=self.hub.flushed_seq,
                ts=time.time_ns(),
                clock_synced=self.hub.clock_synced(),
                role=role,
                server=f"sensorcast/{__version__}",
                caps=CAPABILITIES + (["history"] if self.history is not None else []),
                listing=self.catalogue.listing(),
                rules=self.hub.rule_catalogue(),
                events=self.rules.active() if self.rules is not None else [],
                limits={
                    "flush_ms": cfg.gateway.flush_interval_ms,
                    "batch_size": cfg.gateway.batch_size,
                    "ring": cfg.gateway.ring_size,
                    "max_message_bytes": cfg.limits.max_message_bytes,
                    "control_rate_per_s": cfg.limits.control_rate_per_s,
                    "client_buffer_frames": cfg.limits.client_buffer_frames,
                    "max_subscriptions": MAX_SUBSCRIPTIONS,
                    "resume_bytes_per_s": self.resume_bytes_per_s,
                    "resume_burst_bytes": self.resume_burst_bytes,
                },
            )
        )

    async def handler(self, conn: ServerConnection) -> None:
        """Serve one WebSocket connection until it closes."""
        try:
            auth = await self._authenticate(conn)
        except ConnectionClosed:
            auth = None
        finally:
            self._evicted.discard(conn)
        if auth is None:
            return
        role, token = auth
        if (
            len(self.fanout.clients) >= self.config.limits.max_clients
        ):  # filled up while this one authenticated
            self.metrics.inc("sensorcast_handshakes_rejected_total", reason="max_clients")
            await close_within(conn, CLOSE_TRY_LATER, "too many clients")
            return
        client = Client(conn, self.config.limits, self.metrics, role)
        query = parse_qs(urlsplit(conn.request.path).query) if conn.request else {}
        start = NONE if query.get("subscribe", [""])[0] == "none" else FULL
        client.send(self._hello(role))
        extra = self.after_hello() if self.after_hello is not None else None
        if extra is not None:
            client.send(extra)
        self._set_subs(client, start)
        self.fanout.add(client)
        self._sessions[client] = token
        if role == "operator":
            self.operators += 1
        loop = asyncio.get_running_loop()
        writer = loop.create_task(client.writer(), name=f"writer-{client.name}")
        resumes = _Resumes(ResumeBudget(self.resume_bytes_per_s, self.resume_burst_bytes, now_s=loop.time()))
        try:
            await self._read_loop(client, resumes)
        except ConnectionClosed:
            pass
        finally:
            client.closing = True
            self.fanout.remove(client)
            writer.cancel()
            if resumes.task is not None:
                resumes.task.cancel()
            self._sessions.pop(client, None)
            if client.role == "operator":  # (a revoked session has no role left: counted out already)
                self.operators -= 1
                if self.operators == 0 and self.on_last_operator is not None:
                    await self.on_last_operator()

    def _set_subs(self, client: Client, subs: SubscriptionSet) -> None:
        if client.subs.empty and not subs.empty:
            client.live_from = self.hub.flushed_seq
        self.fanout.resubscribe(client, subs)

    async def _read_loop(self, client: Client, resumes: _Resumes) -> None:
        limits = self.config.limits
        gate = ControlGate(
            limits.control_rate_per_s, limits.control_burst, limits.max_bad_messages, time.monotonic()
        )
        async for data in client.conn:
            self.metrics.inc("sensorcast_control_messages_total")
            verdict = gate.message(time.monotonic())
            if verdict is Verdict.CLOSE:
                await close_within(client.conn, CLOSE_POLICY, "control message rate exceeded")
                return
            if verdict is Verdict.WARN:
                client.send(
                    encode_error(None, "rate_limited", f"at most {limits.control_rate_per_s:g} messages/s")
                )
                continue
            try:
                msg = parse_control(data)
            except ProtocolError as exc:
                self.metrics.inc("sensorcast_bad_messages_total")
                client.send(encode_error(exc.ref, exc.code, exc.msg))
                if gate.malformed() is Verdict.CLOSE:
                    await close_within(client.conn, CLOSE_INVALID, "too many malformed messages")
                    return
                continue
            await self._handle(client, msg, resumes)

    async def _handle(self, client: Client, msg: Any, resumes: _Resumes) -> None:
        if client not in self._sessions:
            return  # revoked by a reload: closing, nothing it sends counts any more
        if isinstance(msg, Subscribe):
            try:
                subs = client.subs.add(msg.entries, replace=msg.replace)
            except ProtocolError as exc:  # too many entries: the subscription stays as it was
                client.send(encode_error(msg.ref, exc.code, exc.msg))
                return
            self._set_subs(client, subs)
            client.send(encode_ack(msg.ref, "subscribe"))
        elif isinstance(msg, Unsubscribe):
            self._set_subs(client, client.subs.remove(msg.paths))
            client.send(encode_ack(msg.ref, "unsubscribe"))
        elif isinstance(msg, Resume):
            self._start_resume(client, msg, resumes)
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
        elif isinstance(msg, AckEvent):
            if client.role != "operator":
                client.send(encode_error(msg.ref, "forbidden", "operator role required"))
            elif self.rules is None or not self.rules.acknowledge(msg.rule, by=client.name):
                client.send(
                    encode_error(msg.ref, "not_active", "no unacknowledged active event for this rule")
                )
            else:
                client.send(encode_ack(msg.ref, "ack_event"))
        elif isinstance(msg, History):
            self._start_history(client, msg)

    def _start_history(self, client: Client, msg: History) -> None:
        """Answer ``history`` from a task (the query runs in the history thread); one at a time per client."""
        if self.history is None:
            client.send(encode_error(msg.ref, "unsupported", "history is off on this gateway"))
            return
        if client in self._history_busy:
            client.send(encode_error(msg.ref, "busy", "a history query is already in progress"))
            return
        self._history_busy.add(client)
        task = asyncio.get_running_loop().create_task(self._history(client, msg, self.history))
        task.add_done_callback(lambda _t: self._history_busy.discard(client))

    async def _history(self, client: Client, msg: History, service: HistoryService) -> None:
        period_ns = msg.period_ms * 1_000_000 if msg.period_ms is not None else None
        try:
            result = await service.query(
                msg.sensor, msg.fields, msg.from_ns, msg.to_ns, points=msg.points, period_ns=period_ns
            )
        except TimeoutError:
            client.send(encode_error(msg.ref, "timeout", "the history query took too long"))
            return
        except UnknownField as exc:
            client.send(encode_error(msg.ref, "unknown_field", str(exc)))
            return
        except FileNotFoundError:
            result = None
        if result is None:
            client.send(encode_error(msg.ref, "not_found", "no history for this sensor"))
            return
        header = {
            "t": "history",
            "ref": msg.ref,
            "sensor": msg.sensor,
            "tier": result.tier,
            "bucket_ns": result.bucket_ns,
            "fields": result.fields,
        }
        for frame in encode_history_pages(
            header, result.rows, self.config.limits.max_message_bytes, result.next_ns
        ):
            client.send(frame)

    def _start_resume(self, client: Client, msg: Resume, resumes: _Resumes) -> None:
        """Answer ``resume`` at once when the connection's budget allows, else in a task after the wait (one at a
        time: a second resume meanwhile gets ``error busy``)."""
        if client.subs.empty:
            client.send(
                encode_error(
                    msg.ref,
                    "not_subscribed",
                    "nothing resumed: a resume backfills the current subscription, which is empty; subscribe first",
                )
            )
            return
        budget = resumes.budget
        if not budget.begin():
            client.send(encode_error(msg.ref, "busy", "a resume is already in progress: wait for its ack"))
            return
        loop = asyncio.get_running_loop()
        upto = client.live_from
        nbytes = self.hub.ring.span_bytes(msg.seq if msg.boot == self.hub.boot_id else 0, upto)
        wait_s = budget.delay_s(loop.time(), nbytes)
        if wait_s <= 0:  # within budget: answered now, in order with the connection's other replies
            self._backfill(client, msg, upto, nbytes, 0.0, budget)
            return
        resumes.task = loop.create_task(
            self._deferred_resume(client, msg, upto, nbytes, wait_s, budget), name=f"resume-{client.name}"
        )

    async def _deferred_resume(
        self, client: Client, msg: Resume, upto: int, nbytes: int, wait_s: float, budget: ResumeBudget
    ) -> None:
        try:
            await asyncio.sleep(wait_s)
        except asyncio.CancelledError:
            budget.end()
            raise
        self._backfill(client, msg, upto, nbytes, wait_s, budget)

    def _backfill(
        self, client: Client, msg: Resume, upto: int, nbytes: int, wait_s: float, budget: ResumeBudget
    ) -> None:
        """Send what ``msg`` asks for (gaps, backfill, ack) and charge the ring bytes it reads to ``budget``."""
        try:
            budget.charge(asyncio.get_running_loop().time(), nbytes)
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
            extra = {"deferred_ms": round(wait_s * 1000)} if wait_s > 0 else {}
            client.send(encode_ack(msg.ref, "resume", n=len(out), **extra))
        finally:
            budget.end()

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> Server:
        """Bind and start serving."""
        cfg = self.config
        ssl_ctx = None
        if cfg.security.tls_cert and cfg.security.tls_key:
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_ctx.load_cert_chain(cfg.security.tls_cert, cfg.security.tls_key)
        lim = cfg.limits
        streaming: dict[str, Any] = {}
        if streaming_supported():
            streaming["create_connection"] = connection_class(self.http)

        def start(hosts: Sequence[str], port: int) -> Awaitable[Server]:
            # websockets hands ``host`` to loop.create_server untouched, which takes a list of addresses.
            host: Any = list(hosts)
            return serve(
                self.handler,
                host,
                port,
                process_request=self.process_request,
                select_subprotocol=self.select_subprotocol,
                max_size=lim.max_message_bytes,
                max_queue=INCOMING_QUEUE_FRAMES,
                ping_interval=lim.ping_interval_s or None,
                ping_timeout=lim.ping_timeout_s or None,
                compression="deflate" if lim.compression else None,
                ssl=ssl_ctx,
                server_header=None,
                close_timeout=CLOSE_TIMEOUT_S,
                open_timeout=export.HEAD_TIMEOUT_S,
                **streaming,
            )

        self.server = await bind(start, cfg.gateway.host, cfg.gateway.port)
        return self.server

    @property
    def port(self) -> int:
        """The bound TCP port (useful with port 0)."""
        assert self.server is not None
        return int(next(iter(self.server.sockets)).getsockname()[1])

    async def close(self, timeout_s: float = CLOSE_WAIT_S) -> None:
        """Stop listening and close every client with 1001 (going away), waiting at most ``timeout_s`` for them;
        nothing to do when not started."""
        self.exports.close()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), timeout_s)
