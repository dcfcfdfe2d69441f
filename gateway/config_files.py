"""Config documents before validation: ``${ENV}`` substitution and the ``conf.d/*.toml`` drop-in merge.

Pure: the environment and the decoded documents are passed in; :func:`gateway.config.load_config` reads the
files. Both follow Telegraf's conventions, so an operator who knows one knows the other:

* In every **string value** (never in keys), ``${VAR}`` is replaced by the environment variable ``VAR`` and
  ``${VAR:-default}`` by ``default`` when ``VAR`` is unset or empty; ``$$`` is a literal ``$``. A ``$`` followed
  by anything else stays as written. A variable that is unset and has no default is a mistake that names the
  file, the key and the variable.
* Drop-ins ``conf.d/*.toml`` beside the main file are merged in name order: tables are merged key by key,
  arrays (``[[sensors]]``, ``allowed_origins``...) are appended, and any other value set again replaces the
  earlier one (as a systemd drop-in does). Every merged key remembers which file and which key in that file it
  came from, so a mistake found after the merge still names the drop-in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sensors.errors import ConfigError

_REF = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})")
"""``$$`` or ``${NAME}`` or ``${NAME:-default}``; the default cannot hold ``}``."""
_BAD_REF = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})")
"""A ``${`` that does not start a well-formed reference (a typo such as ``${1X}`` or an unclosed ``${X``)."""


def expand_string(value: str, env: Mapping[str, str], key: str) -> str:
    """Substitute ``${VAR}``, ``${VAR:-default}`` and ``$$`` in one string value.

    Raises:
        ConfigError: naming ``key``: a variable is unset without a default, or a ``${`` is malformed.
    """
    bad = _BAD_REF.search(_REF.sub(lambda m: "" if m.group(0) == "$$" else "x", value))
    if bad is not None:
        raise ConfigError(key, "malformed ${...}: expected ${NAME} or ${NAME:-default} (write $$ for a $)")
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(2)
        got = env.get(name, "")
        if got:
            return got
        if default is not None:
            return default
        if name not in env:
            missing.append(name)
        return ""

    out = _REF.sub(sub, value)
    if missing:
        raise ConfigError(
            key,
            f"environment variable {missing[0]} is not set (write ${{{missing[0]}:-default}} for a default)",
        )
    return out


def expand_env(data: Any, env: Mapping[str, str], key: str = "") -> tuple[Any, list[ConfigError]]:
    """Return ``data`` with every string value expanded, and every mistake found (all of them).

    A value with a mistake is kept as written, so validation still reports the document's other mistakes.
    """
    errors: list[ConfigError] = []
    if isinstance(data, str):
        try:
            return expand_string(data, env, key or "(value)"), errors
        except ConfigError as exc:
            return data, [exc]
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out[k], errs = expand_env(v, env, f"{key}.{k}" if key else k)
            errors += errs
        return out, errors
    if isinstance(data, list):
        items = []
        for i, v in enumerate(data):
            item, errs = expand_env(v, env, f"{key}[{i}]")
            items.append(item)
            errors += errs
        return items, errors
    return data, errors


@dataclass
class Merged:
    """The merged document and where each of its keys came from."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Merged key path -> (file, key path in that file), for every key a drop-in set or appended."""

    def add(self, doc: Mapping[str, Any], file: str) -> None:
        """Merge one drop-in document into this one (tables merged, arrays appended, other values replaced)."""
        _merge(self.data, doc, file, "", "", self.origins)

    def locate(self, error: ConfigError, main: str | None) -> ConfigError:
        """Return ``error`` naming the file (and the key in that file) its key path came from."""
        if error.file and error.file != main:
            return error
        best = ""
        for prefix in self.origins:
            if len(prefix) > len(best) and (
                error.key == prefix or error.key.startswith((prefix + ".", prefix + "["))
            ):
                best = prefix
        if not best:
            return error if error.file or main is None else error.with_file(main)
        file, local = self.origins[best]
        return ConfigError(local + error.key[len(best) :], error.message, file)


def _merge(
    into: dict[str, Any],
    doc: Mapping[str, Any],
    file: str,
    path: str,
    local: str,
    origins: dict[str, tuple[str, str]],
) -> None:
    for k, v in doc.items():
        p, lk = (f"{path}.{k}" if path else k), (f"{local}.{k}" if local else k)
        old = into.get(k)
        if isinstance(old, dict) and isinstance(v, Mapping):
            _merge(old, v, file, p, lk, origins)
        elif isinstance(old, list) and isinstance(v, list):
            for i, item in enumerate(v):
                origins[f"{p}[{len(old)}]"] = (file, f"{lk}[{i}]")
                old.append(item)
        else:
            into[k] = v
            origins[p] = (file, lk)
