"""The [history] table and per-sensor history keys: defaults, validation with key paths, check-config."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigErrors, parse_config
from gateway.history.config import COMMIT_INTERVAL_S, MAX_BYTES, HistoryConfig


def test_defaults() -> None:
    """No [history] table: on, in the data directory, 5 s commits, a 1 GiB cap, defaults by poll rate."""
    cfg = parse_config({"gateway": {"data_dir": "/var/lib/x"}})
    h = cfg.history
    assert (h.enabled, h.commit_interval_s, h.max_bytes) == (True, COMMIT_INTERVAL_S, MAX_BYTES)
    assert h.db_path(cfg.gateway.data_dir) == Path("/var/lib/x/history.db")
    assert [h.policy_for("a", 1.0), h.policy_for("b", 0.01), h.policy_for("c", 0)] == ["raw", "1s", "1s"]


def test_keys_and_per_sensor_policy() -> None:
    """Every key is read; a sensor's history key overrides its default and does not reach the driver."""
    cfg = parse_config(
        {
            "history": {
                "enabled": False,
                "path": "h/hist.db",
                "commit_interval_s": 2,
                "compact_interval_s": 60,
                "max_bytes": 2 << 20,
                "retention_days": {"raw": 1, "1h": 30},
            },
            "sensors": [{"id": "imu", "driver": "mpu6050", "interval_s": 0.01, "history": "10s"}],
        },
        base=Path("/etc/sc"),
    )
    h = cfg.history
    assert h == HistoryConfig(
        False,
        Path("/etc/sc/h/hist.db"),
        2.0,
        60.0,
        2 << 20,
        {**HistoryConfig().retention_s, "raw": 86400.0, "1h": 30 * 86400.0},
        {"imu": "10s"},
    )
    assert cfg.sensors[0].options.get("history") is None


def test_every_mistake_is_named() -> None:
    """Wrong types, ranges, tiers and policies are all reported with their key paths."""
    with pytest.raises(ConfigErrors) as info:
        parse_config(
            {
                "history": {
                    "enabled": "yes",
                    "path": 3,
                    "commit_interval_s": 0,
                    "compact_interval_s": "x",
                    "max_bytes": 10,
                    "retention_days": {"raw": -1, "2m": 3},
                    "colour": 1,
                },
                "sensors": [{"id": "a", "driver": "bme280", "history": "5s"}],
            }
        )
    assert [(e.key, e.message) for e in info.value.errors] == [
        ("history.enabled", "expected true or false, got 'yes'"),
        ("history.path", "expected a file path (string), got 3"),
        ("history.commit_interval_s", "expected a number 0.1..3600, got 0"),
        ("history.compact_interval_s", "expected a number 10..86400, got 'x'"),
        ("history.max_bytes", "expected an integer number of bytes >= 1048576, got 10"),
        ("history.retention_days.raw", "expected a number 0.01..36500, got -1"),
        ("history.retention_days.2m", "unknown tier; known: raw, 1s, 10s, 1m, 1h"),
        (
            "history.colour",
            "unknown key; known keys: enabled, path, commit_interval_s, compact_interval_s, max_bytes, "
            "retention_days",
        ),
        ("sensors[0].history", "expected one of raw, 1s, 10s, 1m, off, got '5s'"),
    ]


def test_not_tables() -> None:
    """[history] and retention_days must be tables."""
    with pytest.raises(ConfigErrors) as info:
        parse_config({"history": 5})
    assert [e.key for e in info.value.errors] == ["history"]
    with pytest.raises(ConfigErrors) as info:
        parse_config({"history": {"retention_days": 5}})
    assert [e.key for e in info.value.errors] == ["history.retention_days"]
