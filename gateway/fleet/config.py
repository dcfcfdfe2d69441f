"""The ``[fleet]`` table of ``sensorcast fleet`` (docs/fleet.md): the broker to read the gateways from, the
fleet's MQTT identity and its limits. Pure: every mistake is a :class:`ConfigError` naming ``fleet.<key>``.

A gateway ignores the table; ``sensorcast fleet`` reads it (``--mqtt`` replaces ``url``). Broker credentials and
TLS files come from ``[mqtt]`` as for the bridge, so one config can describe a fleet that is also a gateway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from sensors.errors import ConfigError
from sensors.spec import did_you_mean

SESSION_EXPIRY_S = 86400
"""How long the broker keeps the fleet's session while the fleet is down (seconds): its subscriptions and the
QoS 1 readings published meanwhile are queued (bounded by the broker's ``max_queued_messages``), so a restart or
upgrade of up to a day loses nothing; 0 is a clean session each time."""
MAX_SESSION_EXPIRY_S = 30 * 86400
"""A month: a fleet gone longer than that starts afresh rather than draining a month of queued readings."""
COMMAND_TIMEOUT_S = 5.0
"""How long an operator's command waits for the gateway's result (seconds): a gateway applies a command in well
under a second; past this the gateway is unreachable or does not accept commands."""
COMMAND_TIMEOUT_BOUNDS_S = (0.5, 60.0)
"""A shorter wait fails commands on a slow link; a longer one holds an operator's command slot for a minute."""
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
"""What every broker accepts as a client id (MQTT 3.1.1 guarantees 23 characters; Mosquitto takes 64)."""
TOPIC_PREFIX_RE = re.compile(r"[^+#/\x00-\x1f]{1,64}(/[^+#/\x00-\x1f]{1,64}){0,7}")
"""Topic levels without wildcards or control characters, no empty level, no leading or trailing '/'."""


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """``[fleet]``; every key is optional."""

    url: str = ""
    """The broker, ``mqtt[s]://[user:pass@]host[:port]``; ``--mqtt`` replaces it; one of them is required."""
    client_id: str = ""
    """The fleet's MQTT client id (its persistent session belongs to it); empty: ``[mqtt] client_id``, else
    ``sensorcast-fleet-<gateway.id>``. Two fleets on one broker need different ids."""
    topic_prefix: str = ""
    """Where the gateways publish; empty: ``[mqtt] topic_prefix``, else ``sensorcast``."""
    session_expiry_s: int = SESSION_EXPIRY_S
    command_timeout_s: float = COMMAND_TIMEOUT_S


KNOWN = tuple(f.name for f in fields(FleetConfig))


def parse_fleet(table: Any) -> tuple[FleetConfig, list[ConfigError]]:
    """Validate ``[fleet]`` (None: absent). Returns the settings (defaults where a key was wrong) and the errors."""
    errors: list[ConfigError] = []
    if table is None:
        return FleetConfig(), errors
    if not isinstance(table, Mapping):
        return FleetConfig(), [ConfigError("fleet", "expected a table")]
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in KNOWN:
            errors.append(
                ConfigError(
                    f"fleet.{key}", f"unknown key{did_you_mean(str(key), KNOWN)}; known: {', '.join(KNOWN)}"
                )
            )
            continue
        try:
            values[key] = _value(key, value)
        except ConfigError as exc:
            errors.append(exc)
    return FleetConfig(**values), errors


def _value(key: str, value: Any) -> Any:
    path = f"fleet.{key}"
    if key == "session_expiry_s":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SESSION_EXPIRY_S:
            raise ConfigError(path, f"expected whole seconds 0..{MAX_SESSION_EXPIRY_S}, got {value!r}")
        return value
    if key == "command_timeout_s":
        lo, hi = COMMAND_TIMEOUT_BOUNDS_S
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise ConfigError(path, f"expected seconds {lo:g}..{hi:g}, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(path, f"expected a string, got {value!r}")
    if key == "url":
        check_url(value, path)
    elif key == "client_id" and not CLIENT_ID_RE.fullmatch(value):
        raise ConfigError(path, f"expected 1..64 of [A-Za-z0-9_.:-], got {value!r}")
    elif key == "topic_prefix" and not TOPIC_PREFIX_RE.fullmatch(value):
        raise ConfigError(
            path,
            f"expected topic levels without '+', '#', control characters or a leading/trailing '/', got {value!r}",
        )
    return value


def check_url(url: str, path: str) -> None:
    """Raise :class:`ConfigError` at ``path`` unless ``url`` is ``mqtt[s]://[user:pass@]host[:port]``."""
    expected = f"expected mqtt[s]://[user:pass@]host[:port], got {url!r}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(path, expected) from exc
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ConfigError(path, expected)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(path, "expected no path, query or fragment (set fleet.topic_prefix)")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``[fleet]`` (gateway/config_schema.py), from the bounds above."""
    lo, hi = COMMAND_TIMEOUT_BOUNDS_S
    props: dict[str, Any] = {
        "url": {"type": "string", "pattern": "^mqtts?://"},
        "client_id": {"type": "string", "pattern": f"^{CLIENT_ID_RE.pattern}$"},
        "topic_prefix": {"type": "string", "pattern": f"^{TOPIC_PREFIX_RE.pattern}$"},
        "session_expiry_s": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_SESSION_EXPIRY_S,
            "default": SESSION_EXPIRY_S,
        },
        "command_timeout_s": {"type": "number", "minimum": lo, "maximum": hi, "default": COMMAND_TIMEOUT_S},
    }
    assert set(props) == set(KNOWN)
    return {"type": "object", "properties": props, "additionalProperties": False}


__all__ = ["FleetConfig", "json_schema", "parse_fleet"]
