"""The MQTT bridge: hub -> (outbox) -> broker, plus retained metadata, Home Assistant discovery and commands.

The bridge talks to the gateway only through :mod:`gateway.protocol.seam`. ``run()`` never raises because of the
broker: an unreachable, refusing or crashing broker is retried with jittered exponential backoff while the
rest of the gateway (sensors, WebSocket clients) carries on; readings meanwhile wait in the outbox (QoS 1) or
are counted as dropped (QoS 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

from bridges.mqtt.claim import FileClaim, claim
from bridges.mqtt.client import MqttClientError, PahoConnection
from bridges.mqtt.config import MqttConfig
from bridges.mqtt.discovery import discovery_messages, health_message, meta_messages, rule_state_messages
from bridges.mqtt.forwarder import Forwarder
from bridges.mqtt.metrics import DROP_REASONS
from bridges.mqtt.metrics import METRICS as METRICS
from bridges.mqtt.outbox import Outbox, OutRow
from bridges.mqtt.overflow import DropEpisodes
from bridges.mqtt.payloads import encode_json, encode_result, encoder, parse_command
from bridges.mqtt.throttle import Outgoing, PublishThrottle
from bridges.mqtt.topics import Topics
from gateway.protocol.model import FLAG_CLOCK_SYNCED, FLAGS, SENSOR, SEQ, TS_NS, ReadingTuple
from gateway.protocol.seam import CommandHandler, CommandResult, ReadingSource

log = logging.getLogger(__name__)

OUTBOX_FILE = "mqtt-outbox.db"
RETAINED_FILE = "mqtt-retained.json"
MAX_COMMANDS_IN_PROGRESS = 16
"""Commands executing at once; more are refused (counted) so a flood on the command topic stays bounded."""
STOP_DELIVERY_S = 2.0
"""At a clean stop, how long the bridge keeps delivering what it holds while connected (seconds). What is not
acknowledged by then stays in the outbox for the next start; bounded so a restart or Ctrl-C is not held up by a
slow broker (systemd's stop timeout is 90 s, the whole shutdown is a few seconds)."""


def _version() -> str:
    try:
        return metadata.version("sensorcast")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class MqttBridge:
    """Publishes every reading of ``source`` to MQTT and routes MQTT commands to ``commands``.

    Args:
        cfg: bridge settings.
        source: the hub (``gateway.protocol.seam.ReadingSource``).
        commands: the gateway's command path (``gateway.protocol.seam.CommandHandler``), same allowlist as WebSocket.
        data_dir: where the outbox (``mqtt-outbox.db``) and the list of retained topics live.
    """

    def __init__(
        self,
        cfg: MqttConfig,
        source: ReadingSource,
        commands: CommandHandler,
        data_dir: Path,
        dashboard_url: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.dashboard_url = dashboard_url
        """Where Home Assistant links each device (``configuration_url``); None: no link."""
        self.source = source
        self.commands = commands
        self.data_dir = Path(data_dir)
        self.topics = Topics(cfg.topic_prefix, source.gateway_id)
        self.boot_id = source.boot_id
        self.client_id = cfg.client_id or f"sensorcast-{source.gateway_id}"[:64]
        self._encode = encoder(cfg.payload, source.gateway_id, source.boot_id)
        self._io = ThreadPoolExecutor(1, thread_name_prefix="mqtt-io")
        self.outbox = Outbox(
            self.data_dir / OUTBOX_FILE,
            max_rows=cfg.outbox_max_rows,
            max_age_s=cfg.outbox_max_age_s,
            overflow=cfg.overflow,
            synchronous=cfg.synchronous,
        )
        self.forwarder: Forwarder | None = Forwarder(cfg, self.outbox, self._io) if cfg.qos == 1 else None
        periods = dict(cfg.publish_period_s)
        default_period_s = 1 / cfg.max_rate_hz if cfg.max_rate_hz else 0.0
        self.throttle: PublishThrottle | None = (
            PublishThrottle(default_period_s, periods)
            if default_period_s or any(periods.values())
            else None  # every reading goes out as it comes: no per-reading bookkeeping at all
        )
        self._throttle_wake = asyncio.Event()
        self.conn: PahoConnection | None = None
        self._clock_synced = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._republish = asyncio.Event()
        self.disconnected_drops = DropEpisodes("disconnected")
        self.counters = {
            "connects": 0,
            "connect_failures": 0,
            "published_qos0": 0,
            "commands": 0,
            "command_errors": 0,
            "commands_refused": 0,
        }
        self.sw_version = _version()
        self._closed = False
        self.refused = False
        """Another process holds the outbox (see :meth:`_claim`): the bridge is off for this run."""
        self._claim_held: FileClaim | None = None
        # Registered now, not in run(): readings produced before run() starts are kept (bounded), not missed.
        self._remove_sinks: list[Callable[[], None]] = [
            source.add_sink(self._on_batch),
            source.add_status_sink(self._on_status),
        ]
        add_event_sink = getattr(source, "add_event_sink", None)  # optional: a source with local rules
        if add_event_sink is not None:
            self._remove_sinks.append(add_event_sink(self._on_event))

    # -- public ------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled. Broker trouble is logged, counted and retried; it never raises out of here.
        Returns at once, the bridge off (one error logged), when another process holds the outbox's claim."""
        try:
            if not await self._claim():
                return
            async with asyncio.TaskGroup() as tg:
                if self.forwarder is not None:
                    tg.create_task(self._commit_loop(), name="mqtt-commit")
                tg.create_task(self._connection_loop(), name="mqtt-connection")
                if self.throttle is not None:
                    tg.create_task(self._throttle_loop(), name="mqtt-throttle")
        finally:
            self.close()

    async def _claim(self) -> bool:
        """Own the outbox (and the MQTT client id, the retained-topics file) for this run: an exclusive flock
        on ``mqtt-outbox.db.lock`` (bridges/mqtt/claim.py). False (one error): another process holds it - a
        second gateway on this data_dir would publish and delete the first one's rows, and with the same
        gateway id its client would take the broker session over from the first one's in a loop - so the
        bridge stays off for this run, as history does; the rest of the gateway runs."""
        lock = self.data_dir / f"{OUTBOX_FILE}.lock"
        try:
            got = await asyncio.get_running_loop().run_in_executor(self._io, claim, lock)
        except OSError:
            return True  # the directory is unusable: opening the outbox reports it (and retries)
        if got.unguarded is not None:
            log.warning(
                "MQTT: cannot lock %s (%s); not guarded against a second gateway", lock, got.unguarded
            )
        if not got.refused:
            self._claim_held = got
            return True
        self.refused = True
        holder = f"process {got.holder}" if got.holder is not None else "another process"
        log.error(
            "MQTT: the outbox %s is in use by %s (a second gateway with this data_dir?); the MQTT bridge is off"
            " for this run",
            self.outbox.path,
            holder,
        )
        return False

    async def stop(self, deliver_s: float = STOP_DELIVERY_S) -> None:
        """The first half of a clean stop, called after the hub's last flush and before :meth:`run` is cancelled.

        Writes every reading the bridge holds in memory to the outbox, then, while connected, keeps publishing until the
        broker acknowledged all of them or ``deliver_s`` passed. Whatever is left stays in the outbox and goes
        out after the next start; cancelling :meth:`run` then makes the final commit (deletes of the last
        acknowledged rows).
        """
        if self.throttle is not None and not self._closed:
            self._publish([(o.reading, o.agg) for o in self.throttle.flush()])  # no period waits at a stop
        fw = self.forwarder
        if fw is None or self._closed:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deliver_s
        await fw.commit(self._clock_synced, everything=True)  # a kill during the delivery below loses nothing
        while loop.time() < deadline and not fw.delivered:
            conn = self.conn
            if conn is None or not conn.connected or not fw.opened:
                break  # nobody to deliver to: the rows wait in the outbox
            fw.wake.set()
            await asyncio.sleep(0.01)
        if fw.delivered:
            log.info("MQTT: everything delivered before stopping")
        else:
            log.info("MQTT: stopping with readings in the outbox; they are sent after the next start")

    def republish(self) -> None:
        """Publish metadata, health and discovery again (the gateway's sensors changed: a reload); retained
        topics of sensors that are gone are cleared. Done by the connection loop, now or at the next connect."""
        self._republish.set()
        if self.forwarder is not None:
            self.forwarder.wake.set()

    def metrics(self) -> dict[str, float]:
        """Prometheus samples (names prefixed ``sensorcast_mqtt_``)."""
        fw = self.forwarder
        c = self.counters
        out = {
            "sensorcast_mqtt_connected": 1.0 if self.conn is not None and self.conn.connected else 0.0,
            "sensorcast_mqtt_outbox_rows": float(fw.rows if fw else 0),
            "sensorcast_mqtt_outbox_pending": float(fw.held if fw else 0),
            "sensorcast_mqtt_inflight": float(fw.inflight if fw else 0),
            "sensorcast_mqtt_published_total": float((fw.published_total if fw else 0) + c["published_qos0"]),
            "sensorcast_mqtt_replayed_total": float(fw.replayed_total if fw else 0),
            "sensorcast_mqtt_rejected_total": float(fw.rejected_total if fw else 0),
            "sensorcast_mqtt_outbox_commits_total": float(fw.commits_total if fw else 0),
            "sensorcast_mqtt_outbox_written_total": float(fw.written_total if fw else 0),
            "sensorcast_mqtt_outbox_errors_total": float(fw.errors_total if fw else 0),
            "sensorcast_mqtt_connects_total": float(c["connects"]),
            "sensorcast_mqtt_connect_failures_total": float(c["connect_failures"]),
            "sensorcast_mqtt_commands_total": float(c["commands"]),
            "sensorcast_mqtt_command_errors_total": float(c["command_errors"] + c["commands_refused"]),
            "sensorcast_mqtt_coalesced_total": float(self.throttle.coalesced_total if self.throttle else 0),
        }
        return out

    def drops(self) -> dict[str, float]:
        """Readings dropped so far, by reason (``sensorcast_mqtt_dropped_total{reason}``); every reason is
        present, 0 included."""
        fw = self.forwarder
        drops = dict.fromkeys(DROP_REASONS, 0.0)  # QoS 0: the outbox reasons stay zero, still exported
        drops.update({name: float(ep.total) for name, ep in (fw.drops.items() if fw else ())})
        drops["disconnected"] = float(self.disconnected_drops.total)
        return drops

    # -- data path ---------------------------------------------------------------------------------------

    def _on_batch(self, batch: Sequence[ReadingTuple]) -> None:
        if not batch:
            return
        self._clock_synced = bool(batch[-1][FLAGS] & FLAG_CLOCK_SYNCED)
        throttle = self.throttle
        if throttle is None:
            self._publish([(r, None) for r in batch])
            return
        now_s = time.monotonic()
        out: list[Outgoing] = []
        for r in batch:
            out += throttle.offer(r, now_s)
        if out:
            self._publish([(o.reading, o.agg) for o in out])
        if throttle.next_due_s() is not None:
            self._throttle_wake.set()

    async def _throttle_loop(self) -> None:
        """Publish each rate-limited sensor's aggregate when its period ends, even if no reading follows."""
        throttle = self.throttle
        assert throttle is not None
        while True:
            due_s = throttle.next_due_s()
            self._throttle_wake.clear()
            if due_s is None:
                await self._throttle_wake.wait()
                continue
            delay_s = due_s - time.monotonic()
            if delay_s > 0:
                with contextlib.suppress(TimeoutError):  # woken early: an earlier bucket may be pending now
                    await asyncio.wait_for(self._throttle_wake.wait(), delay_s)
                continue
            out = throttle.due(time.monotonic())
            if out:
                self._publish([(o.reading, o.agg) for o in out])

    def _publish(self, items: Sequence[tuple[ReadingTuple, list[Any] | None]]) -> None:
        """Hand readings to the outbox (QoS 1) or the broker (QoS 0); ``agg`` only travels in JSON."""
        topics, boot = self.topics, self.boot_id
        json_payload = self.cfg.payload == "json"
        gw = self.source.gateway_id

        def enc(r: ReadingTuple, agg: list[Any] | None) -> bytes:
            return encode_json(r, gw, boot, agg) if agg is not None and json_payload else self._encode(r)

        if self.forwarder is not None:
            self.forwarder.add(
                [
                    OutRow(
                        topics.data(r[SENSOR]),
                        enc(r, agg),
                        boot,
                        r[SEQ],
                        r[TS_NS],
                        bool(r[FLAGS] & FLAG_CLOCK_SYNCED),
                    )
                    for r, agg in items
                ]
            )
            return
        batch = items
        conn = self.conn
        if conn is None or not conn.connected:
            msg = self.disconnected_drops.dropped(len(batch))
            if msg:
                log.warning("MQTT (QoS 0): %s", msg)
            return
        sent = 0
        try:
            for r, agg in batch:
                conn.publish(topics.data(r[SENSOR]), enc(r, agg), 0, boot=boot)
                sent += 1
        except MqttClientError:
            self.disconnected_drops.dropped(len(batch) - sent)
        self.counters["published_qos0"] += sent

    async def _commit_loop(self) -> None:
        assert self.forwarder is not None
        period_s = self.cfg.commit_interval_ms / 1000
        while True:
            try:
                await self.forwarder.commit(self._clock_synced)
            except Exception:  # a bug here must not stop the gateway; it is logged and retried
                log.exception("MQTT: outbox commit failed")
                self.forwarder.errors_total += 1
            await asyncio.sleep(period_s)

    # -- connection --------------------------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        delay_s = self.cfg.reconnect_min_s
        failing_since: float | None = None
        while True:
            conn = PahoConnection(
                self.cfg,
                self.client_id,
                will=(self.topics.status, b"offline"),
                on_message=self._on_message,
                on_ack=self._on_ack,
            )
            try:
                await conn.connect()
            except MqttClientError as exc:
                self.counters["connect_failures"] += 1
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning(
                        "MQTT: %s; retrying in the background (readings are %s)",
                        exc,
                        "kept in the outbox" if self.forwarder else "dropped and counted (QoS 0)",
                    )
                await asyncio.sleep(delay_s * random.uniform(0.8, 1.2))
                delay_s = min(delay_s * 2, self.cfg.reconnect_max_s)
                continue
            delay_s = self.cfg.reconnect_min_s
            self.counters["connects"] += 1
            outage = f" after {time.monotonic() - failing_since:.1f} s" if failing_since is not None else ""
            failing_since = None
            log.info("MQTT: connected to %s:%d%s", self.cfg.host, self.cfg.broker_port, outage)
            self.conn = conn
            try:
                await self._session(conn)
            except asyncio.CancelledError:
                self._goodbye(conn)
                raise
            except Exception:  # a bug must not stop the gateway: log it, drop the connection, start over
                log.exception("MQTT: session failed")
            finally:
                self.conn = None
                if self.forwarder is not None:
                    self.forwarder.stop()
                conn.close()
            if failing_since is None:
                failing_since = time.monotonic()
                log.warning("MQTT: connection lost (%s); reconnecting", conn.disconnect_reason or "closed")
            await asyncio.sleep(delay_s * random.uniform(0.5, 1.0))

    async def _session(self, conn: PahoConnection) -> None:
        msg = self.disconnected_drops.end()
        if msg:
            log.warning("MQTT (QoS 0): %s", msg)
        # Subscribe before announcing anything: whoever sees "online" can already send commands.
        if self.cfg.commands:
            conn.subscribe(self.topics.command_filter, 1)
        if self.cfg.discovery:
            conn.subscribe(f"{self.cfg.discovery_prefix}/status", 1)
        conn.publish(self.topics.status, b"online", 1, retain=True)
        self._republish.clear()
        await self._publish_retained(conn)
        fw = self.forwarder
        if fw is not None:
            fw.start(conn)
        closed = asyncio.ensure_future(conn.closed.wait())
        wake = fw.wake if fw is not None else asyncio.Event()
        closed.add_done_callback(lambda _: wake.set())
        closed.add_done_callback(lambda _: self._republish.set())
        try:
            while not conn.closed.is_set():
                if self._republish.is_set():
                    self._republish.clear()
                    await self._publish_retained(conn)
                    continue
                if fw is None:
                    await self._republish.wait()
                    continue
                fw.pump()
                if fw.wants_backlog():
                    await fw.fetch_backlog()
                    continue
                wake.clear()
                if not self._republish.is_set():
                    await wake.wait()
        finally:
            closed.cancel()

    def _on_ack(self, mid: int, ok: bool) -> None:
        if self.forwarder is not None:
            self.forwarder.on_ack(mid, ok)

    async def _publish_retained(self, conn: PahoConnection) -> None:
        """Publish metadata, health and discovery (retained); clear retained topics no longer configured."""
        loop = asyncio.get_running_loop()
        path = self.data_dir / RETAINED_FILE
        previous = await loop.run_in_executor(self._io, _load_topics, path)
        cat = self.source.catalogue()  # after the await: health published meanwhile must not be overwritten
        msgs: dict[str, bytes] = {}
        if self.cfg.retain_meta:
            msgs.update(meta_messages(cat, self.topics, self.boot_id, self.cfg.payload))
            for s in cat.get("sensors", []):
                msgs[self.topics.health(s["id"])] = health_message(s.get("state", "starting"), s.get("error"))
        msgs.update(rule_state_messages(cat, self.topics))
        if self.cfg.discovery:
            msgs.update(
                discovery_messages(
                    cat,
                    self.topics,
                    self.cfg.discovery_prefix,
                    self.sw_version,
                    dashboard_url=self.dashboard_url,
                    health_topics=self.cfg.retain_meta,
                )
            )
        try:
            for topic in sorted(previous - set(msgs)):
                conn.publish(topic, b"", 1, retain=True)  # empty retained payload deletes the entity
            for topic, payload in msgs.items():
                conn.publish(topic, payload, 1, retain=True)
        except MqttClientError:
            return
        if previous != set(msgs):
            try:
                await loop.run_in_executor(self._io, _save_topics, path, set(msgs))
            except OSError as exc:
                log.warning(
                    "MQTT: cannot record retained topics in %s (%s): removed entities may stay in "
                    "Home Assistant",
                    path,
                    exc,
                )

    def _on_status(self, sensor_id: str, state: str, error: str | None) -> None:
        conn = self.conn
        if conn is not None and conn.connected and self.cfg.retain_meta:
            with contextlib.suppress(MqttClientError):
                conn.publish(self.topics.health(sensor_id), health_message(state, error), 1, retain=True)

    def _on_event(self, event: Mapping[str, Any]) -> None:
        """A rule event: every one on the events topic, the latest per rule retained as its state. While the
        broker is away, events are not queued; the states are published again on reconnect."""
        conn = self.conn
        if conn is None or not conn.connected:
            return
        payload = json.dumps(event, separators=(",", ":")).encode()
        with contextlib.suppress(MqttClientError):
            conn.publish(self.topics.events, payload, 1)
            conn.publish(self.topics.rule(str(event["rule"])), payload, 1, retain=True)

    # -- commands ----------------------------------------------------------------------------------------

    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic == f"{self.cfg.discovery_prefix}/status":
            if payload.strip().lower() == b"online":  # Home Assistant restarted: send discovery again
                self._republish.set()
                if self.forwarder is not None:
                    self.forwarder.wake.set()
            return
        target = self.topics.parse_command(topic) if self.cfg.commands else None
        if target is None:
            return
        if len(self._tasks) >= MAX_COMMANDS_IN_PROGRESS:
            self.counters["commands_refused"] += 1
            self._send_result(CommandResult(False, target, error="busy"))
            return
        task = asyncio.get_running_loop().create_task(
            self._command(target, payload), name=f"mqtt-cmd-{target}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _command(self, target: str, payload: bytes) -> None:
        self.counters["commands"] += 1
        try:
            value = parse_command(payload)
        except ValueError as exc:
            result = CommandResult(False, target, error=str(exc))
        else:
            try:
                result = await self.commands.execute(target, value, role="operator", origin="mqtt")
            except Exception:
                log.exception("MQTT command for %s failed", target)
                result = CommandResult(False, target, error="internal error")
        if not result.ok:
            self.counters["command_errors"] += 1
        self._send_result(result)

    def _send_result(self, result: CommandResult) -> None:
        conn = self.conn
        if conn is None or not conn.connected:
            return
        with contextlib.suppress(MqttClientError):
            conn.publish(
                self.topics.result(result.target),
                encode_result(result.target, result.ok, result.value, result.error),
                1,
            )

    # -- shutdown ----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Release everything, synchronously: detach from the source, announce offline, write what memory holds
        to the outbox and close it. :meth:`run` calls it when it ends (also when cancelled); call it yourself for a
        bridge that never ran. Idempotent."""
        if self._closed:
            return
        for remove in self._remove_sinks:
            remove()
        self._remove_sinks = []
        self._closed = True
        for task in self._tasks:
            task.cancel()
        if self.conn is not None:
            self._goodbye(self.conn)
            self.conn.close()
        self.conn = None
        self._io.shutdown(wait=True)
        if self.forwarder is not None and not self.refused:  # refused: the outbox is the other gateway's
            self.forwarder.close()
        if self._claim_held is not None:
            self._claim_held.release()
            self._claim_held = None

    def _goodbye(self, conn: PahoConnection) -> None:
        # A clean disconnect suppresses the Last Will, so say "offline" ourselves.
        if conn.connected:
            with contextlib.suppress(MqttClientError):
                conn.publish(self.topics.status, b"offline", 1, retain=True)


def _load_topics(path: Path) -> set[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {t for t in data if isinstance(t, str)} if isinstance(data, list) else set()


def _save_topics(path: Path, topics: set[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(sorted(topics), indent=0), encoding="utf-8")
    tmp.replace(path)
