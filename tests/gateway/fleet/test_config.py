"""``[fleet]``: validated with key paths, and how ``sensorcast fleet`` builds its broker settings from it."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli.fleet import add_arguments, fleet_mqtt, prepare
from gateway.config import ConfigErrors, parse_config
from gateway.fleet.config import FleetConfig, check_url, json_schema, parse_fleet
from sensors.errors import ConfigError


def test_absent_and_full_tables() -> None:
    """No table: the defaults; every key given: taken as given (an int timeout becomes a float)."""
    assert parse_fleet(None) == (FleetConfig(), [])
    table = {
        "url": "mqtts://u:p@broker:8883",
        "client_id": "fleet-a",
        "topic_prefix": "site/one",
        "session_expiry_s": 0,
        "command_timeout_s": 2,
    }
    assert parse_fleet(table) == (FleetConfig("mqtts://u:p@broker:8883", "fleet-a", "site/one", 0, 2.0), [])


@pytest.mark.parametrize(
    ("table", "errors"),
    [
        ([1], [("fleet", "expected a table")]),
        (
            {"urll": "mqtt://b"},
            [("fleet.urll", "unknown key (did you mean 'url'?); known: url, client_id, ")],
        ),
        ({"url": "http://b"}, [("fleet.url", "expected mqtt[s]://[user:pass@]host[:port], got 'http://b'")]),
        ({"url": "mqtt://b:99999"}, [("fleet.url", "expected mqtt[s]://[user:pass@]host[:port], got")]),
        ({"url": "mqtt://b/x"}, [("fleet.url", "expected no path, query or fragment")]),
        ({"url": 5}, [("fleet.url", "expected a string, got 5")]),
        ({"client_id": "a b"}, [("fleet.client_id", "expected 1..64 of [A-Za-z0-9_.:-], got 'a b'")]),
        ({"topic_prefix": "a/#"}, [("fleet.topic_prefix", "expected topic levels without '+', '#'")]),
        ({"topic_prefix": "/a"}, [("fleet.topic_prefix", "expected topic levels")]),
        ({"session_expiry_s": -1}, [("fleet.session_expiry_s", "expected whole seconds 0..2592000, got -1")]),
        ({"session_expiry_s": True}, [("fleet.session_expiry_s", "expected whole seconds")]),
        ({"command_timeout_s": 0.1}, [("fleet.command_timeout_s", "expected seconds 0.5..60, got 0.1")]),
        ({"command_timeout_s": "5"}, [("fleet.command_timeout_s", "expected seconds")]),
        (
            {"client_id": "", "session_expiry_s": 1.5},
            [("fleet.client_id", "expected 1..64"), ("fleet.session_expiry_s", "expected whole seconds")],
        ),
    ],
)
def test_every_mistake_names_its_key_and_what_was_expected(
    table: object, errors: list[tuple[str, str]]
) -> None:
    """Each bad value is reported at ``fleet.<key>`` with the expectation; the other keys keep their defaults."""
    cfg, got = parse_fleet(table)
    assert [(e.key, e.message[: len(m)]) for e, (_, m) in zip(got, errors, strict=True)] == errors
    assert cfg == FleetConfig()


def test_check_url_accepts_the_broker_forms() -> None:
    """mqtt://host, mqtts://user:pass@host:port and a trailing '/' are brokers."""
    for url in ("mqtt://h", "mqtts://u:p@h:8883", "mqtt://h:1883/"):
        check_url(url, "k")
    with pytest.raises(ConfigError):
        check_url("mqtt://", "k")


def test_the_schema_describes_every_key() -> None:
    """The JSON schema lists the table's keys, with the defaults."""
    props = json_schema()["properties"]
    assert list(props) == ["url", "client_id", "topic_prefix", "session_expiry_s", "command_timeout_s"]
    assert props["session_expiry_s"]["default"] == 86400


def test_check_config_names_the_file_and_key(tmp_path: Path) -> None:
    """`sensorcast check-config` on a config with a bad [fleet] key exits 1 naming file, key and expectation."""
    f = tmp_path / "fleet.toml"
    f.write_text('[gateway]\nid = "fleet"\n\n[fleet]\nsession_expiry_s = "a day"\n')
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", str(f)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0
    assert out.stderr.splitlines() == [
        f"{f}: 1 error(s)",
        "  fleet.session_expiry_s: expected whole seconds 0..2592000, got 'a day'",
    ]


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def test_the_broker_comes_from_mqtt_or_the_fleet_table(tmp_path: Path) -> None:
    """--mqtt wins over [fleet] url; [fleet] client_id/topic_prefix win over [mqtt]'s; [mqtt] credentials stay;
    with neither a URL nor --mqtt the fleet refuses to start, naming fleet.url."""
    cfg = parse_config(
        {
            "gateway": {"id": "f1"},
            "mqtt": {"host": "x", "username": "u", "password": "pw", "topic_prefix": "old"},
            "fleet": {"url": "mqtt://a:1884", "client_id": "fa", "topic_prefix": "new"},
        }
    )
    m = fleet_mqtt(cfg, None)
    assert (m.host, m.broker_port, m.username, m.client_id, m.topic_prefix) == ("a", 1884, "u", "fa", "new")  # type: ignore[attr-defined]
    m = fleet_mqtt(cfg, "mqtt://b")
    assert (m.host, m.broker_port, m.topic_prefix) == ("b", 1883, "new")  # type: ignore[attr-defined]
    plain = parse_config({"gateway": {"id": "f1"}})
    assert (fleet_mqtt(plain, "mqtt://b").topic_prefix, fleet_mqtt(plain, "mqtt://b").client_id) == (
        "sensorcast",
        "",
    )  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="expected the broker"):
        fleet_mqtt(plain, None)
    f = tmp_path / "f.toml"
    f.write_text('[gateway]\nid = "f1"\n')
    with pytest.raises(ConfigErrors) as exc:
        prepare(_args("--config", str(f)))
    assert [(e.key, e.file) for e in exc.value.errors] == [("fleet.url", str(f))]
