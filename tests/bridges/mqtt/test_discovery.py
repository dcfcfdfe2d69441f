"""Home Assistant discovery and retained metadata."""

from __future__ import annotations

import json
import re
from typing import Any

from bridges.mqtt.discovery import discovery_messages, health_message, meta_messages
from bridges.mqtt.topics import Topics

# Home Assistant's discovery topic pattern (homeassistant/components/mqtt/discovery.py), after the prefix.
HA_TOPIC = re.compile(
    r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config"
)
REQUIRED = {"name", "unique_id", "default_entity_id", "state_topic", "device", "origin"}

CATALOGUE: dict[str, Any] = {
    "sensors": [
        {
            "id": "env",
            "driver": "bme280",
            "model": "BME280",
            "interval_s": 1.0,
            "sim": True,
            "state": "ok",
            "error": None,
            "fields": [
                {"name": "temperature_c", "unit": "°C", "kind": "float", "device_class": "temperature"},
                {"name": "pressure_pa", "unit": "Pa", "kind": "float", "device_class": "pressure"},
                {"name": "n", "unit": "", "kind": "int", "device_class": None},
            ],
        },
        {
            "id": "door",
            "driver": "gpio_input",
            "model": "",
            "interval_s": 0,
            "sim": True,
            "fields": [
                {"name": "open", "unit": "", "kind": "bool", "device_class": "door"},
                {"name": "note", "unit": "", "kind": "str", "device_class": None},
            ],
        },
    ],
    "actuators": [
        {
            "id": "relay1",
            "driver": "gpio_output",
            "kind": "switch",
            "min": 0.0,
            "max": 1.0,
            "unit": "",
            "value": False,
            "sim": True,
        },
        {
            "id": "fan",
            "driver": "pwm",
            "kind": "number",
            "min": 0.0,
            "max": 100.0,
            "unit": "%",
            "value": 0.0,
            "sim": True,
        },
    ],
}


def messages() -> dict[str, dict[str, Any]]:
    out = discovery_messages(
        CATALOGUE, Topics("sc", "pi-1"), "homeassistant", "0.1.0", dashboard_url="http://pi-1:8765/"
    )
    return {topic: json.loads(payload) for topic, payload in out.items()}


def test_one_entity_per_field_and_output_with_ha_topics() -> None:
    """Every sensor field and output, and the gateway itself, gets one config topic matching HA's pattern."""
    msgs = messages()
    assert sorted(msgs) == [
        "homeassistant/binary_sensor/pi-1/_gateway/config",
        "homeassistant/binary_sensor/pi-1/door_open/config",
        "homeassistant/number/pi-1/fan/config",
        "homeassistant/sensor/pi-1/door_note/config",
        "homeassistant/sensor/pi-1/env_n/config",
        "homeassistant/sensor/pi-1/env_pressure_pa/config",
        "homeassistant/sensor/pi-1/env_temperature_c/config",
        "homeassistant/switch/pi-1/relay1/config",
    ]
    for topic, doc in msgs.items():
        m = HA_TOPIC.fullmatch(topic.removeprefix("homeassistant/"))
        assert m is not None and m["node_id"] == "pi-1", topic
        assert set(doc) >= REQUIRED, (topic, REQUIRED - set(doc))
        assert "object_id" not in doc, topic  # deprecated in HA 2025.10, ignored from 2026.4
        assert doc["default_entity_id"] == f"{m['component']}.{doc['unique_id']}", topic


def test_numeric_sensor_entity() -> None:
    """A numeric field: human name, device class, unit, state class, a null-safe template, expire_after, and
    two availability topics (gateway online and the sensor's own health)."""
    doc = messages()["homeassistant/sensor/pi-1/env_temperature_c/config"]
    assert doc == {
        "name": "Temperature",
        "unique_id": "sensorcast_pi-1_env_temperature_c",
        "default_entity_id": "sensor.sensorcast_pi-1_env_temperature_c",
        "state_topic": "sc/pi-1/env/data",
        "value_template": "{% set v = value_json['values'].get(\"temperature_c\") %}{{ v }}",
        "state_class": "measurement",
        "unit_of_measurement": "°C",
        "device_class": "temperature",
        "expire_after": 60,
        "availability": [
            {"topic": "sc/pi-1/status", "payload_available": "online", "payload_not_available": "offline"},
            {
                "topic": "sc/pi-1/env/health",
                "value_template": "{{ 'online' if value_json.state in ['ok', 'recovering'] else 'offline' }}",
            },
        ],
        "availability_mode": "all",
        "device": {
            "identifiers": ["sensorcast_pi-1_env"],
            "name": "pi-1 env",
            "manufacturer": "sensorcast",
            "model": "BME280",
            "sw_version": "0.1.0",
            "via_device": "sensorcast_pi-1",
            "configuration_url": "http://pi-1:8765/",
        },
        "origin": {"name": "sensorcast", "sw_version": "0.1.0"},
    }


def test_gateway_device_and_connectivity() -> None:
    """The gateway is a device of its own (every other device is via it) with a connectivity entity on the
    Last Will status topic."""
    doc = messages()["homeassistant/binary_sensor/pi-1/_gateway/config"]
    assert {k: doc[k] for k in ("state_topic", "payload_on", "payload_off", "device_class")} == {
        "state_topic": "sc/pi-1/status",
        "payload_on": "online",
        "payload_off": "offline",
        "device_class": "connectivity",
    }
    assert doc["device"]["identifiers"] == ["sensorcast_pi-1"]
    assert doc["device"]["configuration_url"] == "http://pi-1:8765/"


def test_without_health_topics_or_url_availability_is_the_gateway_status() -> None:
    """retain_meta off (no health topics): one availability topic; no dashboard URL: no configuration_url."""
    out = discovery_messages(CATALOGUE, Topics("sc", "pi-1"), "ha", "1", health_topics=False)
    doc = json.loads(out["ha/sensor/pi-1/env_pressure_pa/config"])
    assert (doc["availability_topic"], "availability" in doc, "configuration_url" in doc["device"]) == (
        "sc/pi-1/status",
        False,
        False,
    )


def test_bool_str_and_push_fields() -> None:
    """Bools become binary_sensors (null -> unknown, not OFF); strings have no state_class; push sources have
    no expire_after."""
    msgs = messages()
    door = msgs["homeassistant/binary_sensor/pi-1/door_open/config"]
    assert (door["value_template"], door["device_class"], door["device"]["model"]) == (
        "{% set v = value_json['values'].get(\"open\") %}{{ none if v is none else ('ON' if v else 'OFF') }}",
        "door",
        "gpio_input",
    )
    assert "expire_after" not in door and "state_class" not in door
    note = msgs["homeassistant/sensor/pi-1/door_note/config"]
    assert {"state_class", "unit_of_measurement", "device_class"}.isdisjoint(note)


def test_outputs_are_switches_and_numbers_with_command_topics() -> None:
    """Switch outputs use ON/OFF; number outputs carry min/max/step/unit; both command via <id>/set."""
    msgs = messages()
    sw = msgs["homeassistant/switch/pi-1/relay1/config"]
    assert {
        k: sw[k]
        for k in (
            "command_topic",
            "state_topic",
            "payload_on",
            "payload_off",
            "state_on",
            "state_off",
            "value_template",
        )
    } == {
        "command_topic": "sc/pi-1/relay1/set",
        "state_topic": "sc/pi-1/relay1/data",
        "payload_on": "ON",
        "payload_off": "OFF",
        "state_on": "ON",
        "state_off": "OFF",
        "value_template": "{{ 'ON' if value_json['values']['value'] else 'OFF' }}",
    }
    num = msgs["homeassistant/number/pi-1/fan/config"]
    assert {k: num[k] for k in ("command_topic", "min", "max", "step", "unit_of_measurement", "mode")} == {
        "command_topic": "sc/pi-1/fan/set",
        "min": 0.0,
        "max": 100.0,
        "step": 1.0,
        "unit_of_measurement": "%",
        "mode": "box",
    }


def test_number_step_follows_the_range() -> None:
    """Small ranges get fine steps."""
    cat = {
        "actuators": [
            {"id": "a", "kind": "number", "min": 0, "max": 0.5},
            {"id": "b", "kind": "number", "min": 0, "max": 10},
        ]
    }
    msgs = {t: json.loads(p) for t, p in discovery_messages(cat, Topics("s", "g"), "ha", "1").items()}
    assert (msgs["ha/number/g/a/config"]["step"], msgs["ha/number/g/b/config"]["step"]) == (0.001, 0.01)


def test_meta_messages() -> None:
    """Retained meta: the gateway (boot, payload format, ids) and one catalogue entry per sensor/output."""
    out = {
        t: json.loads(p) for t, p in meta_messages(CATALOGUE, Topics("sc", "pi-1"), "b00t", "json").items()
    }
    assert sorted(out) == [
        "sc/pi-1/door/meta",
        "sc/pi-1/env/meta",
        "sc/pi-1/fan/meta",
        "sc/pi-1/meta",
        "sc/pi-1/relay1/meta",
    ]
    assert out["sc/pi-1/meta"] == {
        "gw": "pi-1",
        "boot": "b00t",
        "payload": "json",
        "sensors": ["env", "door"],
        "outputs": ["relay1", "fan"],
    }
    assert "state" not in out["sc/pi-1/env/meta"] and out["sc/pi-1/env/meta"]["model"] == "BME280"
    assert out["sc/pi-1/relay1/meta"]["output"] is True and "value" not in out["sc/pi-1/relay1/meta"]


def test_health_message() -> None:
    """Health payload is {state, error}."""
    assert json.loads(health_message("failing", "I2C NACK")) == {"state": "failing", "error": "I2C NACK"}
