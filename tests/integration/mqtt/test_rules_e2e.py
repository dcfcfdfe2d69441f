"""Local rules end to end on the demo's emulated sensors: an emulated BME280 driven over a threshold fires the
rule (event to WebSocket clients, relay on the MockFactory pin, Home Assistant binary_sensor ON on a real
Mosquitto, /metrics), a late client sees it in hello, an operator acknowledges it, and all clears again."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import jinja2
import pytest

from tests.integration.helpers import client, make_config, running
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.helpers import until
from tests.integration.mqtt.subscriber import Message, Subscriber

pytestmark = pytest.mark.mqtt

RELAY_PIN = 26
HOT = {
    "id": "hot",
    "sensor": "env",
    "field": "temperature_c",
    "when": "above",
    "threshold": 30.0,
    "hysteresis": 2.0,
    "for_s": 0.3,
    "clear_for_s": 0.3,
    "severity": "critical",
    "action": {"output": "relay1", "on_fire": True, "on_clear": False},
}


def config(broker_url: str, data_dir: Path) -> Any:
    return make_config(
        gateway={"data_dir": str(data_dir)},
        sensors=[
            {"id": "env", "driver": "bme280", "simulate": True, "interval_s": 0.05, "bus": 1, "address": 0x76}
        ],
        actuators=[
            {"id": "relay1", "driver": "relay", "simulate": True, "pin": RELAY_PIN, "active_high": False}
        ],
        rules=[HOT],
        mqtt={"url": broker_url, "commit_interval_ms": 50, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
    )


def ha_state(msgs: list[Message], template: str) -> str | None:
    """The binary_sensor's state as Home Assistant renders the last retained rule state (None before any)."""
    states = [m for m in msgs if m.topic == "sensorcast/test/_rules/hot"]
    if not states:
        return None
    return jinja2.Template(template).render(value_json=json.loads(states[-1].payload))


async def test_a_bme280_over_the_threshold_fires_and_clears_everywhere(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """22 C: inactive everywhere. 35 C: after for_s one `active` event (critical, threshold 30) to the client,
    the active-low relay pin goes low, the HA problem binary_sensor renders ON, /metrics shows it; a late client
    gets it in hello; ack_event marks it acked for everyone. 25 C: one `inactive` event, relay off, HA OFF."""
    sub = Subscriber(
        broker.port, ["sensorcast/test/_rules/#", "sensorcast/test/_events", "homeassistant/#"]
    ).start()
    temp = [22.0]
    try:
        async with running(config(broker.url, tmp_path)) as app, client(app.url) as c:
            chip = app.ctx.resources["sim-i2c-1"].chips[0x76]
            chip._environment = lambda t_s: (temp[0], 101325.0, 45.0)  # the test sets the physical value
            pin = app.ctx.resources["sim:gpio"].factory.pin(RELAY_PIN)
            hello = await c.next()
            assert hello["t"] == "hello" and "events" in hello["caps"]
            assert (hello["rules"][0]["id"], hello["rules"][0]["active"], hello["events"]) == (
                "hot",
                False,
                [],
            )
            await until(
                lambda: any(m.topic.endswith("_rule_hot/config") for m in sub.snapshot()), what="discovery"
            )
            disc = next(
                m for m in sub.snapshot() if m.topic == "homeassistant/binary_sensor/test/_rule_hot/config"
            )
            doc = json.loads(disc.payload)
            assert (disc.retain, doc["device_class"]) == (True, "problem")
            await until(
                lambda: ha_state(sub.snapshot(), doc["value_template"]) == "OFF", what="HA OFF at start"
            )
            assert pin.state == 1  # active low: off

            temp[0] = 35.0
            fired = await c.until(lambda f: f["t"] == "event")
            assert {k: fired[k] for k in ("rule", "sensor", "field", "state", "threshold", "severity", "acked_by")} == {
                "rule": "hot", "sensor": "env", "field": "temperature_c", "state": "active", "threshold": 30.0,
                "severity": "critical", "acked_by": None,
            }  # fmt: skip
            assert fired["value"] == pytest.approx(35.0, abs=0.05)
            await until(lambda: pin.state == 0, what="relay on")
            await until(lambda: ha_state(sub.snapshot(), doc["value_template"]) == "ON", what="HA ON")
            events = [json.loads(m.payload) for m in sub.snapshot() if m.topic == "sensorcast/test/_events"]
            assert [(e["rule"], e["state"]) for e in events] == [("hot", "active")]
            metrics = await asyncio.to_thread(
                lambda: urllib.request.urlopen(app.http_url + "metrics", timeout=5).read()
            )
            lines = metrics.decode().splitlines()
            assert 'sensorcast_rule_active{rule="hot"} 1.0' in lines
            assert 'sensorcast_rule_fired_total{rule="hot"} 1.0' in lines

            async with client(app.url) as late:
                late_hello = await late.next()
                assert (
                    late_hello["events"] == [{k: v for k, v in fired.items() if k != "t"}]
                    and late_hello["rules"][0]["active"] is True
                )
                await late.send({"t": "ack_event", "id": 1, "rule": "hot"})
                assert await late.until(lambda f: f["t"] in ("ack", "error")) == {
                    "t": "ack",
                    "ref": 1,
                    "op": "ack_event",
                }
            acked = await c.until(lambda f: f["t"] == "event")
            assert (acked["state"], acked["acked_by"] is not None) == ("active", True)

            temp[0] = 29.0  # the dead band (above 30 - 2): stays active
            await asyncio.sleep(0.5)
            temp[0] = 25.0
            cleared = await c.until(lambda f: f["t"] == "event")
            assert (cleared["rule"], cleared["state"]) == ("hot", "inactive")
            assert cleared["value"] == pytest.approx(25.0, abs=0.05)
            await until(lambda: pin.state == 1, what="relay off")
            await until(lambda: ha_state(sub.snapshot(), doc["value_template"]) == "OFF", what="HA OFF again")
            assert app.rules.active() == []
    finally:
        sub.stop()
    events = [json.loads(m.payload) for m in sub.snapshot() if m.topic == "sensorcast/test/_events"]
    assert [(e["state"], e["acked_by"] is not None) for e in events] == [
        ("active", False),
        ("active", True),
        ("inactive", False),
    ]
