"""The ``[history]`` table and the per-sensor ``history = ...`` key: parsing and validation.

Called from :func:`gateway.config.parse_config` in one place; every mistake names its key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.history.policy import DEFAULT_RETENTION_S, POLICIES, TIERS, default_policy
from sensors.errors import ConfigError
from sensors.spec import did_you_mean

DB_NAME = "history.db"
COMMIT_INTERVAL_S = 5.0
"""Readings are appended to the recent log and synced this often: at most this much history is lost on power
loss, and each commit costs at least one 4 KiB page on the SD card whatever it holds (docs/benchmarks.md)."""
COMPACT_INTERVAL_S = 600.0
"""The recent log is folded into the database (one chunk per sensor and tier) this often, then retention runs."""
MAX_BYTES = 1 << 30
"""Size cap of the database (1 GiB: a small share of an SD card); pruning keeps it below."""


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """``[history]`` plus the per-sensor policies."""

    enabled: bool = True
    path: Path | None = None
    """Database file; None: ``history.db`` in ``gateway.data_dir``."""
    commit_interval_s: float = COMMIT_INTERVAL_S
    compact_interval_s: float = COMPACT_INTERVAL_S
    max_bytes: int = MAX_BYTES
    retention_s: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RETENTION_S))
    policies: Mapping[str, str] = field(default_factory=dict)
    """Explicit ``history = ...`` per sensor id; others get :func:`policy_for`'s default."""

    def db_path(self, data_dir: Path) -> Path:
        """The database file for a gateway whose data directory is ``data_dir``."""
        return self.path if self.path is not None else data_dir / DB_NAME

    def fleet_db_path(self, data_dir: Path, fleet_id: str) -> Path:
        """The database file of ``sensorcast fleet`` with id ``fleet_id``: ``fleet-<id>/history.db`` in
        ``data_dir`` (never the ``history.db`` of a gateway sharing the data directory)."""
        return self.path if self.path is not None else data_dir / f"fleet-{fleet_id}" / DB_NAME

    def policy_for(self, sensor_id: str, interval_s: float) -> str:
        """The policy of one sensor: configured, else the default for its poll interval."""
        return self.policies.get(sensor_id) or default_policy(interval_s)


KNOWN = ("enabled", "path", "commit_interval_s", "compact_interval_s", "max_bytes", "retention_days")
BOUNDS = {"commit_interval_s": (0.1, 3600.0), "compact_interval_s": (10.0, 86400.0)}
"""Seconds: a commit at most every 0.1 s (SD wear) and at least hourly; compaction from 10 s to daily."""
MIN_MAX_BYTES = 1 << 20
RETENTION_DAYS = (0.01, 36500.0)


def _number(key: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ConfigError(key, f"expected a number {lo:g}..{hi:g}, got {value!r}")
    return float(value)


def parse_history(
    table: Any, devices: Mapping[str, Any], base: Path
) -> tuple[HistoryConfig, list[ConfigError]]:
    """Validate ``[history]`` and every ``[[sensors]]``/``[[actuators]]`` table's ``history`` key.

    Args:
        table: the ``[history]`` table (None when absent).
        devices: config key path (``sensors[0]``) -> that device's raw table.
        base: directory a relative ``path`` resolves against.

    Returns:
        The config (defaults where a key was wrong) and every mistake found.
    """
    errors: list[ConfigError] = []
    values: dict[str, Any] = {}
    if table is not None and not isinstance(table, Mapping):
        errors.append(ConfigError("history", "expected a table"))
        table = None
    for key, value in (table or {}).items():
        k = f"history.{key}"
        try:
            if key == "enabled":
                if not isinstance(value, bool):
                    raise ConfigError(k, f"expected true or false, got {value!r}")
                values[key] = value
            elif key == "path":
                if not isinstance(value, str) or not value or "\0" in value:
                    raise ConfigError(k, f"expected a file path (string), got {value!r}")
                values[key] = base / Path(value).expanduser()
            elif key in BOUNDS:
                values[key] = _number(k, value, *BOUNDS[key])
            elif key == "max_bytes":
                if isinstance(value, bool) or not isinstance(value, int) or value < MIN_MAX_BYTES:
                    raise ConfigError(
                        k, f"expected an integer number of bytes >= {MIN_MAX_BYTES}, got {value!r}"
                    )
                values[key] = value
            elif key == "retention_days":
                values["retention_s"] = _retention(k, value, errors)
            else:
                raise ConfigError(k, f"unknown key{did_you_mean(key, KNOWN)}; known keys: {', '.join(KNOWN)}")
        except ConfigError as exc:
            errors.append(exc)
    policies: dict[str, str] = {}
    for key, raw in devices.items():
        if not isinstance(raw, Mapping) or "history" not in raw:
            continue
        policy = raw["history"]
        if policy not in POLICIES:
            errors.append(
                ConfigError(f"{key}.history", f"expected one of {', '.join(POLICIES)}, got {policy!r}")
            )
            continue
        dev_id = raw.get("id")
        if isinstance(dev_id, str):
            policies[dev_id] = policy
    return HistoryConfig(policies=policies, **values), errors


def _retention(key: str, value: Any, errors: list[ConfigError]) -> dict[str, float]:
    out = dict(DEFAULT_RETENTION_S)
    if not isinstance(value, Mapping):
        errors.append(ConfigError(key, "expected a table of tier = days (raw, 1s, 10s, 1m, 1h)"))
        return out
    for tier, days in value.items():
        if tier not in TIERS:
            errors.append(ConfigError(f"{key}.{tier}", f"unknown tier; known: {', '.join(TIERS)}"))
            continue
        try:
            out[tier] = _number(f"{key}.{tier}", days, *RETENTION_DAYS) * 86400
        except ConfigError as exc:
            errors.append(exc)
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the ``[history]`` table (gateway/config_schema.py), from the bounds above."""
    days = {"type": "number", "minimum": RETENTION_DAYS[0], "maximum": RETENTION_DAYS[1]}
    props: dict[str, Any] = {
        "enabled": {"type": "boolean", "default": True},
        "path": {"type": "string", "minLength": 1},
        **{
            k: {"type": "number", "minimum": lo, "maximum": hi, "default": getattr(HistoryConfig(), k)}
            for k, (lo, hi) in BOUNDS.items()
        },
        "max_bytes": {"type": "integer", "minimum": MIN_MAX_BYTES, "default": MAX_BYTES},
        "retention_days": {
            "type": "object",
            "properties": {tier: days for tier in TIERS},
            "additionalProperties": False,
        },
    }
    assert set(props) == set(KNOWN)
    return {"type": "object", "properties": props, "additionalProperties": False}
