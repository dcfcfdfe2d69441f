"""`sensorcast token`: tokens generated into a 0640 TOML file the config's token_file reads."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gateway.cli.dispatch import main
from gateway.cli.token import write_failure
from gateway.config import load_config

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["token", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_tokens_append_with_unique_names_and_mode_0640(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three appends make three tables (operator, viewer, viewer-2), mode 0640 despite a permissive umask."""
    path = tmp_path / "tokens.toml"
    old = os.umask(0)
    try:
        r1 = run(capsys, "--role", "operator", "--file", str(path))
        r2 = run(capsys, "--file", str(path))
        r3 = run(capsys, "--file", str(path))
    finally:
        os.umask(old)
    assert [r[0] for r in (r1, r2, r3)] == [0, 0, 0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    data = tomllib.loads(path.read_text())
    assert [(t["name"], t["role"]) for t in data["tokens"]] == [
        ("operator", "operator"),
        ("viewer", "viewer"),
        ("viewer-2", "viewer"),
    ]
    assert [t["token"] + "\n" for t in data["tokens"]] == [r1[1], r2[1], r3[1]]
    assert len({t["token"] for t in data["tokens"]}) == 3
    assert all(len(t["token"]) == 43 for t in data["tokens"])
    assert r1[2] == f"added operator token 'operator' to {path}\n"


def test_config_token_file_loads_generated_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config naming the generated file as security.token_file gets exactly those tokens and roles."""
    path = tmp_path / "tokens.toml"
    run(capsys, "--role", "operator", "--name", "alice", "--file", str(path))
    run(capsys, "--role", "viewer", "--name", "wall.display", "--file", str(path))
    cfg_path = tmp_path / "sensorcast.toml"
    cfg_path.write_text('[security]\ntoken_file = "tokens.toml"\n')
    cfg = load_config(cfg_path)
    saved = tomllib.loads(path.read_text())["tokens"]
    assert [(t.name, t.role, t.token) for t in cfg.security.tokens] == [
        ("alice", "operator", saved[0]["token"]),
        ("wall.display", "viewer", saved[1]["token"]),
    ]


def test_loose_existing_file_is_tightened_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hand-written world-readable token file keeps its content, gains the new table and becomes 0640."""
    path = tmp_path / "tokens.toml"
    path.write_text('[[tokens]]\nname = "old"\nrole = "viewer"\ntoken = "abcdefghijklmnopqrstuvwxyz"\n')
    path.chmod(0o644)
    rc, _, _ = run(capsys, "--file", str(path))
    assert rc == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [t["name"] for t in tomllib.loads(path.read_text())["tokens"]] == ["old", "viewer"]


@pytest.mark.parametrize(
    ("content", "argv", "message"),
    [
        ("not = [toml", [], "not valid TOML"),
        (
            '[[tokens]]\nname = "bob"\nrole = "viewer"\ntoken = "x"\n',
            ["--name", "bob"],
            "'bob' already exists",
        ),
        ("", ["--name", "has space"], "expected 1..64 of"),
        ("", ["--name", "trailing\n"], "expected 1..64 of"),
        ("tokens = 3\n", [], "not an array of tables"),
    ],
)
def test_refusals_leave_the_file_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, argv: list[str], message: str
) -> None:
    """Bad files and taken or malformed names exit 2 with a reason and do not modify the file."""
    path = tmp_path / "tokens.toml"
    path.write_text(content)
    rc, out, err = run(capsys, *argv, "--file", str(path))
    assert (rc, out) == (2, "")
    assert message in err
    assert path.read_text() == content


def test_missing_directory_is_named_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --file in a directory that does not exist: the message names that directory (exit 1, no traceback)."""
    path = tmp_path / "nope" / "tokens.toml"
    rc, out, err = run(capsys, "--file", str(path))
    assert (rc, out) == (1, "")
    assert err == (
        f"sensorcast token: cannot write {path}: the directory {path.parent} does not exist "
        f"(create it first, e.g. `install -d -m 0750 {path.parent}`)\n"
    )
    assert not path.parent.exists()


def test_permission_denied_suggests_root_only_to_a_non_root_user(tmp_path: Path) -> None:
    """EACCES tells a normal user to try as root, and tells root only what failed."""
    path = tmp_path / "tokens.toml"
    exc = PermissionError(13, "Permission denied")
    assert [write_failure(path, exc, euid) for euid in (1000, 0)] == [
        f"cannot write {path}: Permission denied (run as root?)",
        f"cannot write {path}: Permission denied",
    ]


def test_without_file_prints_token_and_snippet() -> None:
    """Without --file the token alone goes to stdout and a ready-to-paste table to stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "token", "--role", "operator"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = proc.stdout.strip()
    assert len(token) == 43
    assert proc.stderr == (
        f'# add to the token file or [security] tokens:\n[[tokens]]\nname = "operator"\n'
        f'role = "operator"\ntoken = "{token}"\n'
    )
