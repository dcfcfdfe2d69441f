"""Helpers of the fleet tests: real `sensorcast run` gateways, a cuttable TCP link to the broker."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bridges.mqtt.config import config_from_url
from gateway.config import Config
from gateway.fleet.app import FleetApp
from gateway.protocol.model import ReadingTuple
from tests.conftest import scaled
from tests.integration.helpers import make_config
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.helpers import RELAY_TOML, gateway_toml


def gateway_config(tmp_path: Path, gw_id: str, mqtt_port: int, interval_s: float = 0.05, **mqtt: Any) -> Path:
    """A fleet test's gateway in ``tmp_path/gw_id``: one synthetic sensor ``wave`` every ``interval_s``, one
    simulated relay, every reading to MQTT (no rate limit); ``mqtt`` adds or overrides [mqtt] keys."""
    return gateway_toml(
        tmp_path / gw_id,
        gw_id,
        mqtt_port,
        interval_s=interval_s,
        extra=RELAY_TOML,
        commit_interval_ms=20,
        keepalive_s=5,
        **mqtt,
    )


def gateway_meta(gw: str, boot: str, payload: str) -> bytes:
    """A gateway's retained meta announcing one sensor ``s`` and no outputs."""
    return json.dumps({"gw": gw, "boot": boot, "payload": payload, "sensors": ["s"], "outputs": []}).encode()


@contextlib.contextmanager
def scripted_gateway(port: int, gw: str, protocol: int, payload: str) -> Iterator[mqtt.Client]:
    """A scripted gateway ``gw`` (boot ``b1``, one sensor ``s`` with field ``a`` in V): its retained meta,
    sensor meta and status are published; the test publishes readings as `sensorcast run`'s bridge does (QoS 1)."""
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"scripted-{gw}", protocol=protocol)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    sensor = {"id": "s", "driver": "synthetic", "interval_s": 1.0, "fields": [{"name": "a", "unit": "V"}]}
    pub.publish(f"sensorcast/{gw}/meta", gateway_meta(gw, "b1", payload), 1, retain=True).wait_for_publish(5)
    pub.publish(f"sensorcast/{gw}/s/meta", json.dumps(sensor), 1, retain=True).wait_for_publish(5)
    pub.publish(f"sensorcast/{gw}/status", b"online", 1, retain=True).wait_for_publish(5)
    try:
        yield pub
    finally:
        pub.loop_stop()
        pub.disconnect()


class FleetRuns:
    """Runs of one fleet (same id, broker session and data directory); ``got`` is what its hub delivered, per
    run, as ``(sensor, a, prev-chained-to-the-reading-before)`` - or ``(a, chained)`` when only ``sensor``'s
    readings are kept."""

    def __init__(
        self, broker: Mosquitto, data_dir: Path, protocol: str = "5", sensor: str | None = None
    ) -> None:
        self.cfg: Config = make_config(gateway={"id": "fleet", "data_dir": str(data_dir)})
        self.mq = dataclasses.replace(config_from_url(broker.url), protocol=protocol)
        self.sensor = sensor
        self.got: list[list[tuple[Any, ...]]] = []
        self.app: FleetApp | None = None

    def start(self) -> FleetApp:
        app = self.app = FleetApp(self.cfg, self.mq)
        run: list[tuple[Any, ...]] = []
        self.got.append(run)
        last: dict[str, int] = {}

        def sink(batch: Sequence[ReadingTuple]) -> None:
            for seq, prev, _, sensor, values, _ in batch:
                if self.sensor is None:
                    run.append((sensor, values["a"], last.get(sensor) == prev))
                elif sensor == self.sensor:
                    run.append((values["a"], last.get(sensor) == prev))
                last[sensor] = seq

        app.hub.add_sink(sink)
        return app

    async def subscribed(self, gw: str, boot: str) -> None:
        """Until the fleet has ``gw``'s retained meta of ``boot`` (its subscriptions are in place: the broker's
        session queues for it from now on)."""
        deadline = time.monotonic() + scaled(15)
        while self.app is None or (g := self.app.source.registry.gateways.get(gw)) is None or g.boot != boot:
            assert time.monotonic() < deadline, f"the fleet never got {gw}'s retained meta"
            await asyncio.sleep(0.05)

    async def until(self, n: int, what: str) -> None:
        """Until the current run delivered ``n`` readings, then a moment more (anything extra would show)."""
        deadline = time.monotonic() + scaled(15)
        while len(self.got[-1]) < n:
            assert time.monotonic() < deadline, f"{what}: {self.got}"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)


def stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate ``proc`` (by its PID) and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Link:
    """A TCP forwarder 127.0.0.1:``port`` -> 127.0.0.1:``target`` that can be cut (every connection dropped,
    new ones refused) and restored: a gateway's network going away while the gateway keeps running."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.up = True
        self.server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> Link:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> None:
        self.up = False
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _client(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if not self.up:
            w.transport.abort()
            return
        try:
            br, bw = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            w.transport.abort()
            return
        self._writers |= {w, bw}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()

        tasks = [asyncio.ensure_future(pump(r, bw)), asyncio.ensure_future(pump(br, w))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        for x in (w, bw):
            x.transport.abort()
            self._writers.discard(x)


async def websocket_url(proc: subprocess.Popen[str]) -> str:
    """The WebSocket address a ``sensorcast fleet`` process prints on its ``WebSocket:`` start-up line."""
    assert proc.stdout is not None
    line = ""
    for _ in range(5):
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), scaled(20))
        if line.startswith("WebSocket:"):
            break
    return line.split()[-1]
