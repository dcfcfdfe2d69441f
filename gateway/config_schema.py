"""The JSON Schema of the config file (docs/config.schema.json), generated from the tables
:func:`gateway.config.parse_config` validates with: the section dataclasses and their defaults, the key sets,
the ranges, the id and token patterns, the roles, the driver registry, the rule kinds and the MQTT bridge's own
description of its table. ``sensorcast check-config --schema`` prints it; a test checks that the published file
is what this produces and that the schema and check-config agree on good and bad configs.

The schema is for editors (completion, types, obvious mistakes). check-config stays the authority: it also
knows each driver's options, cross-references (a rule's sensor must exist), files on disk and ``${ENV}``.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from gateway import config as c
from gateway.history.policy import POLICIES
from gateway.protocol.actuation import MAX_MIN_INTERVAL_S
from gateway.protocol.rules import KINDS, SEVERITIES
from gateway.rules_config import COMMON_KEYS, LEVEL_KEY, MAX_DURATION_S, MAX_RULES, RULE_ID_RE

SCHEMA_ID = "https://sensorcast.invalid/config.schema.json"
"""A stable identifier only (JSON Schema wants a URI); editors load the file from docs/."""


def _scalar(default: Any) -> dict[str, Any]:
    """The schema of a value :func:`gateway.config._typecheck` coerces to the type of ``default``."""
    if isinstance(default, bool):
        return {"type": "boolean", "default": default}
    if isinstance(default, int):
        return {"type": "integer", "minimum": 0, "default": default}
    if isinstance(default, float):
        return {"type": "number", "minimum": 0, "default": default}
    if isinstance(default, Path):
        return {"type": "string", "minLength": 1}
    return {"type": "string", "default": default}


def _section(cls: type, bounds: dict[str, tuple[float | None, float | None]]) -> dict[str, Any]:
    defaults = cls()
    props: dict[str, Any] = {}
    for f in fields(cls):
        prop = _scalar(getattr(defaults, f.name))
        lo, hi = bounds.get(f.name, (None, None))
        if lo is not None:
            prop["minimum"] = lo
        if hi is not None:
            prop["maximum"] = hi
        props[f.name] = prop
    return {"type": "object", "properties": props, "additionalProperties": False}


def _pattern(regex: str) -> str:
    return f"^{regex}$"  # check-config uses fullmatch


def _token() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "role": {"enum": list(c.ROLES), "default": "viewer"},
            "token": {"type": "string", "minLength": 16, "pattern": _pattern(c.TOKEN_RE.pattern)},
        },
        "required": ["token"],
        "additionalProperties": False,
    }


def _security() -> dict[str, Any]:
    strings = {"type": "array", "items": {"type": "string"}}
    props = {
        "insecure": {"type": "boolean", "default": False},
        "tokens": {"type": "array", "items": _token()},
        "token_file": {"type": "string", "minLength": 1},
        "allowed_origins": strings,
        "allowed_hosts": strings,
        "tls_cert": {"type": "string", "minLength": 1},
        "tls_key": {"type": "string", "minLength": 1},
        "protect_metrics": {"type": "boolean", "default": False},
    }
    assert set(props) == c.SECURITY_KEYS
    return {
        "type": "object",
        "properties": props,
        "additionalProperties": False,
        "dependentRequired": {"tls_cert": ["tls_key"], "tls_key": ["tls_cert"]},
    }


def _devices(drivers: list[str], actuators: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": {"type": "string", "pattern": _pattern(c.ID_RE.pattern)},
        "driver": {"enum": drivers},
        "interval_s": {"type": "number", "minimum": 0, "maximum": c.MAX_INTERVAL_S, "default": 1.0},
        "simulate": {"type": "boolean", "default": False},
        "history": {"enum": list(POLICIES)},
    }
    if actuators:
        props["min_interval_s"] = {"type": "number", "minimum": 0, "maximum": MAX_MIN_INTERVAL_S}
    # Driver options are checked by check-config's dry build, not here: additional keys are allowed.
    item = {"type": "object", "properties": props, "required": ["id", "driver"]}
    return {"type": "array", "items": item}


def _rules() -> dict[str, Any]:
    number = {"type": "number"}
    duration = {"type": "number", "minimum": 0, "maximum": MAX_DURATION_S}
    props: dict[str, Any] = {
        "id": {"type": "string", "pattern": _pattern(RULE_ID_RE.pattern)},
        "sensor": {"type": "string"},
        "field": {"type": "string", "minLength": 1},
        "when": {"enum": list(KINDS)},
        "severity": {"enum": list(SEVERITIES), "default": "warning"},
        "for_s": duration,
        "clear_for_s": duration,
        "hysteresis": {"type": "number", "minimum": 0},
        "action": {
            "type": "object",
            "properties": {"output": {"type": "string"}, "on_fire": {}, "on_clear": {}},
            "additionalProperties": False,
            "required": ["output"],
        },
        "threshold": number,
        "rate_per_s": number,
        "after_s": duration,
        "low": number,
        "high": number,
    }
    assert set(props) == COMMON_KEYS | set(LEVEL_KEY.values()) | {"low", "high"}
    item = {
        "type": "object",
        "properties": props,
        "required": ["id", "sensor", "field", "when"],
        "additionalProperties": False,
    }
    return {"type": "array", "maxItems": MAX_RULES, "items": item}


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a sensorcast config file."""
    from bridges.mqtt.config import json_schema as mqtt_schema
    from gateway.fleet.config import json_schema as fleet_schema
    from gateway.history.config import json_schema as history_schema
    from sensors.registry import actuator_drivers, sensor_drivers

    props = {
        "gateway": _section(c.GatewaySection, c.GATEWAY_BOUNDS),
        "limits": _section(c.Limits, c.LIMITS_BOUNDS),
        "security": _security(),
        "sensors": _devices(sorted(sensor_drivers()), actuators=False),
        "actuators": _devices(sorted(actuator_drivers()), actuators=True),
        "mqtt": mqtt_schema(),
        "rules": _rules(),
        "history": history_schema(),
        "fleet": fleet_schema(),
    }
    assert set(props) == c.SECTIONS
    props["gateway"]["properties"]["id"]["pattern"] = _pattern(c.ID_RE.pattern)
    del props["gateway"]["properties"]["id"]["default"]  # the host name, not a constant
    props["gateway"]["properties"]["read_timeout_s"]["exclusiveMinimum"] = 0
    props["limits"]["properties"]["auth_failure_rate_per_s"]["exclusiveMinimum"] = 0
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "sensorcast config",
        "description": "Generated by `sensorcast check-config --schema` (gateway/config_schema.py); "
        "check-config also checks driver options, references and files.",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }


def schema_text() -> str:
    """The schema as published: indented, keys sorted, one trailing newline."""
    return json.dumps(config_schema(), indent=2, sort_keys=True) + "\n"
