"""gateway/config_schema.py: the published docs/config.schema.json is generated, valid, and agrees with check-config."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gateway.config import ConfigErrors, parse_config
from gateway.config_schema import config_schema, schema_text
from gateway.devices import driver_errors

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "docs" / "config.schema.json"
SHIPPED = sorted(
    [
        ROOT / "deploy" / "config.example.toml",
        *list((ROOT / "deploy" / "boards").glob("*.toml")),
        *list((ROOT / "deploy" / "examples").glob("*.toml")),
    ]
)


def _schema_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(config_schema())
    return sorted("/".join(map(str, e.absolute_path)) or "(root)" for e in validator.iter_errors(doc))


def _check_config_errors(doc: dict[str, Any]) -> list[str]:
    """What check-config reports: the file's own mistakes, then the dry build's (driver names and options)."""
    try:
        cfg = parse_config(doc)
    except ConfigErrors as exc:
        return [e.key for e in exc.errors]
    return [e.key for e in driver_errors(cfg)]


def test_the_published_schema_is_what_the_generator_produces() -> None:
    """docs/config.schema.json equals `sensorcast check-config --schema` (regenerate it when this fails)."""
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", "--schema"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == schema_text() == PUBLISHED.read_text()
    jsonschema.Draft202012Validator.check_schema(json.loads(out.stdout))


def test_every_shipped_config_validates() -> None:
    """deploy/config.example.toml, deploy/boards/*.toml and deploy/examples/*.toml all pass the schema."""
    assert len(SHIPPED) >= 15
    failures = {p.name: _schema_errors(tomllib.loads(p.read_text())) for p in SHIPPED}
    assert {name: errs for name, errs in failures.items() if errs} == {}


GOOD: list[dict[str, Any]] = [
    {},
    {"gateway": {"id": "a", "port": 0, "read_timeout_s": 0.5}, "limits": {"max_message_bytes": 256}},
    {"sensors": [{"id": "cpu", "driver": "system", "interval_s": 5}], "rules": []},
    {"security": {"tokens": [{"name": "n", "role": "operator", "token": "A" * 16}]}},
    {"mqtt": {"host": "broker", "qos": 0, "protocol": 5, "payload": "msgpack"}},
]
BAD: list[tuple[dict[str, Any], str]] = [
    ({"gatway": {}}, "(root)"),
    ({"gateway": {"port": 65536}}, "gateway/port"),
    ({"gateway": {"port": "80"}}, "gateway/port"),
    ({"gateway": {"id": "Has Space"}}, "gateway/id"),
    ({"gateway": {"batch_size": 0}}, "gateway/batch_size"),
    ({"gateway": {"read_timeout_s": 0}}, "gateway/read_timeout_s"),
    ({"gateway": {"flush_interval_ms": -1}}, "gateway/flush_interval_ms"),
    ({"limits": {"max_message_bytes": 255}}, "limits/max_message_bytes"),
    ({"limits": {"compression": 1}}, "limits/compression"),
    ({"limits": {"auth_failure_rate_per_s": 0}}, "limits/auth_failure_rate_per_s"),
    ({"limits": {"max_clientz": 3}}, "limits"),
    ({"security": {"tokens": [{"token": "short"}]}}, "security/tokens/0/token"),
    ({"security": {"tokens": [{"token": "A" * 15 + "/"}]}}, "security/tokens/0/token"),
    ({"security": {"tokens": [{"token": "A" * 16, "role": "admin"}]}}, "security/tokens/0/role"),
    ({"security": {"allowed_hosts": "x"}}, "security/allowed_hosts"),
    ({"sensors": [{"id": "x", "driver": "nope"}]}, "sensors/0/driver"),
    ({"sensors": [{"driver": "system"}]}, "sensors/0"),
    ({"sensors": [{"id": "x", "driver": "system", "interval_s": 86401}]}, "sensors/0/interval_s"),
    ({"sensors": [{"id": "x", "driver": "system", "simulate": "yes"}]}, "sensors/0/simulate"),
    ({"actuators": [{"id": "l", "driver": "led", "min_interval_s": -1}]}, "actuators/0/min_interval_s"),
    ({"sensors": {"id": "x"}}, "sensors"),
    ({"mqtt": {"qos": 2}}, "mqtt/qos"),
    ({"mqtt": {"payload": "xml"}}, "mqtt/payload"),
    ({"mqtt": {"hots": "x"}}, "mqtt"),
    ({"mqtt": {"keepalive_s": 1}}, "mqtt/keepalive_s"),
    (
        {
            "sensors": [{"id": "s", "driver": "system"}],
            "rules": [{"id": "r", "sensor": "s", "field": "f", "when": "sometimes"}],
        },
        "rules/0/when",
    ),
]


@pytest.mark.parametrize("doc", GOOD)
def test_check_config_and_the_schema_both_accept_good_configs(doc: dict[str, Any]) -> None:
    """A config parse_config accepts also passes the schema."""
    assert (_check_config_errors(doc), _schema_errors(doc)) == ([], [])


@pytest.mark.parametrize(("doc", "where"), BAD)
def test_check_config_and_the_schema_both_refuse_bad_configs(doc: dict[str, Any], where: str) -> None:
    """Each bad config is refused by parse_config and by the schema, at the same place."""
    assert len(_check_config_errors(doc)) == 1
    assert _schema_errors(doc) == [where]
