"""gateway/config.py: TOML -> Config, defaults, every error's file/key/expectation, tokens, TLS, is_loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import (
    TOKEN_EXPECTED,
    Config,
    ConfigErrors,
    GatewaySection,
    Limits,
    Security,
    Token,
    default_data_dir,
    demo_config,
    is_loopback,
    load_config,
    missing_token_file,
    parse_config,
)
from sensors.errors import ConfigError
from sensors.registry import demo_tables

TOKEN = "0123456789abcdef0123"
OTHER = "fedcba9876543210fedc"


def errors_of(data: dict[str, Any], **kwargs: Any) -> list[tuple[str, str]]:
    """The (key, message) pairs parse_config reports for ``data``."""
    with pytest.raises(ConfigErrors) as info:
        parse_config(data, **kwargs)
    return [(e.key, e.message) for e in info.value.errors]


def only_error(data: dict[str, Any], **kwargs: Any) -> tuple[str, str]:
    errs = errors_of(data, **kwargs)
    assert len(errs) == 1, errs
    return errs[0]


def write(tmp_path: Path, text: str, name: str = "sensorcast.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- defaults -------------------------------------------------------------------------------------------------


def test_empty_document_gives_the_documented_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty file is a valid config: loopback on 8765, default limits, no security, no devices."""
    for name in ("SENSORCAST_DATA_DIR", "STATE_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cfg = parse_config({}, base=tmp_path)
    gw = cfg.gateway
    assert (gw.host, gw.port, gw.flush_interval_ms, gw.batch_size, gw.ring_size, gw.read_timeout_s) == (
        "localhost",  # 127.0.0.1 and ::1 (gateway/server/listen.py)
        8765,
        20,
        500,
        4096,
        2.0,
    )
    assert gw.data_dir == tmp_path / "state" / "sensorcast"
    assert cfg.limits == Limits()
    assert (cfg.limits.max_clients, cfg.limits.max_message_bytes, cfg.limits.compression) == (
        64,
        65536,
        False,
    )
    assert cfg.security == Security()
    assert (cfg.sensors, cfg.actuators, cfg.mqtt, cfg.source) == ((), (), None, None)


def test_default_id_comes_from_the_host_name_and_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default gateway id is the host name, lower-cased, with anything outside [a-z0-9_-] replaced."""
    monkeypatch.setattr("socket.gethostname", lambda: "My.Pi 4")
    assert GatewaySection().id == "my-pi-4"
    monkeypatch.setattr("socket.gethostname", lambda: "-" * 3)
    assert GatewaySection().id == "sensorcast"
    monkeypatch.setattr("socket.gethostname", lambda: "a" * 100)
    assert GatewaySection().id == "a" * 64
    assert parse_config({}).gateway.id == "a" * 64  # and it passes validation


def test_data_dir_default_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSORCAST_DATA_DIR", str(tmp_path / "env-data"))
    assert parse_config({}).gateway.data_dir == tmp_path / "env-data"


def test_relative_data_dir_resolves_against_base_and_absolute_is_kept(tmp_path: Path) -> None:
    rel = parse_config({"gateway": {"data_dir": "data"}}, base=tmp_path)
    assert rel.gateway.data_dir == tmp_path / "data"
    absolute = parse_config({"gateway": {"data_dir": "/var/lib/x"}}, base=tmp_path)
    assert absolute.gateway.data_dir == Path("/var/lib/x")


def test_integers_are_accepted_for_float_keys_and_become_floats() -> None:
    cfg = parse_config({"gateway": {"read_timeout_s": 3}, "limits": {"client_stall_s": 4}})
    assert cfg.gateway.read_timeout_s == 3.0 and isinstance(cfg.gateway.read_timeout_s, float)
    assert cfg.limits.client_stall_s == 4.0 and isinstance(cfg.limits.client_stall_s, float)


def test_full_valid_document_round_trips(tmp_path: Path) -> None:
    """Every section at once, with non-default values, lands in the typed fields."""
    cfg = parse_config(
        {
            "gateway": {"id": "pi-1", "host": "0.0.0.0", "port": 0, "flush_interval_ms": 0, "batch_size": 1},
            "limits": {"max_clients": 2, "compression": True, "max_message_bytes": 256},
            "security": {
                "tokens": [{"name": "op", "role": "operator", "token": TOKEN}],
                "allowed_origins": ["http://a.example"],
                "allowed_hosts": ["pi.lan"],
            },
            "sensors": [{"id": "w", "driver": "synthetic", "interval_s": 0.5, "fields": ["a"]}],
            "actuators": [{"id": "r", "driver": "relay", "pin": 26, "simulate": True}],
        },
        file="x.toml",
        base=tmp_path,
    )
    assert (cfg.gateway.id, cfg.gateway.host, cfg.gateway.port, cfg.gateway.flush_interval_ms) == (
        "pi-1",
        "0.0.0.0",
        0,
        0,
    )
    assert (cfg.limits.max_clients, cfg.limits.compression, cfg.limits.max_message_bytes) == (2, True, 256)
    assert cfg.security.tokens == (Token("op", "operator", TOKEN),)
    assert cfg.security.allowed_origins == ("http://a.example",)
    assert cfg.security.allowed_hosts == ("pi.lan",)
    (sensor,) = cfg.sensors
    assert (sensor.id, sensor.driver, sensor.key, sensor.interval_s, sensor.simulate) == (
        "w",
        "synthetic",
        "sensors[0]",
        0.5,
        False,
    )
    assert dict(sensor.options) == {"fields": ["a"]}
    (act,) = cfg.actuators
    assert (act.id, act.key, act.simulate, dict(act.options)) == ("r", "actuators[0]", True, {"pin": 26})
    assert cfg.source == "x.toml"


def test_with_overrides_replaces_gateway_keys_only() -> None:
    cfg = parse_config({"gateway": {"id": "a", "port": 1}, "limits": {"max_clients": 3}})
    new = cfg.with_overrides(port=2, host="::1")
    assert (new.gateway.id, new.gateway.port, new.gateway.host) == ("a", 2, "::1")
    assert new.limits.max_clients == 3
    assert cfg.gateway.port == 1  # the original is untouched (frozen)


def test_token_value_is_not_in_the_repr() -> None:
    assert TOKEN not in repr(Token("n", "viewer", TOKEN))


# -- type and range errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("gateway", "port", "8765", "expected an integer, got '8765'"),
        ("gateway", "port", 8765.0, "expected an integer, got 8765.0"),
        ("gateway", "port", True, "expected an integer, got True"),
        ("gateway", "port", -1, "expected an integer >= 0, got -1"),
        ("gateway", "port", 65536, "expected a port 0..65535, got 65536"),
        ("gateway", "host", 1, "expected a string, got 1"),
        ("gateway", "id", "Bad Id", "expected [a-z0-9_-], 1..64 characters, got 'Bad Id'"),
        ("gateway", "id", "", "expected [a-z0-9_-], 1..64 characters, got ''"),
        ("gateway", "id", "-lead", "expected [a-z0-9_-], 1..64 characters, got '-lead'"),
        ("gateway", "id", "a" * 65, f"expected [a-z0-9_-], 1..64 characters, got '{'a' * 65}'"),
        ("gateway", "data_dir", "", "expected a path (string), got ''"),
        ("gateway", "data_dir", 5, "expected a path (string), got 5"),
        ("gateway", "batch_size", 0, "expected 1..10000, got 0"),
        ("gateway", "batch_size", 10001, "expected 1..10000, got 10001"),
        ("gateway", "ring_size", 15, "expected 16..1000000, got 15"),
        ("gateway", "ring_size", 1_000_001, "expected 16..1000000, got 1000001"),
        ("gateway", "flush_interval_ms", 10001, "expected 0..10000, got 10001"),
        ("gateway", "read_timeout_s", 0, "expected a number > 0"),
        ("gateway", "read_timeout_s", -1.5, "expected a number >= 0, got -1.5"),
        ("gateway", "read_timeout_s", "2", "expected a number, got '2'"),
        ("gateway", "read_timeout_s", False, "expected a number, got False"),
        ("limits", "max_clients", -1, "expected an integer >= 0, got -1"),
        ("limits", "compression", 1, "expected true or false, got 1"),
        ("limits", "compression", "yes", "expected true or false, got 'yes'"),
        ("limits", "ping_interval_s", [1], "expected a number, got [1]"),
        ("limits", "max_message_bytes", 255, "expected an integer >= 256"),
    ],
)
def test_each_bad_value_names_its_key_and_what_was_expected(
    section: str, key: str, value: Any, message: str
) -> None:
    assert only_error({section: {key: value}}) == (f"{section}.{key}", message)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "/home/u/.local/state/sensorcast"),
        ({"XDG_STATE_HOME": "relative/state"}, "/home/u/.local/state/sensorcast"),
        ({"XDG_STATE_HOME": "/x/state"}, "/x/state/sensorcast"),
        ({"XDG_STATE_HOME": "/x/state", "STATE_DIRECTORY": "/var/lib/sensorcast"}, "/var/lib/sensorcast"),
        ({"STATE_DIRECTORY": "/var/lib/sensorcast:/var/lib/other"}, "/var/lib/sensorcast"),
        ({"STATE_DIRECTORY": "/var/lib/sensorcast", "SENSORCAST_DATA_DIR": "/srv/sc"}, "/srv/sc"),
    ],
)
def test_default_data_dir_is_a_state_directory_never_the_working_directory(
    env: dict[str, str], expected: str
) -> None:
    """Unconfigured, state goes to $SENSORCAST_DATA_DIR, systemd's $STATE_DIRECTORY, $XDG_STATE_HOME/sensorcast
    or ~/.local/state/sensorcast, in that order."""
    assert default_data_dir(env, Path("/home/u")) == Path(expected)


def test_demo_keeps_its_state_out_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo config (no data_dir) puts its outbox under the per-user state directory, not ./sensorcast-data."""
    for name in ("SENSORCAST_DATA_DIR", "STATE_DIRECTORY", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert demo_config().gateway.data_dir == tmp_path / ".local" / "state" / "sensorcast"


@pytest.mark.parametrize(
    ("section", "value"),
    [("gateway", 8000), ("limits", "x"), ("gateway", ["port"])],
)
def test_a_section_that_is_not_a_table(section: str, value: Any) -> None:
    assert only_error({section: value}) == (section, "expected a table")


@pytest.mark.parametrize(
    ("section", "typo", "hint"), [("gateway", "prot", "port"), ("limits", "max_clientz", "max_clients")]
)
def test_unknown_keys_suggest_the_closest_and_list_the_known_ones(section: str, typo: str, hint: str) -> None:
    """An unknown key names the closest known one (difflib) and lists them all."""
    cls = GatewaySection if section == "gateway" else Limits
    known = ", ".join(sorted(cls.__dataclass_fields__))
    assert only_error({section: {typo: 1}}) == (
        f"{section}.{typo}",
        f"unknown key (did you mean {hint!r}?); known keys: {known}",
    )
    assert only_error({section: {"qqqq": 1}}) == (f"{section}.qqqq", f"unknown key; known keys: {known}")


def test_unknown_top_level_section() -> None:
    assert only_error({"sensor": []}) == (
        "sensor",
        "unknown section (did you mean 'sensors'?); known: actuators, fleet, gateway, history, limits, mqtt, rules, "
        "security, sensors",
    )


def test_every_mistake_is_reported_at_once_with_the_file_and_a_partial_config() -> None:
    """All errors come back together, each naming the file; .partial holds what did parse."""
    with pytest.raises(ConfigErrors) as info:
        parse_config(
            {
                "gateway": {"id": "ok-id", "port": "x", "batch_size": 0},
                "limits": {"max_clients": 7, "max_bad_messages": -2},
                "sensors": [{"id": "w", "driver": "synthetic"}, {"id": "w", "driver": "synthetic"}],
            },
            file="/etc/s.toml",
        )
    exc = info.value
    assert [e.key for e in exc.errors] == [
        "gateway.port",
        "gateway.batch_size",
        "limits.max_bad_messages",
        "sensors[1].id",
    ]
    assert {e.file for e in exc.errors} == {"/etc/s.toml"}
    assert str(exc).splitlines() == [
        "/etc/s.toml: gateway.port: expected an integer, got 'x'",
        "/etc/s.toml: gateway.batch_size: expected 1..10000, got 0",
        "/etc/s.toml: limits.max_bad_messages: expected an integer >= 0, got -2",
        "/etc/s.toml: sensors[1].id: duplicate id 'w'",
    ]
    # The first error is also the exception's own key/message/file (it is a ConfigError itself).
    assert isinstance(exc, ConfigError) and isinstance(exc, ValueError)
    assert (exc.key, exc.file) == ("gateway.port", "/etc/s.toml")
    partial = exc.partial
    assert isinstance(partial, Config)
    assert (partial.gateway.id, partial.gateway.port, partial.limits.max_clients) == ("ok-id", 8765, 7)
    assert [s.id for s in partial.sensors] == ["w"]
    assert partial.source == "/etc/s.toml"


def test_errors_without_a_file_name_no_file() -> None:
    with pytest.raises(ConfigErrors) as info:
        parse_config({"gateway": {"port": "x"}})
    assert info.value.errors[0].file is None
    assert str(info.value) == "gateway.port: expected an integer, got 'x'"


# -- sensors and actuators ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "key", "message"),
    [
        (
            {"id": "Bad", "driver": "x"},
            "sensors[0].id",
            "expected an id of [a-z0-9_-], 1..64 chars, got 'Bad'",
        ),
        ({"driver": "x"}, "sensors[0].id", "expected an id of [a-z0-9_-], 1..64 chars, got None"),
        ({"id": 3, "driver": "x"}, "sensors[0].id", "expected an id of [a-z0-9_-], 1..64 chars, got 3"),
        ({"id": "a"}, "sensors[0].driver", "expected a driver name (see docs/sensors.md)"),
        ({"id": "a", "driver": ""}, "sensors[0].driver", "expected a driver name (see docs/sensors.md)"),
        (
            {"id": "a", "driver": "x", "interval_s": -1},
            "sensors[0].interval_s",
            "expected seconds 0..86400, got -1",
        ),
        (
            {"id": "a", "driver": "x", "interval_s": 86401},
            "sensors[0].interval_s",
            "expected seconds 0..86400, got 86401",
        ),
        (
            {"id": "a", "driver": "x", "interval_s": True},
            "sensors[0].interval_s",
            "expected seconds 0..86400, got True",
        ),
        (
            {"id": "a", "driver": "x", "interval_s": float("nan")},
            "sensors[0].interval_s",
            "expected seconds 0..86400, got nan",
        ),
        (
            {"id": "a", "driver": "x", "interval_s": "1"},
            "sensors[0].interval_s",
            "expected seconds 0..86400, got '1'",
        ),
        (
            {"id": "a", "driver": "x", "simulate": "yes"},
            "sensors[0].simulate",
            "expected true or false, got 'yes'",
        ),
    ],
)
def test_device_entry_errors(entry: dict[str, Any], key: str, message: str) -> None:
    assert only_error({"sensors": [entry]}) == (key, message)


@pytest.mark.parametrize("bad", ["abc\n", "abc\r\n", "\nabc", "a\nb", "abc "])
def test_ids_with_a_trailing_newline_or_other_whitespace_are_rejected(bad: str) -> None:
    """Regression: ``$`` matched before a trailing newline, so "abc\\n" was a valid gateway and sensor id."""
    assert errors_of({"gateway": {"id": bad}, "sensors": [{"id": bad, "driver": "synthetic"}]}) == [
        ("gateway.id", f"expected [a-z0-9_-], 1..64 characters, got {bad!r}"),
        ("sensors[0].id", f"expected an id of [a-z0-9_-], 1..64 chars, got {bad!r}"),
    ]
    assert errors_of({"actuators": [{"id": bad, "driver": "relay"}]}) == [
        ("actuators[0].id", f"expected an id of [a-z0-9_-], 1..64 chars, got {bad!r}")
    ]


def test_device_lists_must_be_arrays_of_tables() -> None:
    assert only_error({"sensors": {"id": "a"}}) == ("sensors", "expected an array of tables ([[sensors]])")
    assert only_error({"actuators": "relay"}) == ("actuators", "expected an array of tables ([[actuators]])")
    assert only_error({"sensors": [{"id": "a", "driver": "x"}, 5]}) == ("sensors[1]", "expected a table")


def test_device_generic_keys_are_split_from_driver_options() -> None:
    (spec,) = parse_config(
        {"sensors": [{"id": "a", "driver": "x", "interval_s": 0, "simulate": True, "address": 0x76}]}
    ).sensors
    assert (spec.interval_s, spec.simulate, dict(spec.options)) == (0.0, True, {"address": 0x76})
    (default,) = parse_config({"sensors": [{"id": "b", "driver": "x"}]}).sensors
    assert (default.interval_s, default.simulate, dict(default.options)) == (1.0, False, {})


def test_ids_must_be_unique_per_list_and_across_sensors_and_actuators() -> None:
    assert errors_of(
        {
            "sensors": [{"id": "a", "driver": "x"}, {"id": "b", "driver": "x"}],
            "actuators": [
                {"id": "r", "driver": "relay"},
                {"id": "r", "driver": "relay"},
                {"id": "b", "driver": "led"},
            ],
        }
    ) == [
        ("actuators[1].id", "duplicate id 'r'"),
        (
            "actuators",
            "id 'b' is also a sensor id (actuator states are published as readings under their own id)",
        ),
    ]


# -- security: tokens -----------------------------------------------------------------------------------------


def test_inline_tokens_default_their_role_and_name() -> None:
    sec = parse_config(
        {"security": {"tokens": [{"token": TOKEN}, {"token": OTHER, "role": "operator"}]}}
    ).security
    assert sec.tokens == (Token("token0", "viewer", TOKEN), Token("token1", "operator", OTHER))


def test_token_characters_allowed() -> None:
    """Every RFC 7230 tchar is accepted: the token travels as the subprotocol bearer.<token>."""
    tok = "AZaz09!#$%&'*+-.^_`|~" + "x" * 4
    assert parse_config({"security": {"tokens": [{"token": tok}]}}).security.tokens[0].token == tok


@pytest.mark.parametrize("bad", ["/", "=", " ", '"', ",", ";", ":", "(", "@", "?", "é", "\t"])
def test_tokens_that_cannot_be_a_subprotocol_name_are_config_errors(bad: str) -> None:
    """A token with a character outside tchar (e.g. base64's / and =) is refused, naming the key and the rule."""
    assert only_error({"security": {"tokens": [{"token": TOKEN + bad}]}}) == (
        "security.tokens[0].token",
        TOKEN_EXPECTED,
    )


def test_token_file_with_a_base64_token_names_the_file(tmp_path: Path) -> None:
    """In a token file, a token with / or = is an error naming the file, the key and what was expected."""
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(f'[[tokens]]\ntoken = "{TOKEN}/x=="\n', encoding="utf-8")
    with pytest.raises(ConfigErrors) as info:
        parse_config({"security": {"token_file": str(tokens)}})
    assert [(e.key, e.message, e.file) for e in info.value.errors] == [
        ("tokens[0].token", TOKEN_EXPECTED, str(tokens))
    ]


@pytest.mark.parametrize(
    ("entry", "key", "message"),
    [
        (
            {"token": "short"},
            "security.tokens[0].token",
            "expected a string of at least 16 characters (generate one with `sensorcast token`)",
        ),
        (
            {"name": "x"},
            "security.tokens[0].token",
            "expected a string of at least 16 characters (generate one with `sensorcast token`)",
        ),
        (
            {"token": 1234567890123456789},
            "security.tokens[0].token",
            "expected a string of at least 16 characters (generate one with `sensorcast token`)",
        ),
        (
            {"token": TOKEN + " space"},
            "security.tokens[0].token",
            TOKEN_EXPECTED,
        ),
        (
            {"token": TOKEN + '"'},
            "security.tokens[0].token",
            TOKEN_EXPECTED,
        ),
        (
            {"token": TOKEN, "role": "admin"},
            "security.tokens[0].role",
            "expected 'viewer' or 'operator', got 'admin'",
        ),
        (
            {"token": TOKEN, "secret": 1},
            "security.tokens[0].secret",
            "unknown key; known keys: name, role, token",
        ),
    ],
)
def test_token_entry_errors(entry: dict[str, Any], key: str, message: str) -> None:
    assert only_error({"security": {"tokens": [entry]}}) == (key, message)


def test_token_list_shape_errors() -> None:
    assert only_error({"security": {"tokens": TOKEN}}) == (
        "security.tokens",
        "expected a list of tables {name, role, token}",
    )
    assert only_error({"security": {"tokens": [TOKEN]}}) == (
        "security.tokens[0]",
        "expected a table {name, role, token}",
    )


def test_a_bad_token_does_not_hide_the_good_ones_in_the_partial_config() -> None:
    with pytest.raises(ConfigErrors) as info:
        parse_config({"security": {"tokens": [{"token": "short"}, {"name": "ok", "token": TOKEN}]}})
    assert info.value.partial is not None
    assert info.value.partial.security.tokens == (Token("ok", "viewer", TOKEN),)


def test_security_errors() -> None:
    assert only_error({"security": "on"}) == ("security", "expected a table")
    assert only_error({"security": {"insecure": "yes"}}) == (
        "security.insecure",
        "expected true or false, got 'yes'",
    )
    assert only_error({"security": {"tokenfile": "x"}}) == (
        "security.tokenfile",
        "unknown key (did you mean 'token_file'?); known keys: allowed_hosts, allowed_origins, insecure, "
        "protect_metrics, tls_cert, tls_key, token_file, tokens",
    )
    assert only_error({"security": {"allowed_origins": "http://a"}}) == (
        "security.allowed_origins",
        "expected a list of strings",
    )
    assert only_error({"security": {"allowed_hosts": ["a", 1]}}) == (
        "security.allowed_hosts",
        "expected a list of strings",
    )
    assert parse_config({"security": {"insecure": True}}).security.insecure is True


def test_token_file_is_resolved_next_to_the_config_and_merged_with_inline_tokens(tmp_path: Path) -> None:
    write(tmp_path, f'[[tokens]]\nname = "op"\nrole = "operator"\ntoken = "{OTHER}"\n', "tokens.toml")
    cfg_path = write(
        tmp_path,
        f'[security]\ntoken_file = "tokens.toml"\ntokens = [{{ name = "v", token = "{TOKEN}" }}]\n',
    )
    sec = load_config(cfg_path).security
    assert sec.token_file == tmp_path.resolve() / "tokens.toml"
    assert sec.tokens == (Token("v", "viewer", TOKEN), Token("op", "operator", OTHER))


def test_token_file_errors_name_the_token_file(tmp_path: Path) -> None:
    """Mistakes inside the token file name that file and its own key path, not the config's."""
    tokens = write(tmp_path, '[[tokens]]\nrole = "root"\ntoken = "' + TOKEN + '"\n', "tokens.toml")
    cfg_path = write(tmp_path, '[security]\ntoken_file = "tokens.toml"\n')
    with pytest.raises(ConfigErrors) as info:
        load_config(cfg_path)
    (err,) = info.value.errors
    assert (err.key, err.message) == ("tokens[0].role", "expected 'viewer' or 'operator', got 'root'")
    assert err.file == str(tmp_path.resolve() / "tokens.toml") == str(tokens.resolve())


def test_missing_and_malformed_token_files(tmp_path: Path) -> None:
    """A token file that does not exist is this machine's state, not a mistake (no tokens, and
    missing_token_file names it); one that exists but is broken is an error."""
    cfg_path = write(tmp_path, '[security]\ntoken_file = "nope.toml"\n')
    cfg = load_config(cfg_path)
    assert (cfg.security.tokens, missing_token_file(cfg)) == ((), tmp_path.resolve() / "nope.toml")
    write(tmp_path, '[[tokens]]\nname = "a"\nrole = "viewer"\ntoken = "0123456789abcdef0"\n', "nope.toml")
    assert missing_token_file(load_config(cfg_path)) is None

    write(tmp_path, "[[tokens]\n", "broken.toml")
    cfg_path = write(tmp_path, '[security]\ntoken_file = "broken.toml"\n')
    with pytest.raises(ConfigErrors) as info:
        load_config(cfg_path)
    (err,) = info.value.errors
    assert err.key == "security.token_file"
    assert err.message.startswith(f"{tmp_path.resolve() / 'broken.toml'}: not valid TOML (")

    assert only_error({"security": {"token_file": 3}}) == (
        "security.token_file",
        "expected a path (string), got 3",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tokdir", "expected a TOML file, got a directory: {dir}/tokdir"),
        ("plain/tokens.toml", "cannot read {dir}/plain/tokens.toml: Not a directory"),
        ("x" * 300, "cannot read {dir}/" + "x" * 300 + ": File name too long"),
        ("tok\\u0000ens.toml", "expected a file path without NUL bytes, got '{dir}/tok\\x00ens.toml'"),
        (
            "latin1.toml",
            "{dir}/latin1.toml: not valid TOML: not UTF-8 (byte 0xe9 at offset 22, line 2, column 12)",
        ),
    ],
)
def test_unreadable_token_files_are_config_errors_naming_the_key_and_file(
    tmp_path: Path, value: str, message: str
) -> None:
    """Regression: a directory, a non-UTF-8 file or any other OSError escaped load_config as a traceback."""
    (tmp_path / "tokdir").mkdir()
    write(tmp_path, "not a directory", "plain")
    (tmp_path / "latin1.toml").write_bytes(
        f'[[tokens]]\nname = "caf\xe9"\ntoken = "{TOKEN}"\n'.encode("latin-1")
    )
    cfg_path = write(tmp_path, f'[security]\ntoken_file = "{value}"\n')
    with pytest.raises(ConfigErrors) as info:
        load_config(cfg_path)
    (err,) = info.value.errors
    expected = message.format(dir=tmp_path.resolve())
    assert (err.key, err.message, err.file) == ("security.token_file", expected, str(cfg_path))
    assert info.value.partial is not None and info.value.partial.security.tokens == ()


# -- security: TLS --------------------------------------------------------------------------------------------


def test_tls_files_resolve_against_base(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("cert")
    (tmp_path / "k.pem").write_text("key")
    sec = parse_config({"security": {"tls_cert": "c.pem", "tls_key": "k.pem"}}, base=tmp_path).security
    assert (sec.tls_cert, sec.tls_key) == (tmp_path / "c.pem", tmp_path / "k.pem")


def test_tls_needs_both_files_and_they_must_exist(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("cert")
    assert only_error({"security": {"tls_cert": "c.pem"}}, base=tmp_path) == (
        "security.tls_key",
        "tls_cert and tls_key must be given together",
    )
    assert only_error({"security": {"tls_key": "c.pem"}}, base=tmp_path) == (
        "security.tls_key",
        "tls_cert and tls_key must be given together",
    )
    assert errors_of({"security": {"tls_cert": "c.pem", "tls_key": "missing.pem"}}, base=tmp_path) == [
        ("security.tls_key", f"file not found: {tmp_path / 'missing.pem'}")
    ]
    # A directory is not a certificate file.
    assert errors_of({"security": {"tls_cert": ".", "tls_key": "c.pem"}}, base=tmp_path) == [
        ("security.tls_cert", f"file not found: {tmp_path}")
    ]
    # Paths that make is_file() raise instead of answering False are config errors too.
    assert errors_of({"security": {"tls_cert": "c" * 300, "tls_key": "c.pem"}}, base=tmp_path) == [
        ("security.tls_cert", f"cannot read {tmp_path / ('c' * 300)}: File name too long")
    ]
    nul = tmp_path / "c.pem\0"
    assert errors_of({"security": {"tls_cert": "c.pem\0", "tls_key": "c.pem"}}, base=tmp_path) == [
        ("security.tls_cert", f"expected a file path without NUL bytes, got {str(nul)!r}")
    ]
    assert errors_of({"security": {"tls_cert": 1, "tls_key": "c.pem"}}, base=tmp_path) == [
        ("security.tls_cert", "expected a path (string), got 1"),
        ("security.tls_key", "tls_cert and tls_key must be given together"),
    ]


# -- mqtt -----------------------------------------------------------------------------------------------------


def test_mqtt_table_is_parsed_by_the_bridge_and_its_errors_name_the_file() -> None:
    assert parse_config({"mqtt": {"enabled": False}}).mqtt is None
    enabled = parse_config({"mqtt": {"host": "broker.lan"}}).mqtt
    assert enabled is not None and enabled.host == "broker.lan"
    with pytest.raises(ConfigErrors) as info:
        parse_config({"mqtt": {"enabled": "yes"}}, file="/etc/s.toml")
    (err,) = info.value.errors
    assert (err.key, err.file) == ("mqtt.enabled", "/etc/s.toml")


# -- load_config ----------------------------------------------------------------------------------------------


def test_load_config_reads_a_file_and_records_its_source(tmp_path: Path) -> None:
    path = write(tmp_path, '[gateway]\nid = "pi"\nport = 9000\ndata_dir = "d"\n')
    cfg = load_config(path)
    assert (cfg.gateway.id, cfg.gateway.port, cfg.source) == ("pi", 9000, str(path))
    assert cfg.gateway.data_dir == tmp_path.resolve() / "d"
    assert load_config(str(path)).gateway.id == "pi"


def test_load_config_relative_paths_resolve_against_the_files_directory_not_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = tmp_path / "etc"
    sub.mkdir()
    write(sub, '[gateway]\ndata_dir = "data"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("etc/sensorcast.toml")).gateway.data_dir == sub.resolve() / "data"


def test_load_config_errors_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[limits]\nmax_clients = -1\n")
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    assert str(info.value) == f"{path}: limits.max_clients: expected an integer >= 0, got -1"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as info:
        load_config(tmp_path / "absent.toml")
    (err,) = info.value.errors
    assert (err.key, err.message, err.file) == ("(file)", "not found", str(tmp_path / "absent.toml"))
    assert info.value.partial is None
    with pytest.raises(ConfigErrors) as info:
        load_config(tmp_path)
    (err,) = info.value.errors
    assert err.key == "(file)" and err.message.startswith("cannot read: ") and err.file == str(tmp_path)
    with pytest.raises(ConfigErrors) as info:
        load_config(tmp_path / "a\0b.toml")
    (err,) = info.value.errors
    assert (err.key, err.message) == ("(file)", "cannot read: the path contains a NUL byte")


@pytest.mark.parametrize(
    "text",
    [
        '[gateway\nid = "pi"\n',
        '[gateway]\nid = "pi\n',
        "[gateway]\nport = \n",
        '[gateway]\nid = "a"\nid = "b"\n',
    ],
)
def test_toml_syntax_errors_name_the_file_and_the_line(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    (err,) = info.value.errors
    assert (err.key, err.file) == ("(syntax)", str(path))
    assert err.message.startswith("not valid TOML: ") and "line " in err.message
    assert info.value.partial is None
    assert str(info.value).startswith(f"{path}: (syntax): not valid TOML: ")


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'[gateway]\nid = "\xff"\n', "byte 0xff at offset 16, line 2, column 7"),
        (b"\xfe\xff[gateway]\n", "byte 0xfe at offset 0, line 1, column 1"),
        ("# caf\u00e9\n[limits]\n".encode() + b"# \xc3\n", "byte 0xc3 at offset 19, line 3, column 3"),
        ("[gateway]\nid = 'pi'\n".encode("utf-16"), "byte 0xff at offset 0, line 1, column 1"),
    ],
)
def test_a_file_that_is_not_utf8_is_a_config_error_with_the_offset(
    tmp_path: Path, raw: bytes, where: str
) -> None:
    """Regression: a non-UTF-8 file raised a raw UnicodeDecodeError (a traceback from check-config)."""
    path = tmp_path / "latin1.toml"
    path.write_bytes(raw)
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    (err,) = info.value.errors
    assert (err.key, err.message, err.file) == ("(syntax)", f"not valid TOML: not UTF-8 ({where})", str(path))
    assert info.value.partial is None


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_windows_and_old_mac_line_endings_still_load(tmp_path: Path, newline: bytes) -> None:
    """The file is decoded from bytes; its line endings are still normalised as text mode did."""
    path = tmp_path / "crlf.toml"
    path.write_bytes(newline.join([b"[gateway]", b'id = "pi"', b"port = 9000", b""]))
    assert (load_config(path).gateway.id, load_config(path).gateway.port) == ("pi", 9000)


# -- demo -----------------------------------------------------------------------------------------------------


def test_demo_config_has_every_demo_table_simulated() -> None:
    sensors, actuators = demo_tables()
    cfg = demo_config()
    assert (cfg.gateway.id, cfg.gateway.host, cfg.gateway.port, cfg.source) == (
        "demo",
        "localhost",
        8765,
        "(demo)",
    )
    assert [s.id for s in cfg.sensors] == [t["id"] for t in sensors]
    assert [a.id for a in cfg.actuators] == [t["id"] for t in actuators]
    assert {"relay1", "led1", "servo1"} <= {a.id for a in cfg.actuators}
    assert all(d.simulate for d in (*cfg.sensors, *cfg.actuators))


def test_demo_config_takes_gateway_overrides_including_paths(tmp_path: Path) -> None:
    cfg = demo_config(port=0, data_dir=tmp_path, flush_interval_ms=0)
    assert (cfg.gateway.port, cfg.gateway.data_dir, cfg.gateway.flush_interval_ms) == (0, tmp_path, 0)
    with pytest.raises(ConfigErrors) as info:
        demo_config(port=70000)
    assert [(e.key, e.file) for e in info.value.errors] == [("gateway.port", "(demo)")]


# -- is_loopback ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("fe80::1", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize("bad", [-0.1, 3601, True, "0.5", float("nan"), float("inf")])
def test_actuator_min_interval_must_be_seconds_in_range(tmp_path: Path, bad: Any) -> None:
    """actuators[0].min_interval_s outside 0..3600 (or not a number) is an error naming file, key and range."""
    assert only_error({"actuators": [{"id": "r", "driver": "relay", "min_interval_s": bad}]}) == (
        "actuators[0].min_interval_s",
        f"expected seconds 0..3600 between two changes of this output, got {bad!r}",
    )
    text = 'min_interval_s = "fast"' if bad == "0.5" else f"min_interval_s = {str(bad).lower()}"
    path = write(tmp_path, f'[[actuators]]\nid = "r"\ndriver = "relay"\n{text}\n')
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    assert [(e.file, e.key) for e in info.value.errors] == [(str(path), "actuators[0].min_interval_s")]


def test_actuator_min_interval_is_a_generic_key_not_a_driver_option() -> None:
    """min_interval_s reaches the DeviceSpec (not the driver's options); absent it is None (driver default)."""
    cfg = parse_config(
        {
            "actuators": [
                {"id": "r", "driver": "relay", "pin": 5, "min_interval_s": 2},
                {"id": "l", "driver": "led", "pin": 6},
            ]
        }
    )
    assert [(a.min_interval_s, dict(a.options)) for a in cfg.actuators] == [
        (2.0, {"pin": 5}),
        (None, {"pin": 6}),
    ]
