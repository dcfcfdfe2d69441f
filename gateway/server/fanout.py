"""Fan-out: encode once per distinct subscription, write to every client without waiting on any of them.

Fast path: clients whose socket keeps up (transport backlog under ``write_buffer_bytes`` and nothing queued)
get the frame through :func:`write_to_all` - a synchronous write of a WebSocket frame serialized once, no
await, no per-client task switch.
Slow path: a client that falls behind gets its frames in its own bounded queue, drained by its own writer
task. When that queue overflows, queued data frames are coalesced to the latest reading per sensor, the client
is told how much it lost (``status.drop``), and past the hard limit it is closed with 1008. Other clients
never wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import OPEN

from gateway.config import Limits
from gateway.metrics import Metrics
from gateway.protocol.backlog import Backlog
from gateway.protocol.model import ReadingTuple
from gateway.protocol.stream import Output, Stream
from gateway.protocol.subscription import SubscriptionSet
from gateway.protocol.wire import encode_agg, encode_data
from gateway.server.frames import write_to_all
from gateway.server.limits import CLOSE_POLICY, CLOSE_TIMEOUT_S

log = logging.getLogger("gateway.fanout")  # the name journal filters know from before the move


async def close_within(conn: ServerConnection, code: int, reason: str) -> None:
    """Close ``conn`` with ``code``; abort its transport if that has not finished within its close timeout.

    websockets' ``close()`` first drains the write buffer without a deadline: towards a peer that stopped
    reading, it would wait for ever and keep the socket (and the client's slot) open.
    """
    try:
        async with asyncio.timeout(conn.close_timeout or CLOSE_TIMEOUT_S):
            await conn.close(code, reason)
    except TimeoutError:
        conn.transport.abort()


class Client:
    """One connected, authorised WebSocket client and its bounded send queue."""

    def __init__(self, conn: ServerConnection, limits: Limits, metrics: Metrics, role: str | None) -> None:
        self.conn = conn
        self.limits = limits
        self.metrics = metrics
        self.role = role
        self.subs = SubscriptionSet()
        self.live_from = 0
        """Last seq flushed before this client's first subscription: later readings reach it live."""
        self.backlog = Backlog(
            limits.client_buffer_frames, limits.client_hard_limit_bytes, limits.client_stall_s
        )
        self.closing = False
        self.closing_since: float | None = None
        """When :meth:`FanOut.tick` first saw this connection closing (for its close deadline)."""
        self._closer: asyncio.Task[None] | None = None
        self.group: Group | None = None
        self._wake = asyncio.Event()
        transport = conn.transport
        self._buffer_size = transport.get_write_buffer_size

    @property
    def name(self) -> str:
        """Peer address for logs."""
        addr = self.conn.remote_address
        return f"{addr[0]}:{addr[1]}" if addr else "?"

    def direct_ok(self) -> bool:
        """True when a frame can be written straight to the socket without exceeding the backlog limit."""
        return (
            not self.backlog.frames
            and not self.closing
            and self._buffer_size() <= self.limits.write_buffer_bytes
        )

    def send(self, frame: bytes, readings: Sequence[ReadingTuple] | None = None) -> None:
        """Send a frame (direct when possible, else queued). Never blocks, never awaits."""
        if self.direct_ok():
            write_to_all((self.conn,), frame)
        else:
            self.enqueue(frame, readings)

    def enqueue(self, frame: bytes, readings: Sequence[ReadingTuple] | None) -> None:
        """Queue a frame for the writer task; the backlog's policy says what to drop and when to evict."""
        if self.closing:
            return
        pushed = self.backlog.push(frame, readings, time.monotonic())
        if pushed.started and self.group is not None:
            self.group.invalidate()  # from now on this client's frames must go through its queue
        if pushed.dropped:
            self.metrics.inc("sensorcast_readings_dropped_total", pushed.dropped)
        if pushed.evict:
            self.evict()
            return
        self._wake.set()

    def evict(self) -> None:
        """Close a client that stayed behind past the hard limit (1008), without waiting for it."""
        if self.closing:
            return
        self.closing = True
        self.backlog.clear()
        self.metrics.inc("sensorcast_clients_evicted_total")
        log.warning(
            "client %s evicted: too slow (dropped %d readings)", self.name, self.backlog.dropped_total
        )
        self._closer = asyncio.get_running_loop().create_task(
            close_within(self.conn, CLOSE_POLICY, "slow consumer")
        )
        self._wake.set()

    async def writer(self) -> None:
        """Drain the queue until the connection closes: frames that fit under the backlog limit are written at
        once (no await per frame, like the direct path); when the socket is full, wait for it to drain."""
        try:
            while not self.closing:
                await self._wake.wait()
                self._wake.clear()
                while self.backlog.frames and not self.closing:
                    frame = self.backlog.pop()
                    if self._buffer_size() <= self.limits.write_buffer_bytes:
                        write_to_all((self.conn,), frame)
                    else:
                        await self.conn.send(frame)
                if self.backlog.settle() and self.group is not None:
                    self.group.invalidate()  # caught up: back to the direct path at the next frame
        except ConnectionClosed:
            pass


class Group:
    """Clients sharing one subscription set, and the :class:`Stream` that serves them all.

    Which clients can take frames directly is re-checked at most every ``RECHECK_S`` (and at once when any
    client queues a frame), so the common case is one :func:`write_to_all` over a cached list. A client that
    falls behind in between takes at most ``RECHECK_S`` worth of extra frames into its socket buffer before it
    moves to its own queue.
    """

    RECHECK_S = 0.02

    def __init__(self, subs: SubscriptionSet) -> None:
        self.subs = subs
        self.stream = Stream(subs)
        self.clients: set[Client] = set()
        self._direct: list[ServerConnection] | None = None
        self._queued: list[Client] = []
        self._checked_s = 0.0

    def invalidate(self) -> None:
        """Forget the direct/queued split (membership changed or a client queued something)."""
        self._direct = None

    def emit_all(self, batch: list[ReadingTuple], frame: bytes) -> int:
        """Send a whole batch, already encoded as its ``data`` frame, to every client of this group (whose
        subscription takes every reading unchanged: ``stream.everything``); return readings sent."""
        if not self.clients:
            return 0
        self._send(frame, batch)
        return len(batch) * len(self.clients)

    def emit(self, out: Output) -> int:
        """Encode ``out`` once and send it to every client of the group; return readings sent."""
        if not self.clients:
            return 0
        sent = 0
        if out.readings:
            self._send(encode_data(out.readings), out.readings)
            sent = len(out.readings) * len(self.clients)
        for period, entries in out.agg.items():
            self._send(encode_agg(period, entries), None)
        return sent

    def _send(self, frame: bytes, readings: Sequence[ReadingTuple] | None) -> None:
        now = time.monotonic()
        direct = self._direct
        if direct is None or now - self._checked_s > self.RECHECK_S:
            direct, queued = [], []
            for c in self.clients:
                if c.direct_ok():
                    direct.append(c.conn)
                else:
                    queued.append(c)
            self._direct, self._queued, self._checked_s = direct, queued, now
        for c in self._queued:
            c.enqueue(frame, readings)
        if direct:
            write_to_all(direct, frame)


class FanOut:
    """The hub sink that serves WebSocket clients, grouped by subscription."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.groups: dict[SubscriptionSet, Group] = {}
        self.clients: set[Client] = set()
        metrics.describe("sensorcast_readings_sent_total", "counter", "Readings written to WebSocket clients")
        metrics.describe("sensorcast_readings_dropped_total", "counter", "Readings dropped for slow clients")
        metrics.describe("sensorcast_clients", "gauge", "Connected WebSocket clients")
        metrics.describe(
            "sensorcast_clients_evicted_total", "counter", "Clients closed for falling too far behind"
        )
        metrics.describe(
            "sensorcast_client_queue_frames_max", "gauge", "Frames queued for the most backlogged client"
        )
        metrics.describe("sensorcast_client_queue_frames", "gauge", "Frames queued for all clients together")
        metrics.describe(
            "sensorcast_subscription_groups", "gauge", "Distinct subscriptions (encoded once each)"
        )
        metrics.add_callback(self._gauges)
        self.sent_total = 0
        """Readings written to clients (a plain counter: it is bumped once per batch on the hot path)."""

    def _gauges(self) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        depth = [len(c.backlog) for c in self.clients]
        return [
            ("sensorcast_readings_sent_total", (), float(self.sent_total)),
            ("sensorcast_clients", (), float(len(self.clients))),
            ("sensorcast_client_queue_frames_max", (), float(max(depth, default=0))),
            ("sensorcast_client_queue_frames", (), float(sum(depth))),
            ("sensorcast_subscription_groups", (), float(len(self.groups))),
        ]

    def add(self, client: Client) -> None:
        """Register a client (its subscription set decides its group)."""
        self.clients.add(client)
        self._join(client)

    def remove(self, client: Client) -> None:
        """Forget a client."""
        self.clients.discard(client)
        self._leave(client)

    def resubscribe(self, client: Client, subs: SubscriptionSet) -> None:
        """Move ``client`` to the group of ``subs``."""
        self._leave(client)
        client.subs = subs
        self._join(client)

    def _join(self, client: Client) -> None:
        if client.subs.empty:
            return
        group = self.groups.get(client.subs)
        if group is None:
            group = self.groups[client.subs] = Group(client.subs)
        group.clients.add(client)
        group.invalidate()
        client.group = group

    def _leave(self, client: Client) -> None:
        group = self.groups.get(client.subs)
        client.group = None
        if group is not None:
            group.clients.discard(client)
            group.invalidate()
            if not group.clients:
                del self.groups[client.subs]

    def on_batch(self, batch: list[ReadingTuple], frame: bytes) -> None:
        """Hub sink (:meth:`~gateway.hub.Hub.add_encoded_sink`): route a batch through every group.

        ``frame`` is the batch's ``data`` frame, encoded once by the hub: a group that takes every reading
        unchanged sends it as it is, the others run their policies and encode what they select.
        """
        now = 0
        sent = 0
        for group in list(self.groups.values()):
            stream = group.stream
            if stream.everything:
                sent += group.emit_all(batch, frame)
            else:
                now = now or time.monotonic_ns()
                sent += group.emit(stream.on_readings(batch, now))
        self.sent_total += sent

    def broadcast_control(self, frame: bytes) -> None:
        """Send a control frame (status) to every client, whatever its subscription."""
        for c in self.clients:
            c.send(frame)

    def tick(self) -> None:
        """Run time-based policies (fixed/ideal/minPeriod/agg) and the stall check."""
        now = time.monotonic_ns()
        sent = 0
        for group in list(self.groups.values()):
            if not group.stream.passthrough_only:
                sent += group.emit(group.stream.on_tick(now))
        self.sent_total += sent
        mono = time.monotonic()
        for c in list(self.clients):
            if c.backlog.stalled(mono):
                c.evict()
            self._close_deadline(c, mono)

    @staticmethod
    def _close_deadline(c: Client, mono: float) -> None:
        """Abort a connection whose close has taken longer than its close timeout, whoever started it (the
        keepalive's 1011 also drains the write buffer without a deadline first)."""
        if c.conn.protocol.state is OPEN:
            return
        if c.closing_since is None:
            c.closing_since = mono
        elif mono - c.closing_since > (c.conn.close_timeout or CLOSE_TIMEOUT_S):
            c.conn.transport.abort()  # also when websockets chose transport.close(): that one flushes first

    async def run_ticks(self, interval_s: float = 0.01, idle_s: float = 0.25) -> None:
        """Tick forever (a task of the app): every ``interval_s`` while a timed policy or a backlog needs it,
        else every ``idle_s`` (a Pi Zero should not wake 100 times a second for nothing)."""
        while True:
            busy = any(not g.stream.passthrough_only for g in self.groups.values()) or any(
                c.backlog.since is not None for c in self.clients
            )
            await asyncio.sleep(interval_s if busy else idle_s)
            self.tick()

    def info(self) -> dict[str, Any]:
        """Summary for /healthz."""
        return {"clients": len(self.clients), "groups": len(self.groups)}
