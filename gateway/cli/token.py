"""``sensorcast token``: generate an access token, optionally appending it to a token file.

The token file holds the same ``[[tokens]]`` tables as ``security.tokens`` and is referenced by
``security.token_file``. It is created (and kept) with mode 0640 so only root and the service's group read it.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import tomllib
from pathlib import Path

from gateway.config import ROLES

HELP = "generate an access token (--file: append it to a token file, mode 0640)"

TOKEN_BYTES = 32
"""Random bytes per token (43 URL-safe characters): far beyond guessing, short enough to paste."""
FILE_MODE = 0o640
"""Owner (root) writes, the service group reads, nobody else."""
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``token``'s options."""
    p.add_argument(
        "--role",
        choices=ROLES,
        default="viewer",
        help="viewer: read-only dashboards; operator: may also command actuators (default viewer)",
    )
    p.add_argument("--name", help="label shown in logs (default: the role, numbered if taken)")
    p.add_argument("--file", metavar="PATH", help="append to this TOML token file (created with mode 0640)")


def existing_names(text: str) -> list[str]:
    """Return the token names in a token file's text.

    Raises:
        ValueError: the text is not TOML with a ``tokens`` array of tables.
    """
    data = tomllib.loads(text)
    tokens = data.get("tokens", [])
    if not isinstance(tokens, list) or not all(isinstance(t, dict) for t in tokens):
        raise ValueError("'tokens' is not an array of tables ([[tokens]])")
    return [str(t.get("name", "")) for t in tokens]


def pick_name(wanted: str | None, role: str, taken: list[str]) -> str:
    """Return ``wanted`` (which must be free) or the first free name among ``role``, ``role-2``, ...

    Raises:
        ValueError: ``wanted`` is malformed or already used.
    """
    if wanted is not None:
        if not NAME_RE.match(wanted):
            raise ValueError(f"--name: expected 1..64 of A-Z a-z 0-9 _ . -, got {wanted!r}")
        if wanted in taken:
            raise ValueError(f"--name: a token named {wanted!r} already exists")
        return wanted
    n = 1
    while (name := role if n == 1 else f"{role}-{n}") in taken:
        n += 1
    return name


def token_table(name: str, role: str, token: str) -> str:
    """Return the TOML ``[[tokens]]`` table for one token (all values are TOML-safe by construction)."""
    return f'[[tokens]]\nname = "{name}"\nrole = "{role}"\ntoken = "{token}"\n'


def append_token(path: Path, name: str | None, role: str) -> tuple[str, str]:
    """Generate a token and append it to ``path``; return (name, token).

    The file is created with mode 0640 if missing, and set to 0640 if it was looser.

    Raises:
        ValueError: the existing file is not a valid token file, or the name is taken.
        OSError: the file cannot be read or written.
    """
    text = ""
    if path.exists():
        text = path.read_text(encoding="utf-8")
    try:
        taken = existing_names(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc}); not touching it") from exc
    final_name = pick_name(name, role, taken)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    sep = "" if not text or text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # umask may have narrowed it, or an old file may be world-readable
        os.write(fd, (sep + token_table(final_name, role, token)).encode())
        os.fsync(fd)  # tokens are generated once: a power cut right after install must not lose them
    finally:
        os.close(fd)
    return final_name, token


def write_failure(path: Path, exc: OSError, euid: int) -> str:
    """Say why ``path`` could not be written, and what to do about it, for a user whose effective uid is
    ``euid`` (only a non-root user is told to try as root)."""
    parent = path.parent
    if isinstance(exc, FileNotFoundError) and not parent.is_dir():
        return (
            f"cannot write {path}: the directory {parent} does not exist "
            f"(create it first, e.g. `install -d -m 0750 {parent}`)"
        )
    hint = " (run as root?)" if isinstance(exc, PermissionError) and euid != 0 else ""
    return f"cannot write {path}: {exc.strerror or exc}{hint}"


def main(args: argparse.Namespace) -> int:
    """Print a new token on stdout (only the token, for scripts); with ``--file`` also store it there."""
    if args.file is None:
        try:
            name = pick_name(args.name, args.role, [])
        except ValueError as exc:
            print(f"sensorcast token: {exc}", file=sys.stderr)
            return 2
        token = secrets.token_urlsafe(TOKEN_BYTES)
        print(token)
        print(
            f"# add to the token file or [security] tokens:\n{token_table(name, args.role, token)}",
            end="",
            file=sys.stderr,
        )
        return 0
    path = Path(args.file)
    try:
        name, token = append_token(path, args.name, args.role)
    except ValueError as exc:
        print(f"sensorcast token: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sensorcast token: {write_failure(path, exc, os.geteuid())}", file=sys.stderr)
        return 1
    print(token)
    print(f"added {args.role} token {name!r} to {path}", file=sys.stderr)
    return 0
