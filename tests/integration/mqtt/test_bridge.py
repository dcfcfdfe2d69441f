"""The bridge against a real Mosquitto: data, retained metadata, discovery, commands, availability."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from bridges.mqtt.payloads import encode_msgpack
from tests.integration.mqtt.broker import Mosquitto, free_port
from tests.integration.mqtt.helpers import bridge_running, json_seqs, mqtt_config, outbox_seqs, until
from tests.integration.mqtt.seam_impl import SENSORS, TestCommands, TestSource
from tests.integration.mqtt.subscriber import Subscriber

pytestmark = pytest.mark.mqtt
HA_TOPIC = re.compile(
    r"homeassistant/(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?"
    r"(?P<object_id>[a-zA-Z0-9_-]+)/config"
)


async def test_json_readings_reach_a_subscriber_with_topics_payloads_and_boot(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Every reading arrives once on <prefix>/<gw>/<sensor>/data as JSON with its identity; outbox empties."""
    sub = Subscriber(broker.port, ["sc/#"]).start()
    src = TestSource()
    try:
        async with bridge_running(
            mqtt_config(broker.url, topic_prefix="sc"), src, TestCommands(src), tmp_path
        ) as bridge:
            await until(lambda: bridge.metrics()["sensorcast_mqtt_connected"] == 1.0, what="connect")
            sent = src.emit(100)
            await until(lambda: len(json_seqs(sub.snapshot())) >= 100, what="100 readings")
            # Publish-first: the subscriber can have a reading before its PUBACK is back at the gateway, and the
            # outbox is empty all along, so wait for the acknowledgements themselves (raced once under load).
            await until(
                lambda: (
                    bridge.metrics()["sensorcast_mqtt_inflight"] == 0
                    and bridge.metrics()["sensorcast_mqtt_outbox_rows"] == 0
                ),
                what="every reading acknowledged, outbox drained",
            )
            m = bridge.metrics()
            assert (
                m["sensorcast_mqtt_published_total"],
                sum(bridge.drops().values()),
                m["sensorcast_mqtt_inflight"],
            ) == (100.0, 0.0, 0.0)
        await until(lambda: sub.snapshot()[-1].payload == b"offline", what="offline at clean shutdown")
    finally:
        sub.stop()
    msgs = sub.snapshot()
    data = [x for x in msgs if x.topic.endswith("/data")]
    assert [(x.topic, json.loads(x.payload)) for x in data] == [
        (
            f"sc/gw1/{r.sensor}/data",
            {
                "gw": "gw1",
                "boot": "boot1",
                "seq": r.seq,
                "prev": r.prev,
                "ts_ns": r.ts_ns,
                "flags": r.flags,
                "values": dict(r.values),
            },
        )
        for r in sent
    ]
    assert {x.props.get("boot") for x in data} == {"boot1"}
    by_topic = {x.topic: x for x in msgs if not x.topic.endswith("/data")}
    assert [by_topic["sc/gw1/status"].payload, by_topic["sc/gw1/env/health"].payload] == [
        b"offline",
        b'{"error":null,"state":"ok"}',
    ]  # offline: the clean shutdown at the end
    assert json.loads(by_topic["sc/gw1/meta"].payload) == {
        "gw": "gw1",
        "boot": "boot1",
        "payload": "json",
        "sensors": ["env", "door"],
        "outputs": ["relay1"],
    }
    assert json.loads(by_topic["sc/gw1/env/meta"].payload)["fields"][0]["name"] == "temperature_c"
    assert outbox_seqs(tmp_path) == []


async def test_msgpack_payload_is_the_wire_array(broker: Mosquitto, tmp_path: Path) -> None:
    """With payload = "msgpack" each message is byte-identical to the WebSocket reading array."""
    sub = Subscriber(broker.port, ["sensorcast/gw1/+/data"]).start()
    src = TestSource()
    try:
        async with bridge_running(
            mqtt_config(broker.url, payload="msgpack"), src, TestCommands(src), tmp_path
        ):
            sent = src.emit(50)
            await until(lambda: len(sub.snapshot()) >= 50, what="50 readings")
    finally:
        sub.stop()
    assert [(m.topic, m.payload) for m in sub.snapshot()] == [
        (f"sensorcast/gw1/{r.sensor}/data", encode_msgpack(r)) for r in sent
    ]


async def test_retained_status_and_health_follow_state_changes(broker: Mosquitto, tmp_path: Path) -> None:
    """status is retained 'online' while connected; a sensor state change updates its retained health."""
    src = TestSource()
    async with bridge_running(mqtt_config(broker.url), src, TestCommands(src), tmp_path) as bridge:
        await until(lambda: bridge.metrics()["sensorcast_mqtt_connected"] == 1.0, what="connect")
        src.set_state("env", "failing", "I2C NACK (errno 121)")
        await asyncio.sleep(
            0.5
        )  # let the bridge publish it; the late subscriber then sees the retained state
        late = Subscriber(
            broker.port, ["sensorcast/gw1/status", "sensorcast/gw1/env/health"], "late", persistent=False
        ).start()
        try:
            await until(lambda: len(late.snapshot()) >= 2, what="retained messages")
            got = {m.topic: (m.payload, m.retain) for m in late.snapshot()}
        finally:
            late.stop()
    assert got == {
        "sensorcast/gw1/status": (b"online", True),
        "sensorcast/gw1/env/health": (b'{"error":"I2C NACK (errno 121)","state":"failing"}', True),
    }


async def test_discovery_matches_home_assistant_and_is_resent_when_ha_restarts(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Discovery configs match HA's topic pattern with the required keys; 'online' on homeassistant/status
    makes the bridge send them again."""
    sub = Subscriber(broker.port, ["homeassistant/+/+/+/config"]).start()
    src = TestSource()
    try:
        async with bridge_running(mqtt_config(broker.url), src, TestCommands(src), tmp_path):
            await until(lambda: len(sub.snapshot()) >= 5, what="discovery")
            first = sub.snapshot()
            ha = Subscriber(broker.port, [], "ha", persistent=False).start()
            ha.c.publish("homeassistant/status", b"online", 1).wait_for_publish(5)
            ha.stop()
            await until(lambda: len(sub.snapshot()) >= 10, what="discovery again")
    finally:
        sub.stop()
    topics = sorted(m.topic for m in first)
    assert topics == [
        "homeassistant/binary_sensor/gw1/_gateway/config",
        "homeassistant/binary_sensor/gw1/door_open/config",
        "homeassistant/sensor/gw1/env_humidity_pct/config",
        "homeassistant/sensor/gw1/env_temperature_c/config",
        "homeassistant/switch/gw1/relay1/config",
    ]
    required = {
        "name",
        "unique_id",
        "state_topic",
        "device_class",
        "unit_of_measurement",
        "state_class",
        "device",
        "availability",
        "value_template",
    }
    for m in first:
        match = HA_TOPIC.fullmatch(m.topic)
        assert match is not None and match["node_id"] == "gw1" and m.retain
        doc = json.loads(m.payload)
        if match["component"] == "sensor":
            assert required <= set(doc), m.topic
        availability = [a["topic"] for a in doc.get("availability", [])] or [doc.get("availability_topic")]
        if match["object_id"] == "_gateway":
            assert doc["state_topic"] == "sensorcast/gw1/status"
        else:
            assert availability[0] == "sensorcast/gw1/status", m.topic
    assert sorted(m.topic for m in sub.snapshot()[len(first) :]) == topics


async def test_removed_sensor_entities_are_deleted_with_empty_retained_payloads(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """After a restart without 'door', its discovery config and meta get empty retained payloads."""
    src = TestSource()
    sub = Subscriber(broker.port, ["homeassistant/#", "sensorcast/gw1/door/#"], "rm").start()
    try:
        async with bridge_running(mqtt_config(broker.url), src, TestCommands(src), tmp_path):
            # 5 discovery configs (gateway, door, 2 env fields, relay1) + door's meta and health, all retained:
            # the bridge must have published them before it stops (the first start records them as its own)
            await until(lambda: len(sub.snapshot()) >= 7, what="retained before")
        before = len(sub.snapshot())
        src2 = TestSource(sensors=[SENSORS[0]])
        async with bridge_running(mqtt_config(broker.url), src2, TestCommands(src2), tmp_path):
            await until(lambda: sum(1 for m in sub.snapshot()[before:] if not m.payload) >= 3, what="removal")
    finally:
        sub.stop()
    assert sorted(m.topic for m in sub.snapshot()[before:] if not m.payload) == [
        "homeassistant/binary_sensor/gw1/door_open/config",
        "sensorcast/gw1/door/health",
        "sensorcast/gw1/door/meta",
    ]


async def test_command_over_mqtt_switches_the_output_and_publishes_the_result(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """'ON' on <output>/set goes to the command handler as operator/mqtt; result and new state are published;
    unknown targets and bad payloads get an error result."""
    sub = Subscriber(broker.port, ["sensorcast/gw1/+/result", "sensorcast/gw1/relay1/data"]).start()
    online = Subscriber(broker.port, ["sensorcast/gw1/status"], "online", persistent=False).start()
    src = TestSource()
    cmds = TestCommands(src)
    try:
        async with bridge_running(mqtt_config(broker.url), src, cmds, tmp_path) as bridge:
            # "online" follows the bridge's SUBSCRIBE on the same connection: commands are heard from now
            await until(lambda: any(m.payload == b"online" for m in online.snapshot()), what="online")
            online.stop()
            ha = Subscriber(broker.port, [], "ha-cmd", persistent=False).start()
            for topic, payload in [
                ("sensorcast/gw1/relay1/set", b"ON"),
                ("sensorcast/gw1/nope/set", b"ON"),
                ("sensorcast/gw1/relay1/set", b""),
            ]:
                ha.c.publish(topic, payload, 1).wait_for_publish(5)
            ha.stop()
            await until(lambda: len(sub.snapshot()) >= 4, what="results")
            assert bridge.metrics()["sensorcast_mqtt_commands_total"] == 3.0
    finally:
        sub.stop()
    assert cmds.calls == [("relay1", "ON", "operator", "mqtt"), ("nope", "ON", "operator", "mqtt")]
    assert src.values["relay1"] is True
    got = sorted(
        ((m.topic, json.loads(m.payload).get("values", json.loads(m.payload))) for m in sub.snapshot()),
        key=lambda x: (x[0], json.dumps(x[1], sort_keys=True)),
    )
    assert got == [
        ("sensorcast/gw1/nope/result", {"target": "nope", "ok": False, "error": "unknown target"}),
        ("sensorcast/gw1/relay1/data", {"value": True}),
        ("sensorcast/gw1/relay1/result", {"target": "relay1", "ok": False, "error": "empty command payload"}),
        ("sensorcast/gw1/relay1/result", {"target": "relay1", "ok": True, "value": True}),
    ]


async def test_unreachable_broker_buffers_in_the_outbox_then_drains(tmp_path: Path) -> None:
    """With no broker, run() keeps going and counts failures; readings stay on disk and drain later."""
    broker = Mosquitto(tmp_path / "broker", free_port())
    src = TestSource()
    async with bridge_running(mqtt_config(broker.url), src, TestCommands(src), tmp_path / "data") as bridge:
        src.emit(300)
        await until(lambda: bridge.metrics()["sensorcast_mqtt_outbox_rows"] == 300, what="300 rows on disk")
        await until(lambda: bridge.metrics()["sensorcast_mqtt_connect_failures_total"] >= 2, what="retries")
        assert bridge.metrics()["sensorcast_mqtt_connected"] == 0.0
        broker.start()
        sub = Subscriber(broker.port, ["sensorcast/gw1/+/data"]).start()
        try:
            src.emit(10)
            await until(lambda: len(sub.snapshot()) >= 310, timeout_s=10, what="backlog delivered")
            await until(lambda: bridge.metrics()["sensorcast_mqtt_outbox_rows"] == 0, what="outbox drained")
        finally:
            sub.stop()
            broker.stop()
    assert sorted(json_seqs(sub.snapshot())) == list(range(1, 311))
    assert bridge.metrics()["sensorcast_mqtt_replayed_total"] >= 300


async def test_qos0_counts_drops_while_disconnected_and_writes_no_outbox(tmp_path: Path) -> None:
    """QoS 0: readings while disconnected are dropped and counted; connected, they flow; no outbox file."""
    broker = Mosquitto(tmp_path / "broker", free_port())
    src = TestSource()
    async with bridge_running(
        mqtt_config(broker.url, qos=0), src, TestCommands(src), tmp_path / "d"
    ) as bridge:
        src.emit(40)
        assert bridge.drops() == {"outbox_full": 0, "outbox_age": 0, "pending_full": 0, "disconnected": 40}
        broker.start()
        try:
            sub = Subscriber(broker.port, ["sensorcast/gw1/+/data"]).start()
            await until(lambda: bridge.metrics()["sensorcast_mqtt_connected"] == 1.0, what="connect")
            sent = src.emit(25)
            await until(lambda: len(sub.snapshot()) >= 25, what="qos0 readings")
            sub.stop()
        finally:
            broker.stop()
        assert bridge.metrics()["sensorcast_mqtt_published_total"] == 25.0
    assert json_seqs(sub.snapshot()) == [r.seq for r in sent]
    assert not (tmp_path / "d" / "mqtt-outbox.db").exists()


async def test_full_outbox_drops_oldest_counts_and_logs_once_per_episode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At the row cap the oldest readings go, every one is counted, the episode is logged once when it starts
    and once when the outbox is back under 90 % of the cap; the newest readings are delivered."""
    broker = Mosquitto(tmp_path / "broker", free_port())
    src = TestSource()
    cfg = mqtt_config(broker.url, outbox_max_rows=100)
    async with bridge_running(cfg, src, TestCommands(src), tmp_path / "data") as bridge:
        for _ in range(5):
            src.emit(50)
            await asyncio.sleep(0.08)
        await until(lambda: sum(bridge.drops().values()) == 150, what="150 dropped")
        assert (bridge.metrics()["sensorcast_mqtt_outbox_rows"], bridge.drops()["outbox_full"]) == (100, 150)
        broker.start()
        sub = Subscriber(broker.port, ["sensorcast/gw1/+/data"]).start()
        try:
            await until(lambda: len(sub.snapshot()) >= 100, what="the newest 100")
            src.emit(1)  # the next commit notices the outbox is back under the cap
            await until(
                lambda: any("stopped dropping" in r.message for r in caplog.records), what="episode end"
            )
        finally:
            sub.stop()
            broker.stop()
    assert sorted(json_seqs(sub.snapshot()))[:100] == list(range(151, 251))
    episode = [r.message for r in caplog.records if "dropping readings" in r.message]
    assert episode == [
        "MQTT: dropping readings (outbox_full); counted in sensorcast_mqtt_dropped_total, logged once",
        "MQTT: stopped dropping readings (outbox_full): 150 dropped in this episode, 150 in total",
    ]
