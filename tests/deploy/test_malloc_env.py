"""The service and the demo script start the gateway with two glibc malloc arenas (MALLOC_ARENA_MAX=2)."""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def service_environment(unit_text: str) -> dict[str, str]:
    """The variables the [Service] section's Environment= lines set (systemd's quoting is shell-like)."""
    env: dict[str, str] = {}
    section = ""
    for line in unit_text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.startswith("Environment="):
            for word in shlex.split(line.removeprefix("Environment=")):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def test_the_unit_sets_two_malloc_arenas_next_to_the_python_settings() -> None:
    """deploy/sensorcast.service: MALLOC_ARENA_MAX=2 besides the Python variables it already set."""
    env = service_environment((REPO / "deploy" / "sensorcast.service").read_text())
    assert env == {
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONFAULTHANDLER": "1",
        "MALLOC_ARENA_MAX": "2",
    }


FAKE_PYTHON = "#!/bin/sh\nexit 0\n"  # every probe of bootstrap.sh passes: the venv is there and installed
FAKE_SENSORCAST = '#!/bin/sh\necho "MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-unset} $*"\n'


@pytest.mark.parametrize(("preset", "seen"), [(None, "2"), ("4", "4")])
def test_demo_script_runs_the_gateway_with_two_arenas_unless_told_otherwise(
    tmp_path: Path, preset: str | None, seen: str
) -> None:
    """scripts/demo.sh execs `sensorcast run ARGS` with MALLOC_ARENA_MAX=2; a value already set is kept."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("demo.sh", "bootstrap.sh"):
        shutil.copy(REPO / "scripts" / name, repo / "scripts" / name)
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    venv_bin = repo / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    for name, text in (("python", FAKE_PYTHON), ("sensorcast", FAKE_SENSORCAST)):
        (venv_bin / name).write_text(text)
        (venv_bin / name).chmod(0o755)
    digest = hashlib.sha1((REPO / "pyproject.toml").read_bytes()).hexdigest()[:12]
    (repo / ".venv" / ".sensorcast-installed").write_text(f"{digest}-\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(venv_bin / "python")}
    if preset is not None:
        env["MALLOC_ARENA_MAX"] = preset
    proc = subprocess.run(
        ["bash", str(repo / "scripts" / "demo.sh"), "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"MALLOC_ARENA_MAX={seen} run --port 0\n", "")
