"""The ``[mqtt]`` config table and ``--mqtt URL``, parsed into an immutable :class:`MqttConfig`.

Every mistake raises :class:`sensors.errors.ConfigError` naming the key path (``mqtt.qos``) and what was
expected. Defaults are chosen for a Raspberry Pi on an SD card; each one says why.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from gateway.protocol.credentials import credential_path, is_credential
from sensors.errors import ConfigError
from sensors.spec import did_you_mean

TOPIC_PART_RE = re.compile(r"^[^#+\x00-\x1f/][^#+\x00-\x1f]*\Z")
PAYLOADS = ("json", "msgpack")
PROTOCOLS = ("3.1.1", "5")
OVERFLOW_POLICIES = ("drop_oldest", "downsample", "drop_newest")
SYNCHRONOUS = ("normal", "full")


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """Validated MQTT bridge settings (see docs/mqtt.md for every key).

    Attributes:
        host: broker host name or address.
        port: broker port; 0 means the scheme default (1883, or 8883 with TLS).
        username: optional user name.
        password: optional password (never logged).
        client_id: MQTT client id; empty means ``sensorcast-<gateway id>``.
        protocol: ``"5"`` (user properties carry the boot id) or ``"3.1.1"`` for old brokers.
        keepalive_s: MQTT keepalive; a dead broker is noticed within 1.5x this.
        connect_timeout_s: TCP + TLS + CONNACK limit for one connection attempt.
        reconnect_min_s: first retry delay after a failure (doubles up to ``reconnect_max_s``, with jitter).
        reconnect_max_s: longest retry delay.
        tls: connect with TLS (``mqtts://``).
        ca_file: CA bundle to verify the broker; None uses the system store.
        cert_file: client certificate for mutual TLS.
        key_file: key of ``cert_file``.
        tls_insecure: skip host name verification (self-signed lab brokers only).
        topic_prefix: first topic level (``sensorcast/<gw>/<sensor>/data``).
        payload: ``"json"`` (what Home Assistant and most tools read) or ``"msgpack"`` (the WebSocket bytes).
        qos: 1 = lossless through the durable outbox; 0 = freshest data, no disk writes, drops counted.
        max_inflight: QoS 1 messages awaiting PUBACK at once (bounds memory and the replay burst).
        commit_interval_ms: outbox commit period (new rows and deletes share one transaction).
        ack_window_ms: how long a published QoS 1 reading may wait in memory for its PUBACK before it is
            written to the outbox (bridges/mqtt/spill.py). A reading acknowledged within it never touches the
            disk; a gateway crash can lose the unacknowledged readings of the last ``ack_window_ms`` +
            ``commit_interval_ms`` (broker faults lose nothing). 0: every unacknowledged reading is written at
            the next commit (the crash window of the write-ahead design: one commit period).
        outbox_max_rows: outbox size cap (about 200 bytes per row on disk).
        outbox_max_age_s: rows older than this (by their synchronised timestamp) are dropped; 0 = no age cap.
        overflow: what happens at the cap: ``drop_oldest`` (keep the newest data), ``downsample`` (halve
            the resolution of the oldest data, keeping its time span) or ``drop_newest``.
        synchronous: SQLite ``synchronous`` in WAL mode: ``normal`` (no fsync per commit) or ``full``.
        max_pending_rows: readings held in memory only (neither acknowledged nor written yet); beyond it new
            readings are dropped and counted (it only fills up when the disk stalls).
        discovery: publish Home Assistant discovery configs.
        discovery_prefix: Home Assistant's discovery prefix.
        commands: subscribe to ``<prefix>/<gw>/<output>/set`` and route commands to the gateway.
        retain_meta: publish per-sensor metadata as retained messages.
        max_rate_hz: most data messages per second per sensor (0: every reading); readings in between are
            aggregated (bridges/mqtt/throttle.py). 1 Hz: what Home Assistant's recorder and an SD card take from
            every entity all day, while a 1 s sensor still publishes every reading.
        publish_period_s: per-sensor period overriding ``max_rate_hz`` (``{imu = 0.2}``; 0: every reading).
    """

    host: str = "localhost"
    port: int = 0
    username: str | None = None
    password: str | None = None
    client_id: str = ""
    protocol: str = "5"
    keepalive_s: int = 30
    connect_timeout_s: float = 5.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_insecure: bool = False
    topic_prefix: str = "sensorcast"
    payload: str = "json"
    qos: int = 1
    max_inflight: int = 100
    commit_interval_ms: int = 200
    ack_window_ms: int = 200
    outbox_max_rows: int = 500_000
    outbox_max_age_s: float = 7 * 86400.0
    overflow: str = "drop_oldest"
    synchronous: str = "normal"
    max_pending_rows: int = 50_000
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    commands: bool = True
    retain_meta: bool = True
    max_rate_hz: float = 1.0
    publish_period_s: tuple[tuple[str, float], ...] = ()

    @property
    def broker_port(self) -> int:
        """The port actually used (scheme default when ``port`` is 0)."""
        return self.port or (8883 if self.tls else 1883)

    def __repr__(self) -> str:
        # The password must never reach logs.
        return (
            f"MqttConfig(host={self.host!r}, port={self.broker_port}, tls={self.tls}, qos={self.qos}, "
            f"payload={self.payload!r}, prefix={self.topic_prefix!r})"
        )


_INT_RANGES: dict[str, tuple[int, int]] = {
    "port": (0, 65535),
    "keepalive_s": (5, 3600),
    "qos": (0, 1),
    "max_inflight": (1, 65535),
    "commit_interval_ms": (1, 60_000),
    "ack_window_ms": (0, 60_000),
    "outbox_max_rows": (100, 100_000_000),
    "max_pending_rows": (100, 10_000_000),
}
_FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "connect_timeout_s": (0.1, 120.0),
    "reconnect_min_s": (0.05, 3600.0),
    "reconnect_max_s": (0.05, 86400.0),
    "outbox_max_age_s": (0.0, 10 * 365 * 86400.0),
    "max_rate_hz": (0.0, 1000.0),
}
MAX_PUBLISH_PERIOD_S = 86400.0
"""Longest ``publish_period_s``: a day (one aggregate a day is already a summary, not telemetry)."""
_CHOICES: dict[str, tuple[str, ...]] = {
    "payload": PAYLOADS,
    "protocol": PROTOCOLS,
    "overflow": OVERFLOW_POLICIES,
    "synchronous": SYNCHRONOUS,
}
_PATHS = ("ca_file", "cert_file", "key_file")
_OPTIONAL_STR = ("username", "password")
_KNOWN = frozenset(f.name for f in fields(MqttConfig)) | {"enabled", "url", "password_file"}


def _value(key: str, value: Any, default: Any) -> Any:
    path = f"mqtt.{key}"
    if key in _INT_RANGES:
        lo, hi = _INT_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ConfigError(path, f"expected an integer {lo}..{hi}, got {value!r}")
        return value
    if key in _FLOAT_RANGES:
        flo, fhi = _FLOAT_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not flo <= value <= fhi:
            raise ConfigError(path, f"expected a number {flo:g}..{fhi:g}, got {value!r}")
        return float(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {value!r}")
        return value
    if key == "protocol" and value == 5 and not isinstance(value, bool):
        value = "5"  # TOML users write protocol = 5 as often as "5"
    if not isinstance(value, str):
        raise ConfigError(path, f"expected a string, got {value!r}")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(path, f"expected one of {', '.join(map(repr, _CHOICES[key]))}, got {value!r}")
    if key in _PATHS:
        return Path(value).expanduser()
    return value


def _check(cfg: MqttConfig) -> MqttConfig:
    if not cfg.host:
        raise ConfigError("mqtt.host", "expected a broker host name or address")
    for key in ("topic_prefix", "discovery_prefix"):
        value = getattr(cfg, key)
        if not TOPIC_PART_RE.match(value) or value.endswith("/"):
            raise ConfigError(
                f"mqtt.{key}",
                f"expected topic levels without '+', '#', control characters or a leading/trailing '/', got {value!r}",
            )
    if cfg.client_id and not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", cfg.client_id):
        raise ConfigError("mqtt.client_id", f"expected 1..64 of [A-Za-z0-9_.:-], got {cfg.client_id!r}")
    if cfg.reconnect_max_s < cfg.reconnect_min_s:
        raise ConfigError("mqtt.reconnect_max_s", "expected a value >= mqtt.reconnect_min_s")
    if (cfg.cert_file is None) != (cfg.key_file is None):
        raise ConfigError("mqtt.key_file", "cert_file and key_file must be given together")
    if cfg.password is not None and cfg.username is None:
        raise ConfigError("mqtt.password", "a password needs mqtt.username")
    return cfg


def parse_mqtt_config(
    table: Mapping[str, Any], file: str | None = None, errors: list[ConfigError] | None = None
) -> MqttConfig | None:
    """Validate an ``[mqtt]`` table.

    Args:
        table: the decoded table. ``url = "mqtt://user:pass@host:port"`` may replace host/port/credentials;
            ``password_file`` reads the password from a file (first line) so the config can be world-readable.
        file: the config file, for error messages and to resolve relative paths.
        errors: when given, every mistake of the table is appended here (each naming ``file``) and None is
            returned, so check-config reports them all at once; otherwise the first is raised.

    Returns:
        The settings, or None when ``enabled = false`` (or when ``errors`` received any).

    Raises:
        ConfigError: naming ``mqtt.<key>`` and what was expected (only without ``errors``).
    """
    found: list[ConfigError] = []
    cfg = _parse(table, file, found)
    found = [e.with_file(file) if file and not e.file else e for e in found]
    if not found:
        return cfg
    if errors is None:
        raise found[0]
    errors.extend(found)
    return None


def _parse(table: Mapping[str, Any], file: str | None, errors: list[ConfigError]) -> MqttConfig | None:
    """The settings; every mistake goes to ``errors`` (a key whose value is wrong keeps its default meanwhile,
    and the checks across keys run only on a table without other mistakes)."""
    if not isinstance(table, Mapping):
        errors.append(ConfigError("mqtt", "expected a table"))
        return None
    for key in table:
        if key not in _KNOWN:
            errors.append(
                ConfigError(
                    f"mqtt.{key}",
                    f"unknown key{did_you_mean(key, _KNOWN)}; known keys: {', '.join(sorted(_KNOWN))}",
                )
            )
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(ConfigError("mqtt.enabled", f"expected true or false, got {enabled!r}"))
        return None
    if not enabled:
        return None
    base_dir = Path(file).parent if file and not file.startswith("(") else Path.cwd()
    cfg = MqttConfig()
    if "url" in table:
        url = table["url"]
        try:
            if not isinstance(url, str):
                raise ConfigError("mqtt.url", f"expected a string, got {url!r}")
            cfg = _apply_url(url, cfg, "mqtt.url")
        except ConfigError as exc:
            errors.append(exc)
    defaults = MqttConfig()
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key in ("enabled", "url", "password_file") or key not in _KNOWN:
            continue
        try:
            values[key] = _key_value(key, raw, getattr(defaults, key), base_dir)
        except ConfigError as exc:
            errors.append(exc)
    if "password_file" in table:
        try:
            values["password"] = _read_password(table["password_file"], base_dir)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        return None
    cfg = replace(cfg, **values)
    for key in _PATHS:
        path = getattr(cfg, key)
        if path is not None and not path.is_file():
            errors.append(ConfigError(f"mqtt.{key}", f"file not found: {path}"))
    if errors:
        return None
    try:
        return _check(cfg)
    except ConfigError as exc:
        errors.append(exc)
        return None


def _key_value(key: str, raw: Any, default: Any, base_dir: Path) -> Any:
    """One key's checked value (a relative path resolved against the config's directory)."""
    if key == "publish_period_s":
        return _periods(raw)
    if key in _OPTIONAL_STR and isinstance(raw, str) and not raw:
        raise ConfigError(f"mqtt.{key}", "expected a non-empty string")
    value = _value(key, raw, default if default is not None else "")
    if key in _PATHS and not value.is_absolute():
        value = base_dir / value
    return value


def _periods(raw: Any) -> tuple[tuple[str, float], ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "mqtt.publish_period_s", "expected a table of sensor id = seconds, e.g. { imu = 0.5 }"
        )
    out = []
    for sensor, period in raw.items():
        if (
            isinstance(period, bool)
            or not isinstance(period, int | float)
            or not 0 <= period <= MAX_PUBLISH_PERIOD_S
        ):
            raise ConfigError(
                f"mqtt.publish_period_s.{sensor}",
                f"expected seconds 0..{MAX_PUBLISH_PERIOD_S:g} (0: every reading), got {period!r}",
            )
        out.append((str(sensor), float(period)))
    return tuple(out)


def _read_password(raw: Any, base_dir: Path) -> str:
    if not isinstance(raw, str) or not raw:
        raise ConfigError("mqtt.password_file", f"expected a path (string), got {raw!r}")
    if is_credential(raw):  # systemd LoadCredential= (gateway/protocol/credentials.py)
        try:
            path = credential_path(raw, os.environ)
        except ValueError as exc:
            raise ConfigError("mqtt.password_file", str(exc)) from None
    else:
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else base_dir / path
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError("mqtt.password_file", f"cannot read {path}: {exc.strerror}") from exc
    if not lines or not lines[0]:
        raise ConfigError("mqtt.password_file", f"{path} is empty (expected the password on its first line)")
    return lines[0]


def _apply_url(url: str, base: MqttConfig, key: str) -> MqttConfig:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(key, f"expected mqtt[s]://[user:pass@]host[:port], got {url!r}") from exc
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ConfigError(key, f"expected mqtt[s]://[user:pass@]host[:port], got {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(key, "expected no path, query or fragment (set topic_prefix in [mqtt])")
    changes: dict[str, Any] = {"host": parts.hostname, "port": port or 0, "tls": parts.scheme == "mqtts"}
    if parts.username is not None:
        changes["username"] = unquote(parts.username)
        changes["password"] = unquote(parts.password) if parts.password is not None else None
    return replace(base, **changes)


def config_from_url(url: str, base: MqttConfig | None = None) -> MqttConfig:
    """Build settings from ``--mqtt mqtt[s]://[user:pass@]host[:port]`` on top of ``base`` (the [mqtt] table).

    The URL replaces host, port, TLS and (when given) credentials; everything else keeps ``base``'s values,
    so ``mqtts://`` uses the CA/cert/key files from the config.

    Raises:
        ConfigError: key ``--mqtt`` with what was expected.
    """
    return _check(_apply_url(url, base or MqttConfig(), "--mqtt"))


def json_schema() -> dict[str, Any]:
    """The JSON Schema of an ``[mqtt]`` table, from the same key set, ranges and choices that
    :func:`parse_mqtt_config` enforces (published in docs/config.schema.json)."""
    defaults = MqttConfig()
    props: dict[str, Any] = {
        "enabled": {"type": "boolean", "default": True},
        "url": {"type": "string", "description": "mqtt[s]://[user[:password]@]host[:port]"},
        "password_file": {"type": "string", "minLength": 1},
    }
    for f in fields(MqttConfig):
        default = getattr(defaults, f.name)
        prop: dict[str, Any]
        if f.name in _INT_RANGES:
            lo, hi = _INT_RANGES[f.name]
            prop = {"type": "integer", "minimum": lo, "maximum": hi}
        elif f.name in _FLOAT_RANGES:
            flo, fhi = _FLOAT_RANGES[f.name]
            prop = {"type": "number", "minimum": flo, "maximum": fhi}
        elif isinstance(default, bool):
            prop = {"type": "boolean"}
        elif f.name in _CHOICES:
            prop = {"enum": list(_CHOICES[f.name])}
        else:
            prop = {"type": "string", "minLength": 1 if f.name in (*_OPTIONAL_STR, *_PATHS, "host") else 0}
        if f.name == "protocol":
            prop = {"enum": [*PROTOCOLS, 5]}
        if f.name == "publish_period_s":
            period = {"type": "number", "minimum": 0, "maximum": MAX_PUBLISH_PERIOD_S}
            prop = {"type": "object", "additionalProperties": period}
            default = None
        if default is not None:
            prop["default"] = default
        props[f.name] = prop
    assert set(props) == _KNOWN  # every key parse_mqtt_config accepts, and no other
    return {"type": "object", "properties": props, "additionalProperties": False}
