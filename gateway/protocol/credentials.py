"""systemd credentials in config values: ``"cred:NAME"`` names the file ``$CREDENTIALS_DIRECTORY/NAME``.

Pure (the environment is passed in); used by ``security.token_file`` (gateway/config.py) and
``mqtt.password_file`` (bridges/mqtt/config.py). With ``LoadCredential=tokens:/etc/sensorcast/tokens.toml`` in
the unit, systemd copies the file to a private, read-only directory only this service sees (root may keep the
original 0600; the service user needs no group on it), and ``token_file = "cred:tokens"`` reads it there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

PREFIX = "cred:"
DEFAULT_CREDENTIALS_DIRECTORY = "/run/credentials/sensorcast.service"
"""Where systemd puts the unit's credentials; used when ``$CREDENTIALS_DIRECTORY`` is unset (``sensorcast
check-config`` run by hand), so the path names the file the service would read, which then does not exist:
the same "this machine's state, not a mistake" as a token file not made yet."""


def is_credential(value: str) -> bool:
    """Whether ``value`` is a ``cred:NAME`` reference."""
    return value.startswith(PREFIX)


def credential_path(value: str, env: Mapping[str, str]) -> Path:
    """The file a ``cred:NAME`` value names.

    Raises:
        ValueError: ``NAME`` is empty or not a plain file name (systemd credential names hold no ``/``).
    """
    name = value[len(PREFIX) :]
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"expected cred:NAME with a credential name (no '/'), got {value!r}")
    directory = env.get("CREDENTIALS_DIRECTORY") or DEFAULT_CREDENTIALS_DIRECTORY
    return Path(directory.split(":")[0]) / name
