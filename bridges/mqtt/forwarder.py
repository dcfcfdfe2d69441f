"""Publish first, write late, for QoS 1: readings -> live queue -> bounded in-flight window -> PUBACK; what the
broker has not acknowledged within ``ack_window_ms`` (or what a lost connection leaves) -> outbox -> replayed ->
PUBACK -> delete.

Everything here runs on the event loop except the :class:`~bridges.mqtt.outbox.Outbox` calls, which run on one
dedicated I/O thread (SQLite commits and checkpoints may fsync; they must not stall the loop).

Order and flow:

* A new reading gets the id its row would have on disk (the outbox's ids continue from the highest one ever
  used), is held in memory (:class:`~bridges.mqtt.spill.SpillLedger`, bounded by ``max_pending_rows``) and goes
  to the *live* queue, published as soon as the window has room: QoS 1 costs no commit wait.
* Its PUBACK within ``ack_window_ms`` forgets it: on a healthy broker nothing is written. Still unacknowledged
  after that, or when its connection is gone, it is written by the next commit (every ``commit_interval_ms``),
  and from then on its row is deleted only in a commit after its PUBACK. A reading leaves memory unwritten only
  with its PUBACK (the ledger's rule); a crash can lose what memory holds (docs/mqtt.md).
* On every (re)connection, everything up to the last id handed out is *backlog*: once it is all on disk it is
  read back in id order and published with most of the window, while live rows keep flowing with at least a
  quarter of it. Consumers see each sensor's readings in ``seq`` order within each stream, and every duplicate
  (a row re-sent because its PUBACK was lost with the connection) carries the same ``(gateway, boot, seq)``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from bridges.mqtt.client import MqttClientError, PahoConnection
from bridges.mqtt.config import MqttConfig
from bridges.mqtt.outbox import Outbox, OutRow, StoredRow, WriteResult
from bridges.mqtt.overflow import DropEpisodes
from bridges.mqtt.spill import AckOutcome, SpillLedger
from bridges.mqtt.window import InflightWindow, live_cap, window_size

log = logging.getLogger(__name__)

FETCH_ROWS = 500
"""Backlog rows read per query (about 100 KiB)."""
REOPEN_INTERVAL_S = 10.0
"""How often a failed outbox is reopened (full disk, read-only mount)."""


class Forwarder:
    """The QoS 1 pipeline of one bridge.

    Args:
        cfg: bridge settings (window, commit interval, caps).
        outbox: the durable store (opened lazily on the I/O thread).
        io: the single-thread executor that owns ``outbox``.
    """

    def __init__(self, cfg: MqttConfig, outbox: Outbox, io: ThreadPoolExecutor) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.io = io
        self.wake = asyncio.Event()
        """Set whenever something may be sent (commit done, PUBACK, backlog fetched, connection closed)."""
        self.opened = False
        self._next_open_s = 0.0
        self.pending: list[OutRow] = []
        """Readings that arrived before the outbox was open (no id yet: ids continue the outbox's)."""
        self._mem: SpillLedger[OutRow] = SpillLedger(cfg.ack_window_ms / 1000)
        """Readings in memory only: published or queued, neither acknowledged nor written."""
        self._next_id = 0
        """The id the next reading gets (set when the outbox opens)."""
        self._acked: set[int] = set()
        self._deleting: set[int] = set()
        self._live: deque[StoredRow] = deque()
        self._backlog: deque[StoredRow] = deque()
        self._cursor = 0
        self._backlog_end = 0
        self._inflight = InflightWindow()
        """This connection's unacknowledged publishes."""
        self._conn: PahoConnection | None = None
        self._gen = 0
        """Incremented on every start/stop, so a backlog read that straddles a reconnect is discarded."""
        self.rows = 0
        self.published_total = 0
        self.replayed_total = 0
        self.rejected_total = 0
        self.commits_total = 0
        self.written_total = 0
        """Readings written to the outbox (not acknowledged within the window, or while disconnected)."""
        self.errors_total = 0
        self.drops = {
            "outbox_full": DropEpisodes("outbox_full"),
            "outbox_age": DropEpisodes("outbox_age"),
            "pending_full": DropEpisodes("pending_full"),
        }
        self._rejected_logged = False
        self._error_logged = False
        self._commit_lock = asyncio.Lock()
        """One commit at a time: the periodic one and the one a clean stop asks for must not interleave."""

    # -- intake and commits ------------------------------------------------------------------------------

    def add(self, rows: Sequence[OutRow]) -> None:
        """Take encoded readings: held in memory and queued for publishing at once (never blocks; past
        ``max_pending_rows`` readings in memory only, new ones are dropped and counted)."""
        room = self.cfg.max_pending_rows - len(self.pending) - len(self._mem)
        if len(rows) > room:
            self._dropped("pending_full", len(rows) - max(room, 0))
            rows = rows[: max(room, 0)]
        if not self.opened:
            self.pending.extend(rows)
            return
        self._admit(rows)

    def _admit(self, rows: Sequence[OutRow]) -> None:
        now_s = time.monotonic()
        live = self._conn is not None  # without a connection they reach the disk first, then the backlog
        for r in rows:
            row_id = self._next_id
            self._next_id += 1
            self._mem.add(row_id, r, now_s)
            if live:
                self._live.append(StoredRow(row_id, r.topic, r.payload, r.boot, r.seq))
        if rows:
            self.wake.set()

    def _dropped(self, reason: str, n: int) -> None:
        msg = self.drops[reason].dropped(n)
        if msg:
            log.warning("MQTT: %s", msg)

    async def commit(self, clock_synced: bool, everything: bool = False) -> None:
        """Write the readings that are due (unacknowledged for ``ack_window_ms``, or left by a lost connection;
        ``everything``: all held in memory, at a clean stop) and delete acknowledged rows, in one transaction on
        the I/O thread. Nothing due and nothing to delete: the disk is not touched."""
        async with self._commit_lock:
            await self._commit(clock_synced, everything)

    async def _open(self) -> bool:
        loop = asyncio.get_running_loop()
        if time.monotonic() < self._next_open_s:
            return False
        self._next_open_s = time.monotonic() + REOPEN_INTERVAL_S
        try:
            await loop.run_in_executor(self.io, self.outbox.open)
            last_id = await loop.run_in_executor(self.io, self.outbox.last_id)
        except (sqlite3.Error, OSError) as exc:
            self._failed("cannot open the MQTT outbox %s: %s; retrying every %.0f s", exc)
            return False
        self.opened = True
        self.rows = self.outbox.rows
        self._next_id = last_id + 1
        if self._conn is not None:
            self._backlog_end = last_id  # a connection that came first replays the previous run's rows too
        if self.rows:
            log.info("MQTT outbox %s holds %d readings to send", self.outbox.path, self.rows)
        pending, self.pending = self.pending, []
        self._admit(pending)
        self.wake.set()
        return True

    async def _commit(self, clock_synced: bool, everything: bool) -> None:
        loop = asyncio.get_running_loop()
        if not self.opened and not await self._open():
            return
        # Without a connection every reading is due: the next one replays from disk.
        horizon = self._backlog_end if self._conn is not None and not everything else self._next_id - 1
        due = self._mem.take_due(time.monotonic(), horizon)
        if not due and not self._acked:
            return
        acked, self._acked = self._acked, set()
        self._deleting = acked
        now_ns = time.time_ns() if clock_synced else None
        rows = [r for _, r in due]
        ids = [i for i, _ in due]
        try:
            res = await loop.run_in_executor(self.io, self.outbox.write, rows, acked, now_ns, ids)
        except (sqlite3.Error, OSError) as exc:
            self._mem.write_failed()
            self._acked |= acked
            self._failed("MQTT outbox write failed (%s: %s); keeping readings in memory (bounded)", exc)
            return
        except BaseException:
            # Cancelled, or a bug: the write may or may not have landed; writing these ids again is harmless
            # (idempotent), and the ledger must not stay in its writing state (no later commit could run).
            self._mem.write_failed()
            self._acked |= acked
            raise
        finally:
            self._deleting = set()
        self._acked.update(self._mem.written())
        self.written_total += len(res.stored)
        self._committed(res)

    def _failed(self, fmt: str, exc: BaseException) -> None:
        self.errors_total += 1
        if not self._error_logged:
            self._error_logged = True
            if "retrying" in fmt:
                log.error(fmt, self.outbox.path, exc, REOPEN_INTERVAL_S)
            else:
                log.error(fmt, type(exc).__name__, exc)

    def _committed(self, res: WriteResult) -> None:
        self.commits_total += 1
        self._error_logged = False
        self.rows = self.outbox.rows
        self._dropped("outbox_full", res.dropped_stored + res.dropped_incoming)
        self._dropped("outbox_age", res.dropped_age)
        for ep in (self.drops["outbox_full"], self.drops["outbox_age"]):
            msg = ep.settle(self.rows, self.cfg.outbox_max_rows)
            if msg:
                log.warning("MQTT: %s", msg)
        # A live queue longer than the window needs (a slow broker) gives its written head back to the disk: it is
        # read back as backlog. A head still held only in memory stays (it is written once it is due).
        limit = 4 * self.cfg.max_inflight
        low = self._mem.lowest_id()
        while len(self._live) > limit and (low is None or self._live[0].id < low):
            self._backlog_end = self._live.popleft().id
        self.wake.set()

    def close(self) -> None:
        """Final synchronous commit at shutdown (call after the I/O thread was shut down), then close."""
        held = self._mem.take_all()
        if self.opened and (held or self._acked):
            try:
                res = self.outbox.write([r for _, r in held], self._acked, None, [i for i, _ in held])
                self.written_total += len(res.stored)
                self._acked = set()
                self._committed(res)
            except (sqlite3.Error, OSError) as exc:
                log.error("MQTT: final outbox write failed (%s); %d readings lost", exc, len(held))
        elif self.pending:
            log.error("MQTT: outbox unavailable at shutdown; %d readings lost", len(self.pending))
        self.outbox.close()

    # -- connection lifecycle ----------------------------------------------------------------------------

    def start(self, conn: PahoConnection) -> None:
        """A connection is up: everything on disk becomes backlog, replayed from the start."""
        self._conn = conn
        self._gen += 1
        self._live.clear()
        self._backlog.clear()
        self._cursor = 0
        self._backlog_end = self._next_id - 1 if self.opened else 0
        self.wake.set()

    def stop(self) -> None:
        """The connection is gone: unacknowledged rows stay on disk for the next one."""
        self._conn = None
        self._gen += 1
        self._inflight.clear()
        self._live.clear()
        self._backlog.clear()

    @property
    def held(self) -> int:
        """Readings in memory only: neither acknowledged nor written (what a crash now would lose)."""
        return len(self.pending) + len(self._mem)

    @property
    def inflight(self) -> int:
        """Unacknowledged publishes on the current connection."""
        return len(self._inflight)

    @property
    def delivered(self) -> bool:
        """Every reading was published and acknowledged (deletions of written rows may wait for the next commit)."""
        return not (
            self.pending or self._live or self._backlog or self._inflight or self._cursor < self._backlog_end
        )

    @property
    def drained(self) -> bool:
        """Nothing waits to be committed, sent or acknowledged."""
        return not (
            self.pending
            or self._mem
            or self._acked
            or self._live
            or self._backlog
            or self._inflight
            or self.rows
        )

    def on_ack(self, mid: int, ok: bool) -> None:
        """PUBACK for ``mid`` (ignored when it is not a reading, e.g. a retained meta message)."""
        row_id = self._inflight.acked(mid)
        if row_id is None:
            return
        if self._mem.acked(row_id) is AckOutcome.ON_DISK:
            self._acked.add(row_id)  # deleted by the next commit (AFTER_WRITE: by the one after the write)
        self.published_total += 1
        if not ok:
            # The broker answered (MQTT 5 reason >= 0x80, e.g. not authorised): re-sending cannot succeed.
            self.rejected_total += 1
            if not self._rejected_logged:
                self._rejected_logged = True
                log.error(
                    "MQTT broker rejected readings (check its ACL for the data topics); counted in "
                    "sensorcast_mqtt_rejected_total"
                )
        self.wake.set()

    def _window(self, conn: PahoConnection) -> int:
        return window_size(self.cfg.max_inflight, conn.receive_maximum)

    def pump(self) -> None:
        """Publish as many live and backlog rows as the in-flight window allows."""
        conn = self._conn
        if conn is None or not conn.connected:
            return
        window = self._window(conn)
        backlog_left = bool(self._backlog) or self._cursor < self._backlog_end
        cap = live_cap(window, backlog_left)
        try:
            while self._live and self._inflight.has_live_room(window, cap):
                self._send(conn, self._live.popleft(), True)
            while self._backlog and self._inflight.has_room(window):
                self._send(conn, self._backlog.popleft(), False)
                self.replayed_total += 1
        except MqttClientError:
            return  # the connection just dropped; stop() follows

    def _send(self, conn: PahoConnection, row: StoredRow, live: bool) -> None:
        mid = conn.publish(row.topic, row.payload, 1, boot=row.boot)
        self._inflight.sent(mid, row.id, live)

    def wants_backlog(self) -> bool:
        """True when the backlog buffer is empty, more rows are on disk and the window has room."""
        conn = self._conn
        return (
            self.opened
            and conn is not None
            and not self._backlog
            and self._cursor < self._backlog_end
            and self._inflight.has_room(self._window(conn))
            and self._backlog_on_disk()
        )

    def _backlog_on_disk(self) -> bool:
        """Every reading up to the backlog's end is written (the commit after a reconnect sees to it)."""
        low = self._mem.lowest_id()
        return low is None or low > self._backlog_end

    async def fetch_backlog(self) -> None:
        """Read the next backlog rows (skipping those in flight or acknowledged but not yet deleted)."""
        loop = asyncio.get_running_loop()
        cursor, end, gen = self._cursor, self._backlog_end, self._gen
        try:
            rows = await loop.run_in_executor(self.io, self.outbox.fetch, cursor, end, FETCH_ROWS)
        except (sqlite3.Error, OSError) as exc:
            self._failed("MQTT outbox read failed (%s: %s); will retry", exc)
            await asyncio.sleep(1.0)
            return
        if gen != self._gen:
            return
        skip = self._inflight.rows | self._acked | self._deleting | self._mem.acked_writing
        self._cursor = rows[-1].id if rows else end
        self._backlog.extend(r for r in rows if r.id not in skip)
