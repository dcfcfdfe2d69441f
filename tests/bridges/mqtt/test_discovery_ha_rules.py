"""Every discovery config of the demo checked against Home Assistant's own rules, templates rendered by Jinja2.

The demo runs every driver family, so its catalogue covers every field the drivers declare. The rules:

* topic pattern and ``default_entity_id`` (HA 2025.10 deprecated ``object_id``; 2026.4 ignores it);
* a sensor's ``device_class`` only with a unit HA accepts for it (``DEVICE_CLASS_UNITS`` below), and a unit that
  names one class implies that class;
* counters ``total_increasing``, categories and timestamps without a state class;
* binary sensors: a missing value is unknown, not OFF;
* a position is a ``device_tracker``, not two sensors;
* every device linked to the gateway (``via_device``) with a ``configuration_url``;
* every sensor entity unavailable when its sensor's health says it does not read;
* every local rule a ``problem`` binary_sensor on its sensor's device, ON exactly while the rule is active, and
  available while its sensor is not (a stale-sensor rule must report exactly then).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import jinja2
import pytest

from bridges.mqtt.discovery import discovery_messages, infer_device_class, rule_state_messages
from bridges.mqtt.topics import Topics
from gateway.catalogue import Catalogue
from gateway.config import demo_config
from gateway.devices import build_devices
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.protocol.rules import Rule
from gateway.rules_runtime import RuleRunner
from sensors.sim.emulators import context_with_emulators

HA_TOPIC = re.compile(
    r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config"
)

# Source: Home Assistant core, homeassistant/components/sensor/const.py, DEVICE_CLASS_UNITS (2025.x), for the
# device classes a sensorcast driver can declare or imply. `None` means "no unit".
DEVICE_CLASS_UNITS: dict[str, set[str | None]] = {
    "temperature": {"°C", "°F", "K"},
    "pressure": {"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi"},
    "humidity": {"%"},
    "moisture": {"%"},
    "illuminance": {"lx"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "current": {"A", "mA"},
    "power": {"mW", "W", "kW", "MW", "GW", "TW"},
    "frequency": {"Hz", "kHz", "MHz", "GHz"},
    "duration": {"d", "h", "min", "s", "ms", "µs"},
    "data_size": {"bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"},
    "data_rate": {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "B/s", "kB/s", "MB/s", "GB/s", "KiB/s", "MiB/s"},
    "distance": {"km", "m", "cm", "mm", "mi", "yd", "in", "ft"},
    "speed": {"ft/s", "in/d", "in/h", "in/s", "km/h", "kn", "m/s", "mph", "mm/d", "mm/s"},
    "wind_speed": {"Beaufort", "ft/s", "km/h", "kn", "m/s", "mph"},
    "pm1": {"µg/m³"},
    "pm25": {"µg/m³"},
    "pm10": {"µg/m³"},
    "signal_strength": {"dB", "dBm"},
    "timestamp": {None},
}
# Units that belong to exactly one class among those sensorcast uses: a field with one of them must say so.
UNAMBIGUOUS = {
    "V": "voltage",
    "A": "current",
    "W": "power",
    "lx": "illuminance",
    "Hz": "frequency",
    "°C": "temperature",
    "Pa": "pressure",
    "s": "duration",
    "B": "data_size",
    "B/s": "data_rate",
}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
COUNTERS = {"net_rx_bytes", "net_tx_bytes", "activations", "pulses"}  # plus every *_errors_total
CATEGORIES = {"fix_quality", "fix_type", "throttled_raw"}


def _timestamp_custom(value: float, fmt: str, local: bool = True) -> str:
    """Home Assistant's ``timestamp_custom`` filter (homeassistant/helpers/template.py), UTC branch."""
    tz = None if local else dt.UTC
    return dt.datetime.fromtimestamp(value, tz).strftime(fmt)


ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)
ENV.filters["timestamp_custom"] = _timestamp_custom


def render(template: str, payload: dict[str, Any]) -> str:
    """Render a discovery template as HA does: the JSON payload as ``value_json``."""
    return ENV.from_string(template).render(value_json=payload, value=json.dumps(payload))


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
    ctx = context_with_emulators(simulate=True)
    try:
        sensors, actuators = build_devices(demo_config(), ctx)
        catalogue = Catalogue(Metrics())
        for s in sensors:
            catalogue.register_sensor(s.info)
        for a in actuators:
            catalogue.register_actuator(a.info)
        hub = Hub("demo", "b00t", metrics=catalogue.metrics, catalogue=catalogue)
        RuleRunner(RULES, hub, commands=None, metrics=hub.metrics)  # type: ignore[arg-type]  # no actions here
        cat = hub.catalogue()
    finally:
        ctx.close()
    out = discovery_messages(
        cat, Topics("sc", "demo"), "homeassistant", "9.9", dashboard_url="http://demo:8765/"
    )
    yield cat, {t.removeprefix("homeassistant/"): json.loads(p) for t, p in out.items()}


RULES = [
    Rule("too-hot", "env", "temperature_c", "above", 30, hysteresis=1, severity="critical"),
    Rule("env-offline", "env", "temperature_c", "stale", 60),
]


def fields_of(cat: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    return {f"{s['id']}_{f['name']}": (s, f) for s in cat["sensors"] for f in s["fields"]}


def test_topics_ids_and_devices(demo: tuple[dict[str, Any], dict[str, dict[str, Any]]]) -> None:
    """Every config: HA's topic pattern, default_entity_id in its domain, no object_id, a device linked to
    the gateway's device with the dashboard as configuration_url."""
    _, msgs = demo
    assert len(msgs) > 60
    for topic, doc in msgs.items():
        m = HA_TOPIC.fullmatch(topic)
        assert m is not None and m["node_id"] == "demo", topic
        assert "object_id" not in doc and doc["default_entity_id"] == f"{m['component']}.{doc['unique_id']}"
        assert doc["device"]["configuration_url"] == "http://demo:8765/", topic
        if m["object_id"] != "_gateway":
            assert doc["device"]["via_device"] == "sensorcast_demo", topic
    assert len({d["unique_id"] for d in msgs.values()}) == len(msgs)


def test_device_classes_units_and_state_classes(
    demo: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    """Sensors: a device class only with a unit HA allows for it; a unit naming one class carries it; counters
    total_increasing; categories and timestamps without state class; names are not raw ids."""
    cat, msgs = demo
    problems = []
    for key, (_sensor, field) in fields_of(cat).items():
        doc = msgs.get(f"sensor/demo/{key}/config")
        if doc is None:
            continue  # binary sensors and the position: checked below
        name, unit, cls, sc = field["name"], doc.get("unit_of_measurement"), doc.get("device_class"), None
        sc = doc.get("state_class")
        if cls is not None and unit not in DEVICE_CLASS_UNITS[cls]:
            problems.append(f"{key}: unit {unit!r} not allowed for {cls}")
        if unit in UNAMBIGUOUS and cls is None:
            problems.append(f"{key}: unit {unit!r} without device class {UNAMBIGUOUS[unit]}")
        counter = name in COUNTERS or name.endswith("errors_total")
        if counter and sc != "total_increasing":
            problems.append(f"{key}: counter with state_class {sc!r}")
        if (name in CATEGORIES or cls == "timestamp") and sc is not None:
            problems.append(f"{key}: category/timestamp with state_class {sc!r}")
        if sc is not None and (sc not in STATE_CLASSES or field["kind"] not in ("int", "float")):
            problems.append(f"{key}: state_class {sc!r} on a {field['kind']}")
        if "_" in doc["name"] or doc["name"] == name:
            problems.append(f"{key}: raw name {doc['name']!r}")
    assert problems == []


def test_templates_render_values_and_unknowns(demo: tuple[dict[str, Any], dict[str, dict[str, Any]]]) -> None:
    """Every value template renders a value, and 'None' (HA: unknown) when the field is missing - binary
    sensors included, never OFF; the GPS time becomes ISO 8601 UTC."""
    cat, msgs = demo
    for key, (_sensor, field) in fields_of(cat).items():
        doc = msgs.get(f"sensor/demo/{key}/config") or msgs.get(f"binary_sensor/demo/{key}/config")
        if doc is None:
            continue
        tpl = doc["value_template"]
        assert render(tpl, {"values": {}}) == "None", key
        if field["kind"] == "bool":
            assert [render(tpl, {"values": {field["name"]: v}}) for v in (True, False)] == ["ON", "OFF"], key
    gps_time = msgs["sensor/demo/gps_gps_time_ns/config"]
    ns = 1_700_000_000_123_456_789
    assert render(gps_time["value_template"], {"values": {"gps_time_ns": ns}}) == "2023-11-14T22:13:20+00:00"
    assert "unit_of_measurement" not in gps_time and gps_time["device_class"] == "timestamp"
    temp = msgs["sensor/demo/env_temperature_c/config"]
    assert render(temp["value_template"], {"values": {"temperature_c": 21.5}}) == "21.5"


def test_position_is_a_device_tracker(demo: tuple[dict[str, Any], dict[str, dict[str, Any]]]) -> None:
    """The GPS position is a device_tracker with latitude/longitude/accuracy attributes (empty without a fix),
    not two sensors."""
    _, msgs = demo
    assert "sensor/demo/gps_lat_deg/config" not in msgs and "sensor/demo/gps_lon_deg/config" not in msgs
    doc = msgs["device_tracker/demo/gps_location/config"]
    assert (doc["json_attributes_topic"], doc["source_type"]) == ("sc/demo/gps/data", "gps")
    fix = {"values": {"lat_deg": 52.5, "lon_deg": 13.4, "hdop": 0.9}}
    assert json.loads(render(doc["json_attributes_template"], fix)) == {
        "latitude": 52.5,
        "longitude": 13.4,
        "gps_accuracy": 4.5,
    }
    assert json.loads(render(doc["json_attributes_template"], {"values": {"lat_deg": None}})) == {}


def test_availability_follows_gateway_and_sensor_health(
    demo: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    """A sensor's entities need the gateway online and their sensor's health ok/recovering (a dead GPS does
    not keep its last fix); outputs follow the gateway alone."""
    _, msgs = demo
    for topic, doc in msgs.items():
        component, _, obj = topic.split("/")[:3]
        if component in ("switch", "number") or obj == "_gateway" or obj.startswith("_rule_"):
            continue  # outputs and rules: gateway availability only (test_rules_are_problem_binary_sensors)
        first, health = doc["availability"]
        assert (first["topic"], doc["availability_mode"]) == ("sc/demo/status", "all"), topic
        sensor = obj.removesuffix("_location") if component == "device_tracker" else None
        if sensor is not None:
            assert health["topic"] == f"sc/demo/{sensor}/health"
        tpl = health["value_template"]
        got = [render(tpl, {"state": s, "error": None}) for s in ("ok", "recovering", "failing", "offline")]
        assert got == ["online", "online", "offline", "offline"], topic


def test_infer_device_class() -> None:
    """Only unambiguous units imply a class; km/h on a wind field is wind_speed."""
    got = [infer_device_class(n, u) for n, u in [("pot_v", "V"), ("wind_speed_kmh", "km/h"), ("x", "%")]]
    assert got == ["voltage", "wind_speed", None]


def test_entity_names_are_the_catalogue_labels() -> None:
    """An entity is named by its catalogue field's label; a catalogue without labels (an older hub) gets the
    same human name computed from the field id."""
    fields = [
        {"name": "temperature_c", "label": "Outdoor air", "unit": "°C", "kind": "float"},
        {"name": "cpu_temp_c", "unit": "°C", "kind": "float"},
    ]
    out = discovery_messages({"sensors": [{"id": "s", "fields": fields}]}, Topics("sc", "g"), "ha", "9.9")
    names = [json.loads(out[f"ha/sensor/g/s_{f['name']}/config"])["name"] for f in fields]
    assert names == ["Outdoor air", "CPU temp"]


def test_rules_are_problem_binary_sensors(demo: tuple[dict[str, Any], dict[str, dict[str, Any]]]) -> None:
    """Each rule: a binary_sensor with device_class problem on its sensor's device, reading the rule's retained
    state topic: ON for an active event, OFF for inactive; available with the gateway alone; the retained state
    of an inactive rule renders OFF."""
    cat, msgs = demo
    for rid in ("too-hot", "env-offline"):
        doc = msgs[f"binary_sensor/demo/_rule_{rid}/config"]
        assert (doc["device_class"], doc["state_topic"], doc["json_attributes_topic"], doc["name"]) == (
            "problem",
            f"sc/demo/_rules/{rid}",
            f"sc/demo/_rules/{rid}",
            f"Rule {rid}",
        )
        assert doc["device"]["identifiers"] == ["sensorcast_demo_env"] and doc["device"]["model"] == "BME280"
        assert (doc["availability_topic"], doc["payload_on"], doc["payload_off"]) == (
            "sc/demo/status",
            "ON",
            "OFF",
        )
        assert [render(doc["value_template"], {"state": s}) for s in ("active", "inactive")] == ["ON", "OFF"]
    states = rule_state_messages(cat, Topics("sc", "demo"))
    assert {t: json.loads(p) for t, p in states.items()} == {
        f"sc/demo/_rules/{rid}": {"rule": rid, "sensor": "env", "field": "temperature_c", "state": "inactive",
                                  "severity": sev}
        for rid, sev in (("too-hot", "critical"), ("env-offline", "warning"))
    }  # fmt: skip
    doc = msgs["binary_sensor/demo/_rule_too-hot/config"]
    assert render(doc["value_template"], json.loads(states["sc/demo/_rules/too-hot"])) == "OFF"
