"""The bridge inside the real gateway: hub, command router, WebSocket path, /metrics."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bridges.mqtt.bridge import MqttBridge
from gateway.buses import BusWorker
from gateway.catalogue import Catalogue
from gateway.commands import CommandRouter
from gateway.hub import Hub
from gateway.metrics import Metrics
from sensors.base import Actuator, ActuatorInfo, Value
from tests.integration.helpers import client, make_config, running, synthetic
from tests.integration.mqtt.broker import Mosquitto, free_port
from tests.integration.mqtt.helpers import bridge_running, mqtt_config, until
from tests.integration.mqtt.subscriber import Subscriber

pytestmark = pytest.mark.mqtt


class LatchingRelay(Actuator):
    """An in-memory relay output (the actuator drivers are not under test here; the command path is)."""

    bus_id = "gpio"

    def __init__(self) -> None:
        super().__init__(ActuatorInfo("relay1", "test_relay", "switch", safe_value=False))
        self.state = False
        self.applied: list[Value] = []

    def apply(self, value: Value) -> Value:
        self.state = bool(value)
        self.applied.append(value)
        return self.state


async def test_unreachable_broker_at_start_does_not_stop_the_websocket_path(tmp_path: Path) -> None:
    """With [mqtt] pointing at a closed port, WebSocket clients still get hello and an unbroken data stream,
    readings pile up in the outbox, and /metrics shows the bridge disconnected."""
    mqtt = {
        "url": f"mqtt://127.0.0.1:{free_port()}",
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.3,
        "commit_interval_ms": 50,
        "max_rate_hz": 0,  # every reading goes to the outbox
    }
    cfg = make_config(sensors=[synthetic("wave", 0.01)], mqtt=mqtt, gateway={"data_dir": str(tmp_path)})
    async with running(cfg) as app, client(app.url) as c:
        assert (await c.next())["t"] == "hello"
        readings: list[list[Any]] = []
        while len(readings) < 50:
            frame = await c.until(lambda f: f["t"] == "data")
            readings += frame["r"]
        seqs = [r[0] for r in readings]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        bridge = app.bridge
        assert isinstance(bridge, MqttBridge)
        await until(lambda: bridge.metrics()["sensorcast_mqtt_outbox_rows"] >= 20, what="rows on disk")
        await until(lambda: bridge.metrics()["sensorcast_mqtt_connect_failures_total"] >= 2, what="retries")
        text = await asyncio.to_thread(
            lambda: urllib.request.urlopen(app.http_url + "metrics", timeout=5).read()
        )
        lines = text.decode().splitlines()
        assert "sensorcast_mqtt_connected 0.0" in lines
        assert any(line.startswith("sensorcast_mqtt_outbox_rows ") for line in lines)


async def test_gateway_readings_reach_mqtt_with_the_websocket_seqs(broker: Mosquitto, tmp_path: Path) -> None:
    """The same readings (same seq, prev, values) go to WebSocket clients and to MQTT subscribers."""
    sub = Subscriber(broker.port, ["sensorcast/test/wave/data"]).start()
    mqtt = {"url": broker.url, "commit_interval_ms": 20, "max_rate_hz": 0}  # every reading, no rate limit
    cfg = make_config(sensors=[synthetic("wave", 0.01)], mqtt=mqtt, gateway={"data_dir": str(tmp_path)})
    try:
        async with running(cfg) as app, client(app.url) as c:
            await c.next()
            ws: list[list[object]] = []
            while len(ws) < 30:
                ws += (await c.until(lambda f: f["t"] == "data"))["r"]
            wanted = {r[0] for r in ws}
            await until(
                lambda: wanted <= {json.loads(m.payload)["seq"] for m in sub.snapshot()}, what="same seqs"
            )
    finally:
        sub.stop()
    by_seq = {json.loads(m.payload)["seq"]: json.loads(m.payload) for m in sub.snapshot()}
    for seq, prev, ts_ns, _sensor, values, flags in ws:
        assert by_seq[seq] == {
            "gw": "test",
            "boot": app.boot_id,
            "seq": seq,
            "prev": prev,
            "ts_ns": ts_ns,
            "flags": flags,
            "values": values,
        }


async def test_command_over_mqtt_switches_an_output_through_the_gateway_command_path(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """ON on sensorcast/gw/relay1/set drives the relay through CommandRouter (allowlist, bus thread); the new
    state is published as a relay1 reading, and out-of-allowlist targets are refused."""
    metrics = Metrics()
    catalogue = Catalogue(metrics)
    hub = Hub("gw", "b0", flush_interval_ms=5, metrics=metrics, catalogue=catalogue)
    relay = LatchingRelay()
    catalogue.register_actuator(relay.info)
    worker = BusWorker("gpio")
    router = CommandRouter({"relay1": relay}, {"gpio": worker}, hub, catalogue=catalogue, metrics=metrics)
    sub = Subscriber(broker.port, ["sensorcast/gw/+/result", "sensorcast/gw/relay1/data"]).start()
    online = Subscriber(broker.port, ["sensorcast/gw/status"], "online", persistent=False).start()
    try:
        async with bridge_running(mqtt_config(broker.url), hub, router, tmp_path):
            await until(lambda: any(m.payload == b"online" for m in online.snapshot()), what="online")
            online.stop()
            ha = Subscriber(broker.port, [], "ha", persistent=False).start()
            ha.c.publish("sensorcast/gw/relay1/set", b"ON", 1).wait_for_publish(5)
            ha.c.publish("sensorcast/gw/heater/set", b"ON", 1).wait_for_publish(5)
            ha.stop()
            await until(lambda: len(sub.snapshot()) >= 3, what="results and state")
    finally:
        sub.stop()
        worker.shutdown()
    assert (relay.state, relay.applied) == (True, [True])
    got = {(m.topic, m.payload.decode()) for m in sub.snapshot() if m.topic.endswith("result")}
    assert got == {
        ("sensorcast/gw/relay1/result", '{"target":"relay1","ok":true,"value":true}'),
        ("sensorcast/gw/heater/result", '{"target":"heater","ok":false,"error":"unknown target"}'),
    }
    (state,) = [json.loads(m.payload) for m in sub.snapshot() if m.topic.endswith("/data")]
    assert (state["values"], state["seq"], state["boot"]) == ({"value": True}, 1, "b0")
