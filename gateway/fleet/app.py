"""The fleet process (composition root of ``sensorcast fleet``): the MQTT source, a hub, a catalogue, the fan-out
and the WebSocket/HTTP server, exactly the pieces a gateway serves its own sensors with.

Readings of every gateway enter the fleet's hub as ``<gateway>/<sensor>``; the hub stamps them with the fleet's
own seq (so subscriptions, policies, aggregation, resume and the ring work unchanged for clients), and the
fleet breaks a sensor's ``prev`` chain where the gateway's own chain had a hole, so clients see an upstream
loss exactly as they see one of a single gateway. The gateway list goes out as the ``fleet`` frame.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from bridges.mqtt.config import MqttConfig
from gateway.catalogue import Catalogue
from gateway.config import Config
from gateway.fleet.ledger_store import LedgerStore
from gateway.fleet.origin import encode_origin, wants_origin
from gateway.fleet.registry import encode_fleet
from gateway.fleet.source import FleetSource
from gateway.history.service import HistoryService
from gateway.lifecycle import Stoppable, build_hub
from gateway.metrics import Metrics
from gateway.protocol.model import ReadingTuple
from gateway.protocol.wire import encode_status
from gateway.server.connections import GatewayServer
from gateway.server.fanout import Client, FanOut

log = logging.getLogger(__name__)

FLEET_FRAME_PERIOD_S = 1.0
"""How often the gateway list is re-sent when it changed (seconds): last seen and rates move every second;
online/offline changes go out at the next period too, so a flapping gateway costs one frame a second at most."""


MAX_DESCRIBED = 64 * 1024
"""Sensors whose history policy the fleet remembers having set (sensors): bounded like its other tables."""


class FleetApp(Stoppable):
    """``async with FleetApp(cfg, mqtt) as app: await app.wait_closed()``.

    Args:
        config: the fleet's own settings (``[gateway]`` id/host/port/ring/data_dir, ``[security]`` tokens,
            ``[limits]``, ``[history]``, ``[fleet]`` session and command limits); its sensors, if any, are not run.
        mqtt: the broker to read the gateways from (:func:`gateway.cli.fleet.fleet_mqtt` builds it).
    """

    def __init__(self, config: Config, mqtt: MqttConfig) -> None:
        super().__init__()
        self.config = config
        self.metrics = Metrics()
        self.boot_id = secrets.token_hex(8)
        gw = config.gateway
        self.catalogue = Catalogue(self.metrics)
        # clock_synced=False: each reading keeps its gateway's clock flag (the hub only ORs it in)
        self.hub = build_hub(gw, self.boot_id, self.metrics, self.catalogue, clock_synced=False)
        self.fanout = FanOut(self.metrics)
        self.source = FleetSource(
            mqtt,
            self.hub,
            self.catalogue,
            self.metrics,
            self._changed,
            session_expiry_s=config.fleet.session_expiry_s,
            command_timeout_s=config.fleet.command_timeout_s,
        )
        self.server = GatewayServer(
            config, self.hub, self.fanout, self.source, self.metrics, self.health, catalogue=self.catalogue
        )
        self.server.after_hello = lambda: encode_fleet(self.source.registry.listing())
        self.ledgers = LedgerStore(
            gw.data_dir / f"fleet-{gw.id}", self.source.registry, lambda: self.source.offers
        )
        """The gateways' ledgers across restarts of the fleet (``<data_dir>/fleet-<id>/ledger.json``)."""
        hist = config.history
        if hist.enabled and hist.path is None:
            # Never the history.db of a gateway sharing the data directory (a fleet on a Pi that is a gateway too).
            hist = dataclasses.replace(hist, path=hist.fleet_db_path(gw.data_dir, gw.id))
        self.history = HistoryService(hist, gw.data_dir, self.metrics) if hist.enabled else None
        """The fleet's own history store of every ``<gateway>/<sensor>`` (``[history]``; None when disabled)."""
        self.server.history = self.history
        self._described: set[tuple[str, float, tuple[tuple[str, str], ...]]] = set()
        self.started_s = time.monotonic()
        self._catalogue_changed = False
        self._list_changed = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._origin_opt_in: weakref.WeakKeyDictionary[Client, bool] = weakref.WeakKeyDictionary()

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server.port

    @property
    def url(self) -> str:
        """The WebSocket URL."""
        return f"ws://127.0.0.1:{self.port}/"

    def health(self) -> dict[str, Any]:
        """The /healthz document: ok while the broker connection is up."""
        conn = self.source.conn
        gws = self.source.registry.gateways.values()
        return {
            "status": "ok" if conn is not None and conn.connected else "down",
            "uptime_s": round(time.monotonic() - self.started_s, 3),
            "gateway": self.hub.gateway_id,
            "boot": self.boot_id,
            "clients": len(self.fanout.clients),
            "gateways": {g.id: "online" if g.online else "offline" for g in gws},
            "sensors": self.catalogue.states(),
            "seq": self.hub.flushed_seq,
        }

    def _changed(self, catalogue: bool) -> None:
        self._list_changed = True
        self._catalogue_changed |= catalogue
        if catalogue and self.history is not None:
            self._describe_history(self.history)

    def _describe_history(self, history: HistoryService) -> None:
        """Give each sensor that appeared, or whose entry changed, its history policy and units, as a gateway
        does at start-up. A sensor whose readings came before its retained meta is listed with an unknown rate
        (a push source's policy) and no units until the meta comes: then the policy follows its poll interval
        (the store's writer switches over: :meth:`HistoryStore._state`) and the units its fields."""
        listing = self.catalogue.listing()
        for info in listing.sensors:
            key = (info.id, info.interval_s, tuple((f.name, f.unit) for f in info.fields))
            if key in self._described:
                continue
            if len(self._described) >= MAX_DESCRIBED:
                self._described.clear()  # bounded; re-describing a sensor only repeats what the store has
            self._described.add(key)
            history.store.policies[info.id] = history.config.policy_for(info.id, info.interval_s)
            history.store.describe(info.id, {f.name: f.unit or "" for f in info.fields})
        for actuator in listing.actuators:
            history.store.policies.setdefault(actuator.id, history.config.policies.get(actuator.id, "raw"))

    def _on_status(self, sensor_id: str, state: str, error: str | None) -> None:
        self.fanout.broadcast_control(
            encode_status(sensors={sensor_id: {"state": state, "error": error, "since": time.time_ns()}})
        )

    def _wants_origin(self, client: Client) -> bool:
        wants = self._origin_opt_in.get(client)
        if wants is None:
            request = client.conn.request
            wants = self._origin_opt_in[client] = request is not None and wants_origin(request.path)
        return wants

    def _send_origins(self, batch: Sequence[ReadingTuple]) -> None:
        """Hub sink: each client that connected with ``?origin=1`` gets the gateway identity of the readings of
        this flush its subscription routes (one frame of at most ``batch_size`` rows; nothing for the others)."""
        for client in list(self.fanout.clients):
            if not self._wants_origin(client):
                continue
            route = client.subs.route
            rows = self.source.origins.rows(r[0] for r in batch if route(r[3]) is not None)
            if rows:
                client.send(encode_origin(rows))

    async def _fleet_frames(self) -> None:
        last: list[dict[str, Any]] = []
        while True:
            await asyncio.sleep(FLEET_FRAME_PERIOD_S)
            self.source.registry.tick(time.monotonic())
            self.source.expire_held(time.monotonic())
            listing = self.source.registry.listing()
            if listing == last and not self._catalogue_changed:
                continue
            last = listing
            cat = self.catalogue.entries() if self._catalogue_changed else None
            self._catalogue_changed = self._list_changed = False
            self.fanout.broadcast_control(encode_fleet(listing, cat))

    async def __aenter__(self) -> FleetApp:
        """Start serving and connect to the broker (in the background: an unreachable broker is retried)."""
        self.hub.add_encoded_sink(self.fanout.on_batch)
        self.hub.add_sink(self._send_origins)
        if self.history is not None:
            self.history.start(self.hub, self.catalogue)
        self.catalogue.add_status_sink(self._on_status)
        self.ledgers.load()  # before the source subscribes: re-deliveries of the last run are duplicates
        loop = asyncio.get_running_loop()
        for coro, name in (
            (self.fanout.run_ticks(), "fanout-ticks"),
            (self.source.run(), "fleet-mqtt"),
            (self._fleet_frames(), "fleet-frames"),
            (self.ledgers.run(), "fleet-ledgers"),
        ):
            self._tasks.append(loop.create_task(coro, name=name))
        try:
            await self.server.start()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Flush what the hub holds, stop the tasks, write the ledgers, close the clients (1001)."""
        self.hub.flush()
        await self._cancel(self._tasks)
        if len(self.source.held):  # acknowledged to the broker: offered under "?", not dropped
            self.source.drain_held(time.monotonic())
            self.hub.flush()
        await self.ledgers.save()  # after the source stopped: nothing is offered (and acknowledged) after it
        if self.history is not None:
            try:
                await self.history.close()  # commits the last flush
            except Exception:
                log.exception("history: clean stop failed")
        await self.server.close()
