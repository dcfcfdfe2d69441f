"""gateway/protocol/credentials.py and its two users: `cred:NAME` names $CREDENTIALS_DIRECTORY/NAME."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridges.mqtt.config import parse_mqtt_config
from gateway.config import ConfigErrors, load_config
from gateway.protocol.credentials import DEFAULT_CREDENTIALS_DIRECTORY, credential_path, is_credential
from sensors.errors import ConfigError


def test_credential_names_resolve_in_the_credentials_directory() -> None:
    """cred:NAME is $CREDENTIALS_DIRECTORY/NAME, or systemd's default directory for the unit when unset."""
    env = {"CREDENTIALS_DIRECTORY": "/run/credentials/x.service"}
    assert [is_credential(v) for v in ("cred:tokens", "tokens.toml", "/cred:x")] == [True, False, False]
    assert credential_path("cred:tokens", env) == Path("/run/credentials/x.service/tokens")
    assert credential_path("cred:tokens", {}) == Path(DEFAULT_CREDENTIALS_DIRECTORY) / "tokens"


@pytest.mark.parametrize("value", ["cred:", "cred:a/b", "cred:..", "cred:."])
def test_a_credential_name_is_a_plain_file_name(value: str) -> None:
    """An empty name or one with a '/' (or . / ..) is refused: it could leave the credentials directory."""
    with pytest.raises(ValueError, match="expected cred:NAME"):
        credential_path(value, {})


def test_token_file_and_mqtt_password_come_from_systemd_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """token_file = "cred:tokens" and password_file = "cred:mqtt-password" read the credentials systemd passed."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "tokens").write_text(
        '[[tokens]]\nname = "op"\nrole = "operator"\ntoken = "abcdefghijklmnopqrst"\n'
    )
    (creds / "mqtt-password").write_text("s3cret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    main = tmp_path / "c.toml"
    main.write_text('[security]\ntoken_file = "cred:tokens"\n')
    cfg = load_config(main)
    assert (cfg.security.token_file, [t.name for t in cfg.security.tokens]) == (creds / "tokens", ["op"])
    mqtt = parse_mqtt_config({"username": "gw", "password_file": "cred:mqtt-password"}, str(main))
    assert mqtt is not None and mqtt.password == "s3cret"


def test_bad_credential_references_name_the_key(tmp_path: Path) -> None:
    """A malformed cred: reference is a config mistake naming security.token_file / mqtt.password_file."""
    main = tmp_path / "c.toml"
    main.write_text('[security]\ntoken_file = "cred:a/b"\n')
    with pytest.raises(ConfigErrors) as exc:
        load_config(main, env={})
    assert [e.key for e in exc.value.errors] == ["security.token_file"]
    with pytest.raises(ConfigError) as one:
        parse_mqtt_config({"username": "gw", "password_file": "cred:"})
    assert one.value.key == "mqtt.password_file"
