"""The fleet's MQTT side (I/O shell): subscribe to every gateway under the prefix, feed the hub and the
catalogue, and carry operators' commands to the gateways' command topics.

The decisions are pure: topic and payload decoding (:mod:`gateway.fleet.messages`), de-duplication and holes
(:mod:`gateway.fleet.ledger`), the gateway list (:mod:`gateway.fleet.registry`). This module only pumps.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from bridges.mqtt.client import MqttClientError, PahoConnection
from bridges.mqtt.config import MqttConfig
from bridges.mqtt.topics import Topics
from gateway.catalogue import Catalogue
from gateway.fleet.config import COMMAND_TIMEOUT_S, SESSION_EXPIRY_S
from gateway.fleet.hold import MAX_HOLD_S, BootHold
from gateway.fleet.ledger import GAP
from gateway.fleet.messages import (
    FleetInputError,
    Result,
    Topic,
    Upstream,
    decode_data,
    encode_command,
    parse_gateway_meta,
    parse_health,
    parse_item_meta,
    parse_result,
    parse_status,
    parse_topic,
    valid_id,
)
from gateway.fleet.origin import OriginTable
from gateway.fleet.registry import Gateway, Registry
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.protocol.seam import CommandResult
from sensors.base import ActuatorInfo, FieldSpec, SensorInfo

log = logging.getLogger(__name__)

MAX_COMMANDS_IN_PROGRESS = 64
"""Commands awaiting a result at once (one per output at a time); more are refused ``busy``."""
TAKEOVER_HINT_S = 5.0
"""A connection the broker drops sooner than this after it came up gets the client-id hint in its log line: the
usual cause is a second fleet with the same client id, each taking the session over from the other."""
BAD_INPUT_LOG_EVERY = 100
"""Malformed messages are logged once, then every this many (the count is in /metrics)."""


class FleetSource:
    """Readings of every gateway under ``cfg.topic_prefix`` into ``hub`` as ``<gateway>/<sensor>``.

    Args:
        cfg: broker settings (``--mqtt`` URL on top of the config's ``[mqtt]`` table).
        hub: the fleet's hub (its own id and boot; it stamps the fleet's seq).
        catalogue: the fleet's catalogue (entries rebuilt from the gateways' retained meta).
        metrics: registry for the fleet's counters.
        on_change: called when the gateway list or the catalogue changed (the app tells the clients).
        session_expiry_s: how long the broker keeps the fleet's session while it is away (0: a clean session
            each time). The session belongs to the client id, which is stable: ``cfg.client_id``, else
            ``sensorcast-fleet-<fleet id>``; two fleets on one broker need different ids.
        command_timeout_s: how long an operator's command waits for the gateway's result.
    """

    def __init__(
        self,
        cfg: MqttConfig,
        hub: Hub,
        catalogue: Catalogue,
        metrics: Metrics,
        on_change: Callable[[bool], None],
        session_expiry_s: int = SESSION_EXPIRY_S,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        self.cfg = cfg
        self.prefix = cfg.topic_prefix
        self.hub = hub
        self.catalogue = catalogue
        self.metrics = metrics
        self.on_change = on_change
        """``on_change(catalogue_changed)``."""
        self.registry = Registry()
        self.origins = OriginTable(hub.ring.capacity)
        """Fleet seq -> the gateway's ``(boot, seq)`` of each reading (as many as the ring keeps)."""
        self.conn: PahoConnection | None = None
        self.client_id = cfg.client_id or f"sensorcast-fleet-{hub.gateway_id}"[:64]
        self.session_expiry_s = session_expiry_s
        self.command_timeout_s = command_timeout_s
        self._health: dict[str, tuple[str, str | None]] = {}
        self._waiting: dict[str, asyncio.Future[Result]] = {}
        self.bad_input = 0
        self.boot_unknown = 0
        """Readings without a boot offered under ``?`` (see :meth:`_offer_unknown`)."""
        self.held: BootHold[tuple[str, Upstream]] = BootHold()
        """Readings (sensor id, reading) of gateways whose boot is not known yet (gateway/fleet/hold.py)."""
        self.offers = 0
        """Readings offered to the ledgers (the ledger store writes them when this moved)."""
        metrics.describe("sensorcast_fleet_bad_messages_total", "counter", "Malformed MQTT messages skipped")
        metrics.describe("sensorcast_fleet_duplicates_total", "counter", "QoS 1 re-deliveries dropped")
        metrics.describe("sensorcast_fleet_gateways_online", "gauge", "Gateways online (Last Will)")
        metrics.describe(
            "sensorcast_fleet_boot_unknown_total",
            "counter",
            "Readings without a boot offered under boot ? (held past a limit, or queued before a gateway's new meta)",
        )
        metrics.add_callback(self._gauges)

    def _gauges(self) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        gws = self.registry.gateways.values()
        return [
            ("sensorcast_fleet_bad_messages_total", (), float(self.bad_input)),
            ("sensorcast_fleet_duplicates_total", (), float(sum(g.ledger.counters.duplicates for g in gws))),
            ("sensorcast_fleet_gateways_online", (), float(sum(g.online for g in gws))),
            ("sensorcast_fleet_boot_unknown_total", (), float(self.boot_unknown)),
        ]

    # -- connection ----------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled; broker trouble is logged and retried with jittered backoff, never raised."""
        delay_s = self.cfg.reconnect_min_s
        while True:
            conn = PahoConnection(self.cfg, self.client_id, session_expiry_s=self.session_expiry_s)
            conn.client.on_message = self._on_paho_message  # needs the MQTT 5 user properties (the boot)
            try:
                await conn.connect()
            except MqttClientError as exc:
                log.warning("fleet: %s; retrying", exc)
                await asyncio.sleep(delay_s * random.uniform(0.8, 1.2))
                delay_s = min(delay_s * 2, self.cfg.reconnect_max_s)
                continue
            delay_s = self.cfg.reconnect_min_s
            log.info("fleet: connected to %s:%d", self.cfg.host, self.cfg.broker_port)
            up_since = time.monotonic()
            self.conn = conn
            try:
                for level in ("+/status", "+/meta", "+/+/meta", "+/+/health", "+/+/data", "+/+/result"):
                    conn.subscribe(f"{self.prefix}/{level}", 1)
                await conn.closed.wait()
            finally:
                self.conn = None
                conn.close()
                for fut in self._waiting.values():
                    if not fut.done():
                        fut.set_exception(MqttClientError("connection lost"))
            log.warning(
                "fleet: connection lost (%s); reconnecting%s",
                conn.disconnect_reason or "closed",
                takeover_hint(self.client_id) if time.monotonic() - up_since < TAKEOVER_HINT_S else "",
            )
            await asyncio.sleep(delay_s * random.uniform(0.5, 1.0))

    def _on_paho_message(self, client: Any, userdata: Any, msg: Any) -> None:
        boot = None
        props = getattr(msg, "properties", None)
        for key, value in getattr(props, "UserProperty", None) or ():
            if key == "boot" and isinstance(value, str):
                boot = value[:64]
        try:
            self.on_message(
                msg.topic,
                bytes(msg.payload),
                boot,
                time.monotonic(),
                time.time_ns(),
                retained=bool(msg.retain),
            )
        except FleetInputError as exc:
            self.bad_input += 1
            if self.bad_input % BAD_INPUT_LOG_EVERY == 1:
                log.warning("fleet: message on a gateway topic skipped: %s (%d so far)", exc, self.bad_input)

    # -- the data path -------------------------------------------------------------------------------------

    def on_message(
        self,
        topic: str,
        payload: bytes,
        boot: str | None,
        now_s: float,
        wall_ns: int,
        *,
        retained: bool = False,
    ) -> None:
        """Route one message (called on the loop). ``retained``: the broker sent it because the fleet subscribed
        (the current state), not because it was published while the fleet's session was subscribed.

        Raises:
            FleetInputError: the message is malformed (it is skipped and counted by the caller).
        """
        t = parse_topic(topic, self.prefix)
        if t is None:
            return
        gw = self.registry.get(t.gateway)
        if gw is None:
            return
        gw.seen(wall_ns)
        self.expire_held(now_s)
        if t.kind == "data":
            self._data(gw, t, payload, boot, now_s)
        elif t.kind == "status":
            self._status(gw, payload)
        elif t.kind == "gateway_meta":
            self._gateway_meta(gw, payload, retained, now_s)
        elif t.kind == "meta":
            self._item_meta(gw, t, payload)
        elif t.kind == "health":
            self._item_health(gw, t, payload)
        else:
            self._result(gw, t, payload)

    def _data(self, gw: Gateway, t: Topic, payload: bytes, boot: str | None, now_s: float) -> None:
        if not payload:
            return  # an empty retained message clears a topic; a reading is never empty
        # Readings the broker queued for the fleet's session arrive before the retained meta (which comes with
        # the subscriptions): until the meta is known, the format is told by the first byte.
        fmt = gw.payload if gw.boot else ("msgpack" if payload[:1] == b"\x96" else "json")
        up = decode_data(payload, fmt, gw.id, boot)
        if up.boot is None and not gw.boot:
            # No boot yet (MQTT 3.1.1 and msgpack: the retained meta gives it, after the queued readings).
            if self.held.holds(gw.id):
                self._offer_unknown(self.held.hold(gw.id, (t.item, up), now_s), now_s)
            else:  # its hold ran out (no meta): not delayed again
                self._offer_unknown([(gw.id, (t.item, up))], now_s)
            return
        self._offer(gw, t.item, up, up.boot or gw.boot, now_s)

    def _offer(self, gw: Gateway, item: str, up: Upstream, origin_boot: str, now_s: float) -> None:
        verdict = gw.ledger.offer(origin_boot, item, up.seq, up.prev)
        self.offers += 1
        if not verdict.deliver:
            return
        name = f"{gw.id}/{item}"
        if name in self.catalogue.actuator_values():
            self.catalogue.set_actuator_value(
                name, up.values.get("value", next(iter(up.values.values()), None))
            )
        elif self.catalogue.sensor(name) is None:
            # A reading before its retained meta: list it with what the reading shows until the meta comes.
            fields = tuple(FieldSpec(k, kind=_kind(v)) for k, v in up.values.items())
            self.catalogue.register_sensor(SensorInfo(name, "remote", fields, 0.0))
            self.catalogue.set_state(name, "ok")
            self.on_change(True)
        if verdict.kind == GAP:
            self.hub.break_chain(name)
        reading = self.hub.publish(name, up.values, up.ts_ns or None, up.flags)
        self.origins.add(reading[0], origin_boot, up.seq)
        gw.reading(now_s, up.flags)

    def _offer_unknown(self, readings: list[tuple[str, tuple[str, Upstream]]], now_s: float) -> None:
        """Offer readings whose boot stays unknown under ``?`` (counted; logged the first time)."""
        for gw_id, (item, up) in readings:
            gw = self.registry.gateways.get(gw_id)
            if gw is None:  # pragma: no cover - the registry never forgets a gateway
                continue
            if not self.boot_unknown:
                log.warning(
                    "fleet: readings of gateway %s offered without knowing its boot (no meta within %g s, more "
                    "than %d held, or queued before its new meta); they may reach clients twice and a false gap "
                    "may follow (counted in sensorcast_fleet_boot_unknown_total)",
                    gw_id,
                    MAX_HOLD_S,
                    self.held.max_readings,
                )
            self.boot_unknown += 1
            self._offer(gw, item, up, "?", now_s)

    def expire_held(self, now_s: float) -> None:
        """Offer the readings held too long (under ``?``); called with each message and periodically."""
        if len(self.held):
            self._offer_unknown(self.held.expire(now_s), now_s)

    def drain_held(self, now_s: float) -> None:
        """Offer every reading still held (under ``?``): the fleet stops, and the broker has them acknowledged."""
        self._offer_unknown(self.held.drain(), now_s)

    def _status(self, gw: Gateway, payload: bytes) -> None:
        if not payload:
            return
        online = parse_status(payload)
        if online == gw.online:
            return
        gw.online = online
        for sid in gw.sensors:
            name = f"{gw.id}/{sid}"
            if self.catalogue.sensor(name) is not None:
                state, error = (
                    self._health.get(name, ("ok", None)) if online else ("offline", "gateway offline")
                )
                self.catalogue.set_state(name, state, error)
        self.on_change(False)

    def _gateway_meta(self, gw: Gateway, payload: bytes, retained: bool, now_s: float) -> None:
        if not payload:
            return
        meta = parse_gateway_meta(payload, gw.id)
        gone = set(gw.sensors) - set(meta.sensors)
        held = self.held.release(gw.id)
        if held and not retained:
            # Published while the fleet was away: the gateway (re)connected then, so what was queued before this
            # meta may be of its previous boot, which nothing tells.
            self._offer_unknown([(gw.id, r) for r in held], now_s)
            held = []
        gw.boot, gw.payload, gw.sensors, gw.outputs = meta.boot, meta.payload, meta.sensors, meta.outputs
        for item, up in held:  # queued before the subscriptions' retained meta: readings of this boot
            self._offer(gw, item, up, meta.boot, now_s)
        for sid in gone:
            self.catalogue.unregister_sensor(f"{gw.id}/{sid}")
        self.on_change(bool(gone))

    def _item_meta(self, gw: Gateway, t: Topic, payload: bytes) -> None:
        if not payload:
            return
        info = parse_item_meta(payload, gw.id, t.item)
        if isinstance(info, ActuatorInfo):
            if info.id not in self.catalogue.actuator_values():
                self.catalogue.register_actuator(info)
                self.on_change(True)
            return
        if self.catalogue.sensor(info.id) is None:
            self.catalogue.register_sensor(info)
            state, error = (
                self._health.get(info.id, ("ok", None)) if gw.online else ("offline", "gateway offline")
            )
            self.catalogue.set_state(info.id, state, error)
        else:
            self.catalogue.update_info(info)
        self.on_change(True)

    def _item_health(self, gw: Gateway, t: Topic, payload: bytes) -> None:
        if not payload:
            return
        name = f"{gw.id}/{t.item}"
        state, error = parse_health(payload)
        if name not in self._health and len(self._health) >= 64 * 1024:
            return  # bounded like every table here; a real fleet has far fewer sensors
        self._health[name] = (state, error)
        if gw.online and self.catalogue.sensor(name) is not None:
            self.catalogue.set_state(name, state, error)

    def _result(self, gw: Gateway, t: Topic, payload: bytes) -> None:
        fut = self._waiting.get(f"{gw.id}/{t.item}")
        if fut is None or fut.done():
            return  # nobody asked (another fleet's or Home Assistant's command): not ours to report
        fut.set_result(parse_result(payload, t.item))

    # -- commands (gateway.protocol.seam.CommandHandler) -----------------------------------------------------

    async def execute(self, target: str, value: Any, *, role: str, origin: str) -> CommandResult:
        """Publish an operator's command on the gateway's ``<output>/set`` topic and wait for its result.

        The fleet checks only the role; the gateway's own allowlist and range checks decide (its result is
        passed back as it is). One command per output at a time: results carry no id, so a second command
        before the first one's result could not be told apart.
        """
        if role != "operator":
            return CommandResult(False, target, error="operator role required")
        gw_id, _, out = target.partition("/")
        gw = self.registry.gateways.get(gw_id)
        if gw is None or not valid_id(out) or target not in self.catalogue.actuator_values():
            return CommandResult(False, target, error="unknown target")
        conn = self.conn
        if not gw.online or conn is None or not conn.connected:
            return CommandResult(False, target, error="gateway offline")
        if target in self._waiting or len(self._waiting) >= MAX_COMMANDS_IN_PROGRESS:
            return CommandResult(False, target, error="busy")
        try:
            payload = encode_command(value)
        except (TypeError, ValueError):
            return CommandResult(False, target, error="bad value")
        fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting[target] = fut
        try:
            conn.publish(Topics(self.prefix, gw_id).command(out), payload, 1)
            log.info("fleet: command for %s from %s", target, origin)
            result = await asyncio.wait_for(fut, self.command_timeout_s)
        except TimeoutError:
            return CommandResult(False, target, error="no answer from the gateway")
        except MqttClientError:
            return CommandResult(False, target, error="gateway offline")
        finally:
            self._waiting.pop(target, None)
        return CommandResult(result.ok, target, value=result.value, error=result.error)


def _kind(v: object) -> Any:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    return "str" if isinstance(v, str) else "float"


def takeover_hint(client_id: str) -> str:
    """The end of the log line of a connection dropped soon after it came up (see :data:`TAKEOVER_HINT_S`)."""
    return (
        f" (dropped within {TAKEOVER_HINT_S:g} s: is another fleet connected as client id {client_id}? two fleets "
        "on one broker need different [fleet] client_id values, or they take the session over from each other)"
    )


__all__ = ["FleetSource"]
