"""gateway/config_files.py and load_config: ${ENV} substitution and conf.d/*.toml drop-ins."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import ConfigErrors, load_config, locate_error
from gateway.config_files import Merged, expand_env, expand_string
from sensors.errors import ConfigError


def test_references_defaults_and_escapes_are_expanded() -> None:
    """${VAR}, ${VAR:-default} (unset or empty), $$ and a lone $ each become what Telegraf makes of them."""
    env = {"HOST": "broker.lan", "EMPTY": ""}
    values = (
        "${HOST}",
        "${NOPE:-d}",
        "${EMPTY:-e}",
        "${EMPTY}",
        "${HOST:-x}",
        "a$$b",
        "$5 $x",
        "${HOST}:${NOPE:-}",
    )
    got = [expand_string(v, env, "k") for v in values]
    assert got == ["broker.lan", "d", "e", "", "broker.lan", "a$b", "$5 $x", "broker.lan:"]


def test_a_missing_variable_or_a_malformed_reference_names_the_key() -> None:
    """An unset variable without a default, and ``${1X}`` / an unclosed ``${X``, are ConfigErrors with the key."""
    errors = []
    for value in ("${NOPE}", "${1X}", "x${Y"):
        with pytest.raises(ConfigError) as exc:
            expand_string(value, {}, "mqtt.host")
        errors.append((exc.value.key, exc.value.message.split(" (")[0].split(":")[0]))
    assert errors == [
        ("mqtt.host", "environment variable NOPE is not set"),
        ("mqtt.host", "malformed ${...}"),
        ("mqtt.host", "malformed ${...}"),
    ]


def test_expand_env_walks_values_not_keys_and_reports_every_mistake() -> None:
    """Strings in tables and arrays are expanded, keys and other types are kept, every missing variable listed."""
    data = {"${K}": 1, "a": {"b": ["${V}", 2, {"c": "${M1}"}]}, "d": "${M2}", "e": True}
    out, errors = expand_env(data, {"V": "v", "K": "k"})
    assert out == {"${K}": 1, "a": {"b": ["v", 2, {"c": "${M1}"}]}, "d": "${M2}", "e": True}
    assert [(e.key, e.message.split(" (")[0]) for e in errors] == [
        ("a.b[2].c", "environment variable M1 is not set"),
        ("d", "environment variable M2 is not set"),
    ]
    assert expand_env("${X}", {})[1][0].key == "(value)"


@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=30))
def test_text_without_a_dollar_is_unchanged(text: str) -> None:
    """A string without ``$`` is returned as it is, whatever the environment."""
    assert expand_string(text, {"A": "b"}, "k") == text


@given(st.text(max_size=20))
def test_doubled_dollars_round_trip(text: str) -> None:
    """Escaping every ``$`` as ``$$`` gives back the original text."""
    assert expand_string(text.replace("$", "$$"), {}, "k") == text


def test_merge_merges_tables_appends_arrays_and_replaces_values() -> None:
    """Tables merge key by key, arrays append, scalars are replaced; every key remembers its file and key."""
    m = Merged({"gateway": {"id": "a", "port": 1}, "sensors": [{"id": "s1"}], "security": {"x": ["o1"]}})
    m.add(
        {"gateway": {"port": 2}, "sensors": [{"id": "s2"}], "security": {"x": ["o2"]}, "mqtt": {"h": 1}}, "d1"
    )
    m.add({"sensors": [{"id": "s3"}]}, "d2")
    assert m.data == {
        "gateway": {"id": "a", "port": 2},
        "sensors": [{"id": "s1"}, {"id": "s2"}, {"id": "s3"}],
        "security": {"x": ["o1", "o2"]},
        "mqtt": {"h": 1},
    }
    assert m.origins == {
        "gateway.port": ("d1", "gateway.port"),
        "sensors[1]": ("d1", "sensors[0]"),
        "security.x[1]": ("d1", "security.x[0]"),
        "mqtt": ("d1", "mqtt"),
        "sensors[2]": ("d2", "sensors[0]"),
    }
    located = [
        m.locate(ConfigError(k, "m", f), "main")
        for k, f in [
            ("sensors[2].address", "main"),
            ("sensors[0].id", "main"),
            ("sensors[1]", None),
            ("mqtt.port", "main"),
            ("gateway.portx", "main"),
            ("x", "tokens.toml"),
        ]
    ]
    assert [(e.file, e.key) for e in located] == [
        ("d2", "sensors[0].address"),
        ("main", "sensors[0].id"),
        ("d1", "sensors[0]"),
        ("d1", "mqtt.port"),
        ("main", "gateway.portx"),
        ("tokens.toml", "x"),
    ]
    assert Merged().locate(ConfigError("k", "m"), None).file is None


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_load_config_substitutes_the_environment_and_merges_drop_ins_in_name_order(tmp_path: Path) -> None:
    """conf.d/*.toml drop-ins are merged in name order after the main file, each with ${ENV} expanded."""
    main = _write(tmp_path / "config.toml", '[gateway]\nid = "${GW_ID:-fallback}"\nport = 9000\n')
    _write(
        tmp_path / "conf.d" / "20-b.toml", '[[sensors]]\nid = "b"\ndriver = "cpu"\n[gateway]\nport = 9002\n'
    )
    _write(
        tmp_path / "conf.d" / "10-a.toml", '[[sensors]]\nid = "a"\ndriver = "cpu"\n[gateway]\nport = 9001\n'
    )
    _write(tmp_path / "conf.d" / "notes.txt", "not toml")
    cfg = load_config(main, env={"GW_ID": "board7"})
    assert (cfg.gateway.id, cfg.gateway.port, [s.id for s in cfg.sensors]) == ("board7", 9002, ["a", "b"])
    assert load_config(main, env={}).gateway.id == "fallback"


def test_every_mistake_names_its_file_and_the_key_in_it(tmp_path: Path) -> None:
    """Env, syntax and validation mistakes in the main file and in drop-ins are all reported, each with its file."""
    main = _write(
        tmp_path / "config.toml", '[gateway]\nid = "${NO_ID}"\n[[sensors]]\nid = "a"\ndriver = "cpu"\n'
    )
    d1 = _write(tmp_path / "conf.d" / "10-imu.toml", '[[sensors]]\nid = "a"\ndriver = "cpu"\n')
    d2 = _write(tmp_path / "conf.d" / "20-bad.toml", "[gateway\n")
    d3 = _write(tmp_path / "conf.d" / "30-mqtt.toml", '[limits]\nmax_clients = "${NO_N}"\n')
    with pytest.raises(ConfigErrors) as exc:
        load_config(main, env={})
    got = [(e.file, e.key, e.message.split(" (")[0].split(":")[0]) for e in exc.value.errors]
    assert got == [
        (str(main), "gateway.id", "environment variable NO_ID is not set"),
        (str(d2), "(syntax)", "not valid TOML"),
        (str(d3), "limits.max_clients", "environment variable NO_N is not set"),
        (str(main), "gateway.id", "expected [a-z0-9_-], 1..64 characters, got '${NO_ID}'"),
        (str(d3), "limits.max_clients", "expected an integer, got '${NO_N}'"),
        (str(d1), "sensors[0].id", "duplicate id 'a'"),
    ]
    assert exc.value.partial is not None


def test_a_conf_d_that_is_a_file_is_a_mistake(tmp_path: Path) -> None:
    """A ``conf.d`` that is not a directory is reported rather than silently ignored."""
    main = _write(tmp_path / "config.toml", "")
    _write(tmp_path / "conf.d", "")
    with pytest.raises(ConfigErrors) as exc:
        load_config(main, env={})
    assert [(e.file, e.key) for e in exc.value.errors] == [(str(tmp_path / "conf.d"), "(file)")]


def test_driver_mistakes_found_after_loading_name_the_drop_in(tmp_path: Path) -> None:
    """locate_error maps a key found by the dry build (check-config) back to its drop-in."""
    main = _write(tmp_path / "config.toml", "")
    d = _write(tmp_path / "conf.d" / "a.toml", '[[sensors]]\nid = "a"\ndriver = "cpu"\n')
    cfg = load_config(main, env={})
    e = locate_error(cfg, ConfigError("sensors[0].bogus", "unknown option", str(main)))
    assert (e.file, e.key) == (str(d), "sensors[0].bogus")
