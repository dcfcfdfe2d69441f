"""[mqtt] table and --mqtt URL parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridges.mqtt.config import MqttConfig, config_from_url, parse_mqtt_config
from sensors.errors import ConfigError


def test_empty_table_gives_documented_defaults() -> None:
    """An empty [mqtt] table enables the bridge with the documented defaults (QoS 1, JSON, port 1883)."""
    cfg = parse_mqtt_config({}, "gw.toml")
    assert cfg == MqttConfig()
    assert (cfg.host, cfg.broker_port, cfg.qos, cfg.payload, cfg.protocol) == (
        "localhost",
        1883,
        1,
        "json",
        "5",
    )
    assert (cfg.overflow, cfg.synchronous, cfg.topic_prefix, cfg.discovery_prefix) == (
        "drop_oldest",
        "normal",
        "sensorcast",
        "homeassistant",
    )


def test_disabled_table_gives_none() -> None:
    """enabled = false turns the bridge off."""
    assert parse_mqtt_config({"enabled": False, "host": "x"}, None) is None


def test_full_table_is_applied() -> None:
    """Every key in the table lands in the config."""
    cfg = parse_mqtt_config(
        {
            "host": "broker.lan",
            "port": 1884,
            "username": "u",
            "password": "p",
            "qos": 0,
            "payload": "msgpack",
            "protocol": 5,
            "topic_prefix": "home/sc",
            "max_inflight": 10,
            "outbox_max_rows": 1000,
            "overflow": "drop_newest",
            "synchronous": "full",
            "discovery": False,
            "commands": False,
            "keepalive_s": 10,
        },
        None,
    )
    assert cfg is not None
    assert (cfg.host, cfg.broker_port, cfg.username, cfg.password, cfg.qos, cfg.payload, cfg.protocol) == (
        "broker.lan",
        1884,
        "u",
        "p",
        0,
        "msgpack",
        "5",
    )
    assert (cfg.topic_prefix, cfg.max_inflight, cfg.outbox_max_rows, cfg.overflow, cfg.synchronous) == (
        "home/sc",
        10,
        1000,
        "drop_newest",
        "full",
    )
    assert (cfg.discovery, cfg.commands, cfg.keepalive_s) == (False, False, 10)


@pytest.mark.parametrize(
    ("table", "key", "fragment"),
    [
        ({"qos": 2}, "mqtt.qos", "expected an integer 0..1, got 2"),
        ({"qos": True}, "mqtt.qos", "expected an integer"),
        ({"port": 70000}, "mqtt.port", "0..65535"),
        ({"payload": "xml"}, "mqtt.payload", "expected one of 'json', 'msgpack'"),
        ({"protocol": "3"}, "mqtt.protocol", "'3.1.1', '5'"),
        ({"overflow": "drop"}, "mqtt.overflow", "'drop_oldest', 'downsample', 'drop_newest'"),
        ({"hostt": "x"}, "mqtt.hostt", "unknown key"),
        ({"topic_prefix": "a/#"}, "mqtt.topic_prefix", "without '+', '#'"),
        ({"topic_prefix": "a/"}, "mqtt.topic_prefix", "leading/trailing"),
        ({"topic_prefix": "a/\n"}, "mqtt.topic_prefix", "control characters"),
        ({"discovery_prefix": "home\nassistant"}, "mqtt.discovery_prefix", "control characters"),
        ({"discovery": "yes"}, "mqtt.discovery", "expected true or false"),
        ({"host": ""}, "mqtt.host", "expected a broker host"),
        ({"host": 5}, "mqtt.host", "expected a string"),
        ({"client_id": "a b"}, "mqtt.client_id", "[A-Za-z0-9_.:-]"),
        ({"reconnect_min_s": 5, "reconnect_max_s": 1}, "mqtt.reconnect_max_s", ">= mqtt.reconnect_min_s"),
        ({"password": "p"}, "mqtt.password", "needs mqtt.username"),
        ({"username": ""}, "mqtt.username", "non-empty"),
        ({"connect_timeout_s": "5"}, "mqtt.connect_timeout_s", "expected a number"),
        ({"url": "http://x"}, "mqtt.url", "mqtt[s]://"),
        ({"url": 1}, "mqtt.url", "expected a string"),
        ({"ca_file": "nope.pem"}, "mqtt.ca_file", "file not found"),
        ({"enabled": 1}, "mqtt.enabled", "expected true or false"),
        ({"password_file": ""}, "mqtt.password_file", "expected a path"),
    ],
)
def test_mistakes_name_the_key_the_file_and_what_was_expected(
    table: dict[str, object], key: str, fragment: str
) -> None:
    """Each wrong value raises ConfigError naming file, key path and the expectation."""
    with pytest.raises(ConfigError) as info:
        parse_mqtt_config(table, "/etc/sensorcast/gw.toml")
    assert info.value.key == key
    assert info.value.file == "/etc/sensorcast/gw.toml"
    assert fragment in info.value.message


def test_not_a_table() -> None:
    """A scalar where the table belongs is refused."""
    with pytest.raises(ConfigError) as info:
        parse_mqtt_config("mqtt://x", None)  # type: ignore[arg-type]
    assert (info.value.key, info.value.message) == ("mqtt", "expected a table")


def test_url_key_and_password_file_relative_to_the_config(tmp_path: Path) -> None:
    """url sets host/port/TLS/user; password_file (relative to the config file) supplies the password."""
    (tmp_path / "pw").write_text("s3cret\nignored\n")
    (tmp_path / "ca.pem").write_text("x")
    cfg = parse_mqtt_config(
        {"url": "mqtts://bob@b.example:8884", "password_file": "pw", "ca_file": "ca.pem"},
        str(tmp_path / "gw.toml"),
    )
    assert cfg is not None
    assert (cfg.host, cfg.broker_port, cfg.tls, cfg.username, cfg.password, cfg.ca_file) == (
        "b.example",
        8884,
        True,
        "bob",
        "s3cret",
        tmp_path / "ca.pem",
    )
    assert "s3cret" not in repr(cfg)


def test_empty_password_file_is_refused(tmp_path: Path) -> None:
    """An empty password file is a config error, not an empty password."""
    (tmp_path / "pw").write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        parse_mqtt_config({"username": "u", "password_file": str(tmp_path / "pw")}, None)
    with pytest.raises(ConfigError, match="cannot read"):
        parse_mqtt_config({"username": "u", "password_file": str(tmp_path / "missing")}, None)


def test_cert_without_key_is_refused(tmp_path: Path) -> None:
    """cert_file and key_file go together."""
    (tmp_path / "c.pem").write_text("x")
    with pytest.raises(ConfigError) as info:
        parse_mqtt_config({"cert_file": str(tmp_path / "c.pem")}, None)
    assert info.value.key == "mqtt.key_file"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://localhost", ("localhost", 1883, False, None, None)),
        ("mqtt://10.0.0.2:1885", ("10.0.0.2", 1885, False, None, None)),
        ("mqtts://broker", ("broker", 8883, True, None, None)),
        ("mqtt://al%40ice:p%3Ass@h:1", ("h", 1, False, "al@ice", "p:ss")),
        ("mqtt://user@h", ("h", 1883, False, "user", None)),
        ("mqtt://[::1]:1884", ("::1", 1884, False, None, None)),
    ],
)
def test_config_from_url(url: str, expected: tuple[object, ...]) -> None:
    """--mqtt URLs set host, port (scheme default), TLS and percent-decoded credentials."""
    cfg = config_from_url(url)
    assert (cfg.host, cfg.broker_port, cfg.tls, cfg.username, cfg.password) == expected


def test_url_keeps_the_rest_of_the_base_config() -> None:
    """The URL overrides the connection only; topic prefix, QoS etc. come from [mqtt]."""
    base = parse_mqtt_config({"qos": 0, "topic_prefix": "x", "username": "a", "password": "b"}, None)
    cfg = config_from_url("mqtt://h:2000", base)
    assert (cfg.host, cfg.port, cfg.qos, cfg.topic_prefix, cfg.username, cfg.password) == (
        "h",
        2000,
        0,
        "x",
        "a",
        "b",
    )


@pytest.mark.parametrize(
    "url", ["tcp://h", "mqtt://", "mqtt://h:99999", "mqtt://h/topic", "mqtt://h?x=1", "h:1883"]
)
def test_bad_urls_are_refused_with_the_flag_name(url: str) -> None:
    """Malformed --mqtt URLs raise ConfigError keyed --mqtt."""
    with pytest.raises(ConfigError) as info:
        config_from_url(url)
    assert info.value.key == "--mqtt"


def test_gateway_config_reports_mqtt_mistakes_with_file_and_key(tmp_path: Path) -> None:
    """A wrong [mqtt] value in a gateway config file is reported by load_config with the file and key path."""
    from gateway.config import ConfigErrors, load_config

    path = tmp_path / "gw.toml"
    path.write_text('[gateway]\nid = "gw"\n\n[mqtt]\nhost = "broker"\nqos = 2\n')
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    assert [str(e) for e in info.value.errors] == [f"{path}: mqtt.qos: expected an integer 0..1, got 2"]
    path.write_text('[gateway]\nid = "gw"\n\n[mqtt]\nhost = "broker"\npayload = "msgpack"\n')
    cfg = load_config(path).mqtt
    assert isinstance(cfg, MqttConfig) and (cfg.host, cfg.payload) == ("broker", "msgpack")


def test_run_mqtt_flag_builds_the_bridge_config() -> None:
    """`sensorcast run --mqtt URL` turns the bridge on for the demo; a bad URL is an error naming --mqtt."""
    import argparse

    from gateway.cli import run as cmd_run
    from gateway.config import ConfigErrors

    parser = argparse.ArgumentParser()
    cmd_run.add_arguments(parser)
    cfg = cmd_run.prepare(parser.parse_args(["--mqtt", "mqtt://u:p@127.0.0.1:1999"]))
    assert isinstance(cfg.mqtt, MqttConfig)
    assert (cfg.mqtt.host, cfg.mqtt.broker_port, cfg.mqtt.username, cfg.mqtt.password) == (
        "127.0.0.1",
        1999,
        "u",
        "p",
    )
    with pytest.raises(ConfigErrors) as info:
        cmd_run.prepare(parser.parse_args(["--mqtt", "http://x"]))
    assert info.value.errors[0].key == "--mqtt"


def test_publish_rate_limit_defaults_and_per_sensor_periods() -> None:
    """max_rate_hz defaults to 1 Hz; publish_period_s sets a sensor's own period; both are range-checked."""
    assert (MqttConfig().max_rate_hz, MqttConfig().publish_period_s) == (1.0, ())
    cfg = parse_mqtt_config({"max_rate_hz": 0, "publish_period_s": {"imu": 0.2, "door": 0}})
    assert cfg is not None and (cfg.max_rate_hz, cfg.publish_period_s) == (0.0, (("imu", 0.2), ("door", 0.0)))
    errors = []
    for table in (
        {"max_rate_hz": -1},
        {"max_rate_hz": 1001},
        {"publish_period_s": 5},
        {"publish_period_s": {"imu": -1}},
    ):
        with pytest.raises(ConfigError) as exc:
            parse_mqtt_config(table)
        errors.append(exc.value.key)
    assert errors == [
        "mqtt.max_rate_hz",
        "mqtt.max_rate_hz",
        "mqtt.publish_period_s",
        "mqtt.publish_period_s.imu",
    ]


def test_a_publish_period_for_an_unknown_sensor_is_a_mistake() -> None:
    """publish_period_s keys must be sensor ids of the config (a typo would silently leave the default)."""
    from gateway.config import ConfigErrors, parse_config

    with pytest.raises(ConfigErrors) as exc:
        parse_config(
            {
                "sensors": [{"id": "imu", "driver": "synthetic"}],
                "mqtt": {"publish_period_s": {"imu": 1, "iMu": 2}},
            }
        )
    assert [(e.key, e.message.split(";")[0]) for e in exc.value.errors] == [
        ("mqtt.publish_period_s.iMu", "no such sensor (did you mean 'imu'?)")
    ]


def test_run_mqtt_flag_keeps_the_rules_of_the_config_file(tmp_path: Path) -> None:
    """`sensorcast run --config F --mqtt URL` keeps F's [[rules]] (they were dropped when the flag was given)."""
    import argparse

    from gateway.cli import run as cmd_run

    path = tmp_path / "c.toml"
    path.write_text(
        '[[sensors]]\nid = "s"\ndriver = "synthetic"\n'
        '[[rules]]\nid = "hot"\nsensor = "s"\nfield = "a"\nwhen = "above"\nthreshold = 1\n'
    )
    parser = argparse.ArgumentParser()
    cmd_run.add_arguments(parser)
    cfg = cmd_run.prepare(parser.parse_args(["--config", str(path), "--mqtt", "mqtt://127.0.0.1:1999"]))
    assert ([r.id for r in cfg.rules], cfg.mqtt is not None) == (["hot"], True)


def test_a_misspelt_key_suggests_the_known_one() -> None:
    """`discovery_prefx`: the error suggests `discovery_prefix` (as [gateway], [[sensors]] and [fleet] do)."""
    with pytest.raises(ConfigError) as err:
        parse_mqtt_config({"discovery_prefx": "ha"}, "gw.toml")
    assert str(err.value).split("; known keys:")[0] == (
        "gw.toml: mqtt.discovery_prefx: unknown key (did you mean 'discovery_prefix'?)"
    )


def test_every_mistake_of_the_table_is_reported_at_once() -> None:
    """A misspelt key, a wrong qos and a wrong payload in one [mqtt] table: all three in one run (with the
    errors list), in the table's order, each naming the file - not one per run of check-config."""
    errors: list[ConfigError] = []
    table = {"url": "mqtt://127.0.0.1", "qos": 2, "discovery_prefx": "ha", "payload": "cbor"}
    assert parse_mqtt_config(table, "gw.toml", errors) is None
    assert [str(e).split("; known")[0] for e in errors] == [
        "gw.toml: mqtt.discovery_prefx: unknown key (did you mean 'discovery_prefix'?)",
        "gw.toml: mqtt.qos: expected an integer 0..1, got 2",
        "gw.toml: mqtt.payload: expected one of 'json', 'msgpack', got 'cbor'",
    ]
