"""Retained messages (pure): Home Assistant MQTT discovery configs and per-sensor metadata.

Discovery topic: ``<discovery_prefix>/<component>/<gw>/<sensor>_<field>/config`` (node id = gateway id), which
matches Home Assistant's pattern ``(?P<component>\\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>
[a-zA-Z0-9_-]+)/config``. One HA device per sensor and per output, each linked (``via_device``) to one device
for the gateway itself, whose connectivity entity follows the gateway's ``status`` topic (Last Will). A sensor's
entities are available only while the gateway is online *and* the sensor's retained ``health`` says it reads
(so a dead GPS does not keep showing its last fix).

Written for the schema of Home Assistant 2025.10 and later: ``default_entity_id`` (``object_id`` is no longer
honoured from 2026.4), ``total_increasing`` for counters, no state class for categories, device classes only
with a unit Home Assistant accepts for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bridges.mqtt.topics import Topics, safe_level
from gateway.protocol.labels import human_name

NUMERIC_KINDS = ("float", "int")
GATEWAY_OBJECT = "_gateway"
"""Object id of the gateway's own entity (sensor and output ids start with a letter or digit: no clash)."""
AVAILABLE_STATES = ("ok", "recovering")
"""Sensor health states in which its last value is current (``failing``/``offline``: it is not)."""
STATE_CLASS = {"gauge": "measurement", "counter": "total_increasing"}
"""Field ``series`` -> Home Assistant ``state_class`` (``state``, a category, has none)."""

# Units that name exactly one Home Assistant sensor device class (a field without one gets it from here).
UNIT_DEVICE_CLASS = {
    "V": "voltage",
    "mV": "voltage",
    "A": "current",
    "mA": "current",
    "W": "power",
    "kW": "power",
    "lx": "illuminance",
    "Hz": "frequency",
    "kHz": "frequency",
    "°C": "temperature",
    "°F": "temperature",
    "K": "temperature",
    "Pa": "pressure",
    "hPa": "pressure",
    "kPa": "pressure",
    "mbar": "pressure",
    "bar": "pressure",
    "s": "duration",
    "ms": "duration",
    "min": "duration",
    "h": "duration",
    "B": "data_size",
    "kB": "data_size",
    "MB": "data_size",
    "B/s": "data_rate",
    "m/s": "speed",
    "km/h": "speed",
    "mph": "speed",
    "kn": "speed",
    "m": "distance",
    "cm": "distance",
    "mm": "distance",
    "km": "distance",
    "dBm": "signal_strength",
}


def infer_device_class(name: str, unit: str) -> str | None:
    """The device class a field's unit implies, or None when the unit is ambiguous or absent."""
    cls = UNIT_DEVICE_CLASS.get(unit)
    if cls == "speed" and "wind" in name:
        return "wind_speed"
    return cls


def _dumps(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def _gateway_ident(gw: str) -> str:
    return f"sensorcast_{safe_level(gw)}"


def _device(gw: str, dev_id: str, model: str, sw_version: str, url: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "identifiers": [f"sensorcast_{safe_level(gw)}_{safe_level(dev_id)}"],
        "name": f"{gw} {dev_id}",
        "manufacturer": "sensorcast",
        "model": model,
        "sw_version": sw_version,
        "via_device": _gateway_ident(gw),
    }
    if url:
        doc["configuration_url"] = url
    return doc


def _common(
    topics: Topics,
    component: str,
    unique_id: str,
    name: str,
    device: dict[str, Any],
    sw_version: str,
    health_topic: str | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "unique_id": unique_id,
        "default_entity_id": f"{component}.{unique_id}",
        "device": device,
        "origin": {"name": "sensorcast", "sw_version": sw_version},
    }
    if health_topic is None:
        doc.update(
            availability_topic=topics.status, payload_available="online", payload_not_available="offline"
        )
    else:
        states = ", ".join(repr(s) for s in AVAILABLE_STATES)
        doc["availability"] = [
            {"topic": topics.status, "payload_available": "online", "payload_not_available": "offline"},
            {
                "topic": health_topic,
                "value_template": f"{{{{ 'online' if value_json.state in [{states}] else 'offline' }}}}",
            },
        ]
        doc["availability_mode"] = "all"
    return doc


def _value_ref(fname: str) -> str:
    return f"value_json['values'].get({json.dumps(fname)})"


def _field_entity(
    topics: Topics,
    sensor: Mapping[str, Any],
    field: Mapping[str, Any],
    sw_version: str,
    url: str | None,
    health: bool,
) -> tuple[str, dict[str, Any]]:
    sid, fname = str(sensor["id"]), str(field["name"])
    uid = f"sensorcast_{safe_level(topics.gateway_id)}_{safe_level(sid)}_{safe_level(fname)}"
    device = _device(
        topics.gateway_id, sid, str(sensor.get("model") or sensor.get("driver") or ""), sw_version, url
    )
    kind = field.get("kind", "float")
    component = "binary_sensor" if kind == "bool" else "sensor"
    label = str(field.get("label") or human_name(fname))  # the catalogue's label; older catalogues lack one
    doc = _common(topics, component, uid, label, device, sw_version, topics.health(sid) if health else None)
    doc["state_topic"] = topics.data(sid)
    # A missing or null value renders "None", which Home Assistant shows as unknown (not OFF, not 0).
    head = f"{{% set v = {_value_ref(fname)} %}}"
    unit = str(field.get("unit") or "")
    device_class = field.get("device_class") or (
        infer_device_class(fname, unit) if kind in NUMERIC_KINDS else None
    )
    if kind == "bool":
        doc["value_template"] = head + "{{ none if v is none else ('ON' if v else 'OFF') }}"
    elif device_class == "timestamp":
        # Home Assistant wants ISO 8601 text with a time zone; the reading carries UTC nanoseconds.
        doc["value_template"] = (
            head
            + "{{ none if v is none else ((v / 1000000000) | timestamp_custom('%Y-%m-%dT%H:%M:%S+00:00', "
            "false)) }}"
        )
    else:
        doc["value_template"] = head + "{{ v }}"
        state_class = STATE_CLASS.get(str(field.get("series", "gauge")))
        if kind in NUMERIC_KINDS and state_class:
            doc["state_class"] = state_class
        if unit:
            doc["unit_of_measurement"] = unit
    if device_class:
        doc["device_class"] = device_class
    interval_s = sensor.get("interval_s") or 0
    if interval_s > 0:
        # Unavailable after 3 missed readings, never sooner than a minute (HA restarts, short outages).
        doc["expire_after"] = int(max(60.0, 3 * float(interval_s)))
    return f"{component}/{safe_level(topics.gateway_id)}/{safe_level(sid)}_{safe_level(fname)}", doc


LATITUDE, LONGITUDE, HDOP = "lat_deg", "lon_deg", "hdop"
UERE_M = 5
"""Metres of position error per unit of HDOP (a typical user-equivalent range error of a consumer GPS)."""


def _tracker_entity(
    topics: Topics, sensor: Mapping[str, Any], sw_version: str, url: str | None, health: bool
) -> tuple[str, dict[str, Any]]:
    """A ``device_tracker`` for a sensor with a position: latitude/longitude (and an accuracy estimate from
    HDOP) as JSON attributes; nothing is sent while there is no fix."""
    sid = str(sensor["id"])
    uid = f"sensorcast_{safe_level(topics.gateway_id)}_{safe_level(sid)}_location"
    device = _device(
        topics.gateway_id, sid, str(sensor.get("model") or sensor.get("driver") or ""), sw_version, url
    )
    doc = _common(
        topics, "device_tracker", uid, "Location", device, sw_version, topics.health(sid) if health else None
    )
    names = {str(f["name"]) for f in sensor.get("fields", [])}
    accuracy = f", 'gps_accuracy': (v.{HDOP} or 1) * {UERE_M}" if HDOP in names else ""
    doc["json_attributes_topic"] = topics.data(sid)
    doc["json_attributes_template"] = (
        "{% set v = value_json['values'] %}"
        f"{{% if v.{LATITUDE} is number and v.{LONGITUDE} is number %}}"
        f"{{{{ {{'latitude': v.{LATITUDE}, 'longitude': v.{LONGITUDE}{accuracy}}} | tojson }}}}"
        "{% else %}{}{% endif %}"
    )
    doc["source_type"] = "gps"
    return f"device_tracker/{safe_level(topics.gateway_id)}/{safe_level(sid)}_location", doc


def _output_entity(
    topics: Topics, act: Mapping[str, Any], sw_version: str, url: str | None
) -> tuple[str, dict[str, Any]]:
    aid = str(act["id"])
    uid = f"sensorcast_{safe_level(topics.gateway_id)}_{safe_level(aid)}"
    device = _device(topics.gateway_id, aid, str(act.get("driver") or ""), sw_version, url)
    component = "switch" if act.get("kind") == "switch" else "number"
    doc = _common(topics, component, uid, human_name(aid), device, sw_version)
    doc["state_topic"] = topics.data(aid)
    doc["command_topic"] = topics.command(aid)
    if component == "switch":
        doc["value_template"] = "{{ 'ON' if value_json['values']['value'] else 'OFF' }}"
        doc.update(payload_on="ON", payload_off="OFF", state_on="ON", state_off="OFF")
    else:
        doc["value_template"] = "{{ value_json['values']['value'] }}"
        doc.update(min=float(act.get("min", 0.0)), max=float(act.get("max", 1.0)), mode="box")
        span = doc["max"] - doc["min"]
        doc["step"] = 1.0 if span >= 100 else 0.001 if span < 1 else 0.01
        if act.get("unit"):
            doc["unit_of_measurement"] = act["unit"]
    return f"{component}/{safe_level(topics.gateway_id)}/{safe_level(aid)}", doc


RULE_OBJECT_PREFIX = "_rule_"
"""Object id prefix of a rule's binary_sensor: ids never start with ``_``, so it cannot clash with a field's."""


def _rule_entity(
    topics: Topics, rule: Mapping[str, Any], sensor: Mapping[str, Any], sw_version: str, url: str | None
) -> tuple[str, dict[str, Any]]:
    """A rule is a ``problem`` binary_sensor on its sensor's device, ON while the rule is active. It follows the
    gateway's availability only: a stale-sensor rule must stay available while its sensor is offline."""
    rid = str(rule["id"])
    uid = f"sensorcast_{safe_level(topics.gateway_id)}_rule_{safe_level(rid)}"
    sid = str(rule.get("sensor", ""))
    device = _device(
        topics.gateway_id, sid, str(sensor.get("model") or sensor.get("driver") or ""), sw_version, url
    )
    doc = _common(topics, "binary_sensor", uid, f"Rule {rid}", device, sw_version)
    doc["state_topic"] = topics.rule(rid)
    doc["json_attributes_topic"] = topics.rule(rid)
    doc["value_template"] = "{{ 'ON' if value_json.state == 'active' else 'OFF' }}"
    doc.update(payload_on="ON", payload_off="OFF", device_class="problem")
    return f"binary_sensor/{safe_level(topics.gateway_id)}/{RULE_OBJECT_PREFIX}{safe_level(rid)}", doc


def rule_state_messages(catalogue: Mapping[str, Any], topics: Topics) -> dict[str, bytes]:
    """``{topic: retained payload}``: each rule's state (its firing event while active, else ``inactive``)."""
    out: dict[str, bytes] = {}
    for rule in catalogue.get("rules", []):
        event = rule.get("event") or {"rule": rule["id"], "sensor": rule.get("sensor"), "field": rule.get("field"),
                                      "state": "inactive", "severity": rule.get("severity")}  # fmt: skip
        out[topics.rule(str(rule["id"]))] = _dumps(event)
    return out


def _gateway_entity(topics: Topics, sw_version: str, url: str | None) -> tuple[str, dict[str, Any]]:
    """The gateway's own device (every sensor and output device is ``via_device`` it) and its connectivity."""
    gw = topics.gateway_id
    uid = f"{_gateway_ident(gw)}_online"
    device: dict[str, Any] = {
        "identifiers": [_gateway_ident(gw)],
        "name": gw,
        "manufacturer": "sensorcast",
        "model": "sensorcast gateway",
        "sw_version": sw_version,
    }
    if url:
        device["configuration_url"] = url
    doc = {
        "name": "Online",
        "unique_id": uid,
        "default_entity_id": f"binary_sensor.{uid}",
        "state_topic": topics.status,
        "payload_on": "online",
        "payload_off": "offline",
        "device_class": "connectivity",
        "entity_category": "diagnostic",
        "device": device,
        "origin": {"name": "sensorcast", "sw_version": sw_version},
    }
    return f"binary_sensor/{safe_level(gw)}/{GATEWAY_OBJECT}", doc


def discovery_messages(
    catalogue: Mapping[str, Any],
    topics: Topics,
    discovery_prefix: str,
    sw_version: str,
    *,
    dashboard_url: str | None = None,
    health_topics: bool = True,
) -> dict[str, bytes]:
    """Return ``{topic: retained payload}`` of every HA entity: the gateway's connectivity, one per sensor
    field (a sensor with a position gets a ``device_tracker`` instead of latitude/longitude sensors), one per
    output, one ``problem`` binary_sensor per local rule.

    Args:
        dashboard_url: the devices' ``configuration_url`` (HA links to it); None leaves it out.
        health_topics: sensors' retained ``health`` topics are published (``retain_meta``), so entities may
            use them as a second availability topic.

    Outputs' states are read from their ``data`` topic, which only carries JSON: with ``payload = "msgpack"``
    call this anyway (topics stay valid) but Home Assistant cannot parse the states.
    """
    out: dict[str, bytes] = {}
    path, doc = _gateway_entity(topics, sw_version, dashboard_url)
    out[f"{discovery_prefix}/{path}/config"] = _dumps(doc)
    for sensor in catalogue.get("sensors", []):
        fields = list(sensor.get("fields", []))
        names = {str(f["name"]) for f in fields}
        tracker = LATITUDE in names and LONGITUDE in names
        if tracker:
            path, doc = _tracker_entity(topics, sensor, sw_version, dashboard_url, health_topics)
            out[f"{discovery_prefix}/{path}/config"] = _dumps(doc)
        for field in fields:
            if tracker and field["name"] in (LATITUDE, LONGITUDE):
                continue
            path, doc = _field_entity(topics, sensor, field, sw_version, dashboard_url, health_topics)
            out[f"{discovery_prefix}/{path}/config"] = _dumps(doc)
    for act in catalogue.get("actuators", []):
        path, doc = _output_entity(topics, act, sw_version, dashboard_url)
        out[f"{discovery_prefix}/{path}/config"] = _dumps(doc)
    sensors = {str(s["id"]): s for s in catalogue.get("sensors", [])}
    for rule in catalogue.get("rules", []):
        path, doc = _rule_entity(
            topics, rule, sensors.get(str(rule.get("sensor")), {}), sw_version, dashboard_url
        )
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
