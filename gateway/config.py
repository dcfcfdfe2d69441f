"""Configuration: TOML file -> typed, validated :class:`Config`. The CLI loads it; the composition root
(``gateway.app``, ``gateway.devices``) and the server read it; every other room gets the values it needs passed in.

Every mistake is reported with the file, the key path and what was expected, and :func:`load_config` reports
*all* mistakes at once (``sensorcast check-config``), never a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.fleet.config import FleetConfig, parse_fleet
from gateway.history.config import HistoryConfig, parse_history
from gateway.protocol.actuation import MAX_MIN_INTERVAL_S
from gateway.protocol.credentials import credential_path, is_credential
from gateway.protocol.rules import Rule
from gateway.rules_config import parse_rules
from sensors.errors import ConfigError
from sensors.spec import GENERIC_KEYS, DeviceSpec, did_you_mean

if TYPE_CHECKING:  # the bridge's settings type only: parsing imports it when an [mqtt] table is there
    from bridges.mqtt.config import MqttConfig

ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""Gateway and device ids; always used with ``fullmatch`` (``$`` would also accept a trailing newline)."""
ROLES = ("viewer", "operator")
SECTIONS = frozenset(
    {"gateway", "limits", "security", "sensors", "actuators", "mqtt", "rules", "history", "fleet"}
)
SECURITY_KEYS = frozenset(
    {
        "insecure",
        "tokens",
        "token_file",
        "allowed_origins",
        "allowed_hosts",
        "tls_cert",
        "tls_key",
        "protect_metrics",
    }
)
MAX_INTERVAL_S = 86400.0
"""Longest ``interval_s`` of a device: a day."""
GATEWAY_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "port": (0, 65535),
    "batch_size": (1, 10000),
    "ring_size": (16, 1_000_000),
    "flush_interval_ms": (0, 10000),
}
"""Inclusive ranges of ``[gateway]`` numbers beyond ">= 0" (also published in docs/config.schema.json)."""
LIMITS_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "max_message_bytes": (256, None),
    "preauth_max": (1, None),
    "preauth_per_address": (1, None),
    "auth_failures_burst": (1, None),
}
"""Lower bounds of ``[limits]`` numbers beyond ">= 0" (``auth_failure_rate_per_s`` must also be > 0)."""
T = TypeVar("T")


class ConfigErrors(ConfigError):
    """Several config mistakes at once; ``errors`` lists each :class:`ConfigError`."""

    def __init__(self, errors: list[ConfigError], partial: Config | None = None) -> None:
        self.errors = errors
        self.partial = partial
        """What could be parsed despite the errors (lets check-config also validate driver options)."""
        first = errors[0]
        super().__init__(first.key, first.message, first.file)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


@dataclass(frozen=True, slots=True)
class GatewaySection:
    """``[gateway]``: identity, listen address and the data path's batching."""

    id: str = field(default_factory=lambda: _default_id())
    host: str = "localhost"
    """Listen address; ``localhost`` is both 127.0.0.1 and ::1 (see gateway/server/listen.py)."""
    port: int = 8765
    data_dir: Path = field(default_factory=lambda: default_data_dir(os.environ, Path.home()))
    """Durable state (the MQTT outbox); default: see :func:`default_data_dir`."""
    flush_interval_ms: int = 20
    """Upper bound on how long a reading waits before its frame goes out (0: every reading at once). A reading
    after a quiet window goes out at once; only a busy gateway batches (at most one frame per window)."""
    batch_size: int = 500
    """A batch is flushed early when it reaches this many readings (bounds frame size and latency)."""
    ring_size: int = 4096
    """Readings kept in memory for ``resume`` (kept encoded, about 0.25 MiB; a minute of 60 Hz data)."""
    read_timeout_s: float = 2.0
    """A sensor read that takes longer is a failure (a stuck bus must not stall its sensor forever)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """``[limits]``: per-connection limits; see docs/protocol.md for why each default."""

    max_clients: int = 64
    max_message_bytes: int = 65536
    control_rate_per_s: float = 20.0
    control_burst: int = 40
    max_bad_messages: int = 5
    client_buffer_frames: int = 256
    client_hard_limit_bytes: int = 4 * 1024 * 1024
    client_stall_s: float = 10.0
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    auth_timeout_s: float = 5.0
    """Time a connection has to show its token; short, because until then it holds a pre-auth slot."""
    compression: bool = False
    write_buffer_bytes: int = 65536
    """Kernel+transport backlog under which frames are written directly; above it, the client's own queue."""
    preauth_max: int = 16
    """Connections waiting to authenticate, in total (on top of max_clients): the busiest address loses its
    oldest one when more arrive, so peers without a token cannot take the slots of those who have one."""
    preauth_per_address: int = 8
    """Connections waiting to authenticate from one address (IPv6: one /64); its oldest goes beyond."""
    auth_failures_burst: int = 10
    """Wrong tokens one address may send at once (typos) before it is slowed down."""
    auth_failure_rate_per_s: float = 1.0
    """Wrong tokens per second one address may send after its burst; attempts beyond are refused unchecked."""


@dataclass(frozen=True, slots=True)
class Token:
    """One access token."""

    name: str
    role: str
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Security:
    """``[security]``: tokens, origin/host allowlists, TLS."""

    insecure: bool = False
    tokens: tuple[Token, ...] = ()
    token_file: Path | None = None
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    tls_cert: Path | None = None
    tls_key: Path | None = None
    protect_metrics: bool = False
    """Require ``Authorization: Bearer <token>`` (any role) on /metrics; /healthz stays open for health checks."""


@dataclass(frozen=True, slots=True)
class Config:
    """The whole, validated configuration."""

    gateway: GatewaySection = field(default_factory=GatewaySection)
    limits: Limits = field(default_factory=Limits)
    security: Security = field(default_factory=Security)
    sensors: tuple[DeviceSpec, ...] = ()
    actuators: tuple[DeviceSpec, ...] = ()
    mqtt: MqttConfig | None = None
    """The MQTT bridge's settings when an ``[mqtt]`` table is present and enabled."""
    source: str | None = None
    """The file this came from (None for the demo)."""
    rules: tuple[Rule, ...] = ()
    """``[[rules]]``: local alert rules (gateway/rules_config.py)."""
    history: HistoryConfig = field(default_factory=HistoryConfig)
    """``[history]`` and the per-sensor ``history`` policies (see :mod:`gateway.history.config`)."""
    fleet: FleetConfig = field(default_factory=FleetConfig)
    """``[fleet]``: what ``sensorcast fleet`` reads (gateway/fleet/config.py); a gateway ignores it."""
    origins: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Key path -> (drop-in file, key in it) for every key a ``conf.d`` drop-in set (see :func:`locate_error`)."""

    def with_overrides(self, **gateway: Any) -> Config:
        """Return a copy with ``[gateway]`` keys replaced (CLI flags such as ``--port``)."""
        return replace(self, gateway=replace(self.gateway, **gateway))


def default_data_dir(env: Mapping[str, str], home: Path) -> Path:
    """Where state goes when ``gateway.data_dir`` is not configured, never the current directory.

    In order: ``$SENSORCAST_DATA_DIR``; ``$STATE_DIRECTORY`` (set by systemd for ``StateDirectory=``; the
    first entry when it lists several); ``$XDG_STATE_HOME/sensorcast`` (an absolute one, as the XDG base
    directory spec requires); ``~/.local/state/sensorcast``.
    """
    if env.get("SENSORCAST_DATA_DIR"):
        return Path(env["SENSORCAST_DATA_DIR"])
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "sensorcast"
    return home / ".local" / "state" / "sensorcast"


def _default_id() -> str:
    name = re.sub(r"[^a-z0-9_-]", "-", socket.gethostname().lower()).strip("-")
    return name[:64] or "sensorcast"


# -- section parsing -------------------------------------------------------------------------------------------


class _Collector:
    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def guard(self, fn: Callable[[], T], fallback: T) -> T:
        try:
            return fn()
        except ConfigErrors as exc:
            self.errors.extend(exc.errors)
        except ConfigError as exc:
            self.errors.append(exc)
        return fallback


def _typecheck(key: str, value: Any, default: Any) -> Any:
    """Coerce ``value`` to the type of ``default`` or raise a ConfigError naming ``key``."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {value!r}")
        if value < 0:
            raise ConfigError(key, f"expected an integer >= 0, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, f"expected a number, got {value!r}")
        if value < 0:
            raise ConfigError(key, f"expected a number >= 0, got {value!r}")
        return float(value)
    if isinstance(default, Path):
        if not isinstance(value, str) or not value:
            raise ConfigError(key, f"expected a path (string), got {value!r}")
        return Path(value).expanduser()
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {value!r}")
    return value


def _section(cls: type[T], table: Any, name: str, col: _Collector) -> T:
    if table is None:
        return cls()
    if not isinstance(table, Mapping):
        col.errors.append(ConfigError(name, "expected a table"))
        return cls()
    defaults = cls()
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            col.errors.append(
                ConfigError(
                    f"{name}.{key}",
                    f"unknown key{did_you_mean(key, known)}; known keys: {', '.join(sorted(known))}",
                )
            )
            continue
        try:
            values[key] = _typecheck(f"{name}.{key}", value, getattr(defaults, key))
        except ConfigError as exc:
            col.errors.append(exc)
    return replace(defaults, **values)  # type: ignore[type-var]


def _gateway(table: Any, col: _Collector) -> GatewaySection:
    gw = _section(GatewaySection, table, "gateway", col)
    if not ID_RE.fullmatch(gw.id):
        col.errors.append(ConfigError("gateway.id", f"expected [a-z0-9_-], 1..64 characters, got {gw.id!r}"))
    for key, (lo, hi) in GATEWAY_BOUNDS.items():
        value = getattr(gw, key)
        if not lo <= value <= hi:
            what = "a port " if key == "port" else ""
            col.errors.append(ConfigError(f"gateway.{key}", f"expected {what}{lo}..{hi}, got {value}"))
    if gw.read_timeout_s <= 0:
        col.errors.append(ConfigError("gateway.read_timeout_s", "expected a number > 0"))
    return gw


TOKEN_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
"""Token characters: RFC 7230 ``tchar`` (RFC 2616 token), the characters a WebSocket subprotocol name may hold,
so every token also travels as ``bearer.<token>`` (browsers refuse a subprotocol with ``/`` or ``=``)."""
TOKEN_EXPECTED = (
    "expected only letters, digits and !#$%&'*+-.^_`|~ (what a WebSocket subprotocol bearer.<token> allows;"
    " `sensorcast token` makes good ones)"
)


def _tokens(raw: Any, key: str, col: _Collector) -> list[Token]:
    out: list[Token] = []
    if not isinstance(raw, list):
        col.errors.append(ConfigError(key, "expected a list of tables {name, role, token}"))
        return out
    for i, t in enumerate(raw):
        k = f"{key}[{i}]"
        if not isinstance(t, Mapping):
            col.errors.append(ConfigError(k, "expected a table {name, role, token}"))
            continue
        token, role, name = t.get("token"), t.get("role", "viewer"), t.get("name", f"token{i}")
        unknown = set(t) - {"token", "role", "name"}
        if unknown:
            col.errors.append(
                ConfigError(f"{k}.{sorted(unknown)[0]}", "unknown key; known keys: name, role, token")
            )
        if not isinstance(token, str) or len(token) < 16:
            col.errors.append(
                ConfigError(
                    f"{k}.token",
                    "expected a string of at least 16 characters (generate one with `sensorcast token`)",
                )
            )
            continue
        if not TOKEN_RE.fullmatch(token):
            col.errors.append(ConfigError(f"{k}.token", TOKEN_EXPECTED))
            continue
        if role not in ROLES:
            col.errors.append(ConfigError(f"{k}.role", f"expected 'viewer' or 'operator', got {role!r}"))
            continue
        out.append(Token(str(name), role, token))
    return out


def _security(table: Any, col: _Collector, base: Path) -> Security:
    if table is None:
        return Security()
    if not isinstance(table, Mapping):
        col.errors.append(ConfigError("security", "expected a table"))
        return Security()
    known = SECURITY_KEYS
    for key in table:
        if key not in known:
            col.errors.append(
                ConfigError(
                    f"security.{key}",
                    f"unknown key{did_you_mean(key, known)}; known keys: {', '.join(sorted(known))}",
                )
            )
    insecure = col.guard(lambda: _typecheck("security.insecure", table.get("insecure", False), False), False)
    tokens = _tokens(table.get("tokens", []), "security.tokens", col)
    token_file = None
    if "token_file" in table:
        token_file = col.guard(
            lambda: _file_or_credential("security.token_file", table["token_file"], base), None
        )
        if token_file is not None:
            tokens += _load_token_file(token_file, col)
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("allowed_origins", "allowed_hosts"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            col.errors.append(ConfigError(f"security.{key}", "expected a list of strings"))
            value = []
        lists[key] = tuple(value)
    tls: dict[str, Path | None] = {}
    for key in ("tls_cert", "tls_key"):
        tls[key] = None
        if key in table:
            try:
                path = base / _typecheck(f"security.{key}", table[key], Path())
            except ConfigError as exc:
                col.errors.append(exc)
                continue
            problem = _not_a_file(path)
            if problem:
                col.errors.append(ConfigError(f"security.{key}", problem))
            tls[key] = path
    if (tls["tls_cert"] is None) != (tls["tls_key"] is None):
        col.errors.append(ConfigError("security.tls_key", "tls_cert and tls_key must be given together"))
    protect = col.guard(
        lambda: _typecheck("security.protect_metrics", table.get("protect_metrics", False), False), False
    )
    if protect and not tokens:
        col.errors.append(
            ConfigError("security.protect_metrics", "needs at least one token (tokens or token_file)")
        )
    return Security(
        bool(insecure),
        tuple(tokens),
        token_file,
        lists["allowed_origins"],
        lists["allowed_hosts"],
        tls["tls_cert"],
        tls["tls_key"],
        bool(protect),
    )


def _file_or_credential(key: str, value: Any, base: Path) -> Path:
    """A path relative to ``base``, or ``cred:NAME``: systemd's ``$CREDENTIALS_DIRECTORY/NAME``."""
    if isinstance(value, str) and is_credential(value):
        try:
            return credential_path(value, os.environ)
        except ValueError as exc:
            raise ConfigError(key, str(exc)) from None
    path: Path = base / _typecheck(key, value, Path())
    return path


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` is not a usable file (None when it is one); never raises."""
    if "\0" in str(path):
        return f"expected a file path without NUL bytes, got {str(path)!r}"
    try:
        if path.is_file():
            return None
    except OSError as exc:  # is_file() only swallows ENOENT/ENOTDIR/ELOOP; ENAMETOOLONG, EACCES... escape
        return f"cannot read {path}: {exc.strerror or exc}"
    return f"file not found: {path}"


def _load_token_file(path: Path, col: _Collector) -> list[Token]:
    key = "security.token_file"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        # A deployment secret, made on the board by install.sh / `sensorcast token`: its absence is this
        # machine's state, not a mistake in the file (the reference configs must check anywhere). The listen
        # check decides: no tokens is refused on a non-loopback address (see missing_token_file).
        return []
    except PermissionError:
        col.errors.append(
            ConfigError(key, f"permission denied reading {path} (the service user must be in its group)")
        )
        return []
    except IsADirectoryError:
        col.errors.append(ConfigError(key, f"expected a TOML file, got a directory: {path}"))
        return []
    except OSError as exc:  # ENOTDIR, ELOOP, ENAMETOOLONG, EIO...: still a config mistake, never a traceback
        col.errors.append(ConfigError(key, f"cannot read {path}: {exc.strerror or exc}"))
        return []
    except ValueError:  # a NUL byte in the path ("\u0000" is a valid TOML escape)
        col.errors.append(ConfigError(key, _not_a_file(path) or f"cannot read {path}"))
        return []
    try:
        data = tomllib.loads(_toml_text(raw))
    except UnicodeDecodeError as exc:
        col.errors.append(ConfigError(key, f"{path}: not valid TOML: {_utf8_error(raw, exc)}"))
        return []
    except tomllib.TOMLDecodeError as exc:
        col.errors.append(ConfigError(key, f"{path}: not valid TOML ({exc})"))
        return []
    inner = _Collector()
    tokens = _tokens(data.get("tokens", []), "tokens", inner)
    col.errors.extend(ConfigError(e.key, e.message, str(path)) for e in inner.errors)
    return tokens


def _devices(raw: Any, name: str, col: _Collector) -> list[DeviceSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        col.errors.append(ConfigError(name, f"expected an array of tables ([[{name}]])"))
        return []
    out: list[DeviceSpec] = []
    seen: set[str] = set()
    for i, t in enumerate(raw):
        key = f"{name}[{i}]"
        if not isinstance(t, Mapping):
            col.errors.append(ConfigError(key, "expected a table"))
            continue
        dev_id, driver = t.get("id"), t.get("driver")
        if not isinstance(dev_id, str) or not ID_RE.fullmatch(dev_id):
            col.errors.append(
                ConfigError(f"{key}.id", f"expected an id of [a-z0-9_-], 1..64 chars, got {dev_id!r}")
            )
            continue
        if dev_id in seen:
            col.errors.append(ConfigError(f"{key}.id", f"duplicate id {dev_id!r}"))
            continue
        seen.add(dev_id)
        if not isinstance(driver, str) or not driver:
            col.errors.append(ConfigError(f"{key}.driver", "expected a driver name (see docs/sensors.md)"))
            continue
        interval = t.get("interval_s", 1.0)
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not 0 <= interval <= MAX_INTERVAL_S
        ):
            col.errors.append(
                ConfigError(f"{key}.interval_s", f"expected seconds 0..{MAX_INTERVAL_S:g}, got {interval!r}")
            )
            continue
        simulate = t.get("simulate", False)
        if not isinstance(simulate, bool):
            col.errors.append(ConfigError(f"{key}.simulate", f"expected true or false, got {simulate!r}"))
            continue
        min_interval = t.get("min_interval_s") if name == "actuators" else None
        if min_interval is not None and (
            isinstance(min_interval, bool)
            or not isinstance(min_interval, int | float)
            or not 0 <= min_interval <= MAX_MIN_INTERVAL_S
        ):
            col.errors.append(
                ConfigError(
                    f"{key}.min_interval_s",
                    f"expected seconds 0..{MAX_MIN_INTERVAL_S:g} between two changes of this output, "
                    f"got {min_interval!r}",
                )
            )
            continue
        generic = (*GENERIC_KEYS, *(("min_interval_s",) if name == "actuators" else ()))
        options = {k: v for k, v in t.items() if k not in generic}
        out.append(
            DeviceSpec(
                dev_id,
                driver,
                key,
                float(interval),
                simulate,
                options,
                None if min_interval is None else float(min_interval),
            )
        )
    return out


def _mqtt(table: Any, file: str | None, col: _Collector) -> MqttConfig | None:
    if table is None:
        return None
    try:
        from bridges.mqtt.config import parse_mqtt_config
    except ModuleNotFoundError:
        col.errors.append(ConfigError("mqtt", "this build has no MQTT bridge"))
        return None
    return parse_mqtt_config(table, file, col.errors)  # every mistake of the table at once


def _toml_text(raw: bytes) -> str:
    """Decode a TOML file's bytes (UTF-8 by definition) with universal newlines, as ``read_text`` would.

    Raises:
        UnicodeDecodeError: not UTF-8; describe it with :func:`_utf8_error` (never let it escape as a crash).
    """
    return raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def _utf8_error(raw: bytes, exc: UnicodeDecodeError) -> str:
    """Describe where ``raw`` stops being UTF-8: the byte, its offset and its line/column (1-based)."""
    line = raw.count(b"\n", 0, exc.start) + 1
    column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
    return f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}, line {line}, column {column})"


def parse_config(data: Mapping[str, Any], *, file: str | None = None, base: Path | None = None) -> Config:
    """Validate a decoded TOML document.

    Args:
        data: the decoded document.
        file: its path, for error messages.
        base: directory that relative paths (token_file, TLS files) are resolved against.

    Raises:
        ConfigErrors: every mistake found, each naming file, key path and what was expected.
    """
    col = _Collector()
    base = base or Path.cwd()
    known = SECTIONS
    for key in data:
        if key not in known:
            col.errors.append(
                ConfigError(
                    key, f"unknown section{did_you_mean(key, known)}; known: {', '.join(sorted(known))}"
                )
            )
    gw = _gateway(data.get("gateway"), col)
    if not gw.data_dir.is_absolute():
        gw = replace(gw, data_dir=(base / gw.data_dir))
    limits = _section(Limits, data.get("limits"), "limits", col)
    for key, (lo, _) in LIMITS_BOUNDS.items():
        if lo is not None and getattr(limits, key) < lo:
            col.errors.append(ConfigError(f"limits.{key}", f"expected an integer >= {lo}"))
    if limits.auth_failure_rate_per_s <= 0:
        col.errors.append(ConfigError("limits.auth_failure_rate_per_s", "expected a number > 0"))
    security = _security(data.get("security"), col, base)
    sensors = _devices(data.get("sensors"), "sensors", col)
    actuators = _devices(data.get("actuators"), "actuators", col)
    clash = {s.id for s in sensors} & {a.id for a in actuators}
    for dev_id in sorted(clash):
        col.errors.append(
            ConfigError(
                "actuators",
                f"id {dev_id!r} is also a sensor id (actuator states are "
                "published as readings under their own id)",
            )
        )
    mqtt = _mqtt(data.get("mqtt"), file, col)
    sensor_ids = {s.id for s in sensors}
    for sensor_id, _ in mqtt.publish_period_s if mqtt is not None else ():
        if sensor_id not in sensor_ids:
            col.errors.append(
                ConfigError(
                    f"mqtt.publish_period_s.{sensor_id}",
                    f"no such sensor{did_you_mean(sensor_id, sensor_ids)}; sensors: {', '.join(sorted(sensor_ids))}",
                )
            )
    checkable: list[Rule] = []
    rules = parse_rules(
        data.get("rules"), [s.id for s in sensors], [a.id for a in actuators], col.errors, checkable
    )
    history, history_errors = parse_history(data.get("history"), _device_tables(data), base)
    col.errors += history_errors
    fleet, fleet_errors = parse_fleet(data.get("fleet"))
    col.errors += fleet_errors
    cfg = Config(
        gw, limits, security, tuple(sensors), tuple(actuators), mqtt, file, rules, history, fleet=fleet
    )
    if col.errors:
        # The partial config carries the rules with mistakes too: the build check names their fields as well.
        partial = replace(cfg, rules=tuple(checkable))
        raise ConfigErrors([e if e.file else e.with_file(file) if file else e for e in col.errors], partial)
    return cfg


def _device_tables(data: Mapping[str, Any]) -> dict[str, Any]:
    """Config key path (``sensors[0]``) -> raw table, for the sections holding devices."""
    out: dict[str, Any] = {}
    for name in ("sensors", "actuators"):
        raw = data.get(name)
        if isinstance(raw, list):
            out.update((f"{name}[{i}]", t) for i, t in enumerate(raw))
    return out


CONF_D = "conf.d"
"""Drop-in directory beside the main config: its ``*.toml`` files are merged in name order (gateway/config_files.py)."""


def _read_toml(p: Path) -> dict[str, Any]:
    """Read and decode one TOML file; raises ConfigErrors naming ``p`` (missing, unreadable, not UTF-8, not TOML)."""
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigErrors([ConfigError("(file)", "not found", str(p))]) from None
    except OSError as exc:
        raise ConfigErrors([ConfigError("(file)", f"cannot read: {exc.strerror or exc}", str(p))]) from None
    except ValueError:  # a NUL byte in the path
        raise ConfigErrors(
            [ConfigError("(file)", "cannot read: the path contains a NUL byte", str(p))]
        ) from None
    try:
        return tomllib.loads(_toml_text(raw))
    except UnicodeDecodeError as exc:
        raise ConfigErrors(
            [ConfigError("(syntax)", f"not valid TOML: {_utf8_error(raw, exc)}", str(p))]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigErrors([ConfigError("(syntax)", f"not valid TOML: {exc}", str(p))]) from None


def config_files(path: str | Path) -> list[Path]:
    """The main file and its drop-ins (``conf.d/*.toml`` beside it, in name order): what :func:`load_config` reads."""
    p = Path(path)
    try:
        drop_ins = sorted((p.parent / CONF_D).glob("*.toml"))
    except OSError:  # an unreadable conf.d: load_config reports it
        drop_ins = []
    return [p, *drop_ins]


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML config file and its ``conf.d/*.toml`` drop-ins (relative paths inside resolve
    against the main file's directory); ``${VAR}`` in string values comes from ``env`` (default: os.environ).

    Raises:
        ConfigErrors: a file is missing, unreadable, not UTF-8, not TOML, or has mistakes (all of them are
            listed, each naming the file - main or drop-in - it is in).
    """
    from gateway.config_files import Merged, expand_env

    env = os.environ if env is None else env
    p = Path(path)
    main, errors = expand_env(_read_toml(p), env)
    errors = [e.with_file(str(p)) for e in errors]
    merged = Merged(main)
    conf_d = p.parent / CONF_D
    if conf_d.exists() and not conf_d.is_dir():
        errors.append(ConfigError("(file)", "expected a directory of *.toml drop-ins", str(conf_d)))
    for drop_in in config_files(p)[1:]:
        try:
            doc, errs = expand_env(_read_toml(drop_in), env)
        except ConfigErrors as exc:
            errors += exc.errors
            continue
        errors += [e.with_file(str(drop_in)) for e in errs]
        merged.add(doc, str(drop_in))
    try:
        cfg = parse_config(merged.data, file=str(p), base=p.parent.resolve())
    except ConfigErrors as exc:
        located = [merged.locate(e, str(p)) for e in exc.errors]
        partial = None if exc.partial is None else replace(exc.partial, origins=merged.origins)
        raise ConfigErrors(errors + located, partial) from None
    cfg = replace(cfg, origins=merged.origins)
    if errors:
        raise ConfigErrors(errors, cfg)
    return cfg


def locate_error(cfg: Config, error: ConfigError) -> ConfigError:
    """Return ``error`` (found after loading, e.g. by a driver) naming the drop-in its key came from."""
    from gateway.config_files import Merged

    return Merged(origins=dict(cfg.origins)).locate(error, cfg.source)


def demo_config(**gateway: Any) -> Config:
    """The demo: every driver family's simulated sensors and actuators, on 127.0.0.1:8765."""
    from sensors.registry import demo_tables

    sensors, actuators = demo_tables()
    data = {
        "gateway": {"id": "demo", **{k: str(v) if isinstance(v, Path) else v for k, v in gateway.items()}},
        "sensors": [dict(t, simulate=True) for t in sensors],
        "actuators": [dict(t, simulate=True) for t in actuators],
    }
    return parse_config(data, file="(demo)")


def missing_token_file(cfg: Config) -> Path | None:
    """The configured ``security.token_file`` when it does not exist on this machine (else None)."""
    path = cfg.security.token_file
    return path if path is not None and not path.exists() else None


def is_loopback(host: str) -> bool:
    """True when ``host`` only listens on loopback (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
