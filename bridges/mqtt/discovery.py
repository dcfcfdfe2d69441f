"""Retained messages (pure): Home Assistant MQTT discovery configs and per-sensor metadata.

Discovery topic: ``<discovery_prefix>/<component>/<gw>/<sensor>_<field>/config`` (node id = gateway id), which
matches Home Assistant's pattern ``(?P<component>\\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>
[a-zA-Z0-9_-]+)/config``. One HA device per sensor and per output; every entity is unavailable when the
gateway's ``status`` topic says ``offline`` (Last Will).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bridges.mqtt.topics import Topics, safe_level

NUMERIC_KINDS = ("float", "int")


def _dumps(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def _device(gw: str, dev_id: str, model: str, sw_version: str) -> dict[str, Any]:
    return {
        "identifiers": [f"sensorcast_{safe_level(gw)}_{safe_level(dev_id)}"],
        "name": f"{gw} {dev_id}",
        "manufacturer": "sensorcast",
        "model": model,
        "sw_version": sw_version,
    }


def _common(
    topics: Topics, unique_id: str, name: str, state_topic: str, device: dict[str, Any], sw_version: str
) -> dict[str, Any]:
    return {
        "name": name,
        "unique_id": unique_id,
        "object_id": unique_id,
        "state_topic": state_topic,
        "availability_topic": topics.status,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
        "origin": {"name": "sensorcast", "sw_version": sw_version},
    }


def _field_entity(
    topics: Topics, sensor: Mapping[str, Any], field: Mapping[str, Any], sw_version: str
) -> tuple[str, dict[str, Any]]:
    sid, fname = str(sensor["id"]), str(field["name"])
    uid = f"sensorcast_{safe_level(topics.gateway_id)}_{safe_level(sid)}_{safe_level(fname)}"
    device = _device(
        topics.gateway_id, sid, str(sensor.get("model") or sensor.get("driver") or ""), sw_version
    )
    doc = _common(topics, uid, fname, topics.data(sid), device, sw_version)
    ref = f"value_json['values'][{json.dumps(fname)}]"
    kind = field.get("kind", "float")
    if kind == "bool":
        component = "binary_sensor"
        doc["value_template"] = f"{{{{ 'ON' if {ref} else 'OFF' }}}}"
    else:
        component = "sensor"
        doc["value_template"] = f"{{{{ {ref} }}}}"
        if kind in NUMERIC_KINDS:
            doc["state_class"] = "measurement"
        if field.get("unit"):
            doc["unit_of_measurement"] = field["unit"]
    if field.get("device_class"):
        doc["device_class"] = field["device_class"]
    interval_s = sensor.get("interval_s") or 0
    if interval_s > 0:
        # Unavailable after 3 missed readings, never sooner than a minute (HA restarts, short outages).
        doc["expire_after"] = int(max(60.0, 3 * float(interval_s)))
    return f"{component}/{safe_level(topics.gateway_id)}/{safe_level(sid)}_{safe_level(fname)}", doc


def _output_entity(topics: Topics, act: Mapping[str, Any], sw_version: str) -> tuple[str, dict[str, Any]]:
    aid = str(act["id"])
    uid = f"sensorcast_{safe_level(topics.gateway_id)}_{safe_level(aid)}"
    device = _device(topics.gateway_id, aid, str(act.get("driver") or ""), sw_version)
    doc = _common(topics, uid, aid, topics.data(aid), device, sw_version)
    doc["command_topic"] = topics.command(aid)
    if act.get("kind") == "switch":
        component = "switch"
        doc["value_template"] = "{{ 'ON' if value_json['values']['value'] else 'OFF' }}"
        doc.update(payload_on="ON", payload_off="OFF", state_on="ON", state_off="OFF")
    else:
        component = "number"
        doc["value_template"] = "{{ value_json['values']['value'] }}"
        doc.update(min=float(act.get("min", 0.0)), max=float(act.get("max", 1.0)), mode="box")
        span = doc["max"] - doc["min"]
        doc["step"] = 1.0 if span >= 100 else 0.001 if span < 1 else 0.01
        if act.get("unit"):
            doc["unit_of_measurement"] = act["unit"]
    return f"{component}/{safe_level(topics.gateway_id)}/{safe_level(aid)}", doc


def discovery_messages(
    catalogue: Mapping[str, Any], topics: Topics, discovery_prefix: str, sw_version: str
) -> dict[str, bytes]:
    """Return ``{topic: retained payload}`` of every HA entity: one per sensor field, one per output.

    Outputs' states are read from their ``data`` topic, which only carries JSON: with ``payload = "msgpack"``
    call this anyway (topics stay valid) but Home Assistant cannot parse the states.
    """
    out: dict[str, bytes] = {}
    for sensor in catalogue.get("sensors", []):
        for field in sensor.get("fields", []):
            path, doc = _field_entity(topics, sensor, field, sw_version)
            out[f"{discovery_prefix}/{path}/config"] = _dumps(doc)
    for act in catalogue.get("actuators", []):
        path, doc = _output_entity(topics, act, sw_version)
        out[f"{discovery_prefix}/{path}/config"] = _dumps(doc)
    return out


def meta_messages(
    catalogue: Mapping[str, Any], topics: Topics, boot_id: str, payload: str
) -> dict[str, bytes]:
    """Return ``{topic: retained payload}``: gateway meta, one catalogue entry per sensor and output."""
    sensors = list(catalogue.get("sensors", []))
    actuators = list(catalogue.get("actuators", []))
    out = {
        topics.gateway_meta: _dumps(
            {
                "gw": topics.gateway_id,
                "boot": boot_id,
                "payload": payload,
                "sensors": [s["id"] for s in sensors],
                "outputs": [a["id"] for a in actuators],
            }
        )
    }
    for sensor in sensors:
        entry = {k: v for k, v in sensor.items() if k not in ("state", "error")}
        out[topics.meta(str(sensor["id"]))] = _dumps(entry)
    for act in actuators:
        entry = {k: v for k, v in act.items() if k != "value"}
        entry["output"] = True
        out[topics.meta(str(act["id"]))] = _dumps(entry)
    return out


def health_message(state: str, error: str | None) -> bytes:
    """Payload of a sensor's retained ``health`` topic."""
    return _dumps({"state": state, "error": error})
