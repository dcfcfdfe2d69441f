"""Throwaway Debian roots for installer tests: debootstrap once, cache as a tarball, extract per test.

The cache lives in ``$SENSORCAST_TEST_CACHE`` (default ``~/.cache/sensorcast-tests``) so CI can keep it between
runs. Building it takes about a minute (debootstrap --variant=minbase bookworm, ~275 MB); extracting it a few
seconds. Python wheels for the chroot (sensorcast built from this checkout, its dependencies from PyPI) are
cached there too, so the installer runs with ``PIP_NO_INDEX``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
INCLUDE = ("python3", "python3-venv")
"""Raspberry Pi OS Lite ships python3 with venv; a bare minbase has neither, and install.sh would apt them."""


def cache_dir() -> Path:
    """Return (and create) the test cache directory."""
    path = Path(os.environ.get("SENSORCAST_TEST_CACHE", Path.home() / ".cache" / "sensorcast-tests"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (so a local proxy or mirror is honoured), else deb.debian.org."""
    if os.environ.get("SENSORCAST_DEBIAN_MIRROR"):
        return os.environ["SENSORCAST_DEBIAN_MIRROR"]
    texts = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        with contextlib.suppress(OSError):
            texts.append(path.read_text())
    for text in texts:
        m = re.search(r"(https?://\S+/debian)/?(\s|$)", text)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def ensure_tool(command: str, package: str) -> None:
    """Install the Debian ``package`` providing ``command`` when it is missing (tests run as root)."""
    if shutil.which(command) is not None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    if subprocess.run(install, env=env, capture_output=True, timeout=600).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600, check=True)
        subprocess.run(install, env=env, capture_output=True, timeout=600, check=True)
    if shutil.which(command) is None:
        raise RuntimeError(f"installing {package} did not provide {command}")


def base_tarball() -> Path:
    """Return the cached minbase root tarball, building it with debootstrap if missing."""
    key = hashlib.sha1(f"{SUITE} {','.join(INCLUDE)}".encode()).hexdigest()[:8]
    tarball = cache_dir() / f"debian-{SUITE}-minbase-{key}.tar"
    if tarball.exists():
        return tarball
    ensure_tool("debootstrap", "debootstrap")
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        root = Path(tmp) / "root"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(INCLUDE)}",
                SUITE,
                str(root),
                debian_mirror(),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=900,
        )
        partial = tarball.with_suffix(f".{os.getpid()}.partial")  # concurrent runs never share one
        subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True, timeout=300)
        partial.rename(tarball)
    return tarball


SYSTEMD_PACKAGES = ("systemd", "systemd-sysv", "dbus", "curl")


def systemd_tarball() -> Path:
    """Return the cached root with systemd as init (for booting with systemd-nspawn), built on the base root."""
    key = hashlib.sha1(f"{SUITE} {','.join(INCLUDE)} {','.join(SYSTEMD_PACKAGES)}".encode()).hexdigest()[:8]
    tarball = cache_dir() / f"debian-{SUITE}-systemd-{key}.tar"
    if tarball.exists():
        return tarball
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp, debian_root(Path(tmp), base_tarball()) as root:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *SYSTEMD_PACKAGES]
        if root.run(*install, env=env, check=False).returncode != 0:
            root.run("apt-get", "update", "-qq", env=env)
            root.run(*install, env=env)
        root.run("apt-get", "clean")
        subprocess.run(["umount", "-l", str(root.path / "proc")], check=False)
        partial = tarball.with_suffix(f".{os.getpid()}.partial")  # concurrent runs never share one
        subprocess.run(
            ["tar", "--one-file-system", "-C", str(root.path), "-cf", str(partial), "."],
            check=True,
            timeout=300,
        )
        partial.rename(tarball)
    return tarball


def wheelhouse() -> Path:
    """Return a directory with wheels of sensorcast's runtime dependencies (cached per dependency list)."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    key = hashlib.sha1("\n".join(sorted(deps)).encode()).hexdigest()[:8]
    path = cache_dir() / f"wheels-py{sys.version_info[0]}{sys.version_info[1]}-{key}"
    if not path.exists():
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--disable-pip-version-check",
                "--wheel-dir",
                str(partial),
                *deps,
            ],
            check=True,
            timeout=600,
        )
        try:
            partial.rename(path)
        except OSError:  # another run finished first: use its copy
            shutil.rmtree(partial, ignore_errors=True)
    return path


def build_sensorcast_wheel(out_dir: Path) -> Path:
    """Build sensorcast's wheel from this checkout, outside the working tree (no build/ or egg-info left there)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("gateway", "sensors", "bridges"):
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (REPO / name).exists():
                shutil.copy2(REPO / name, src / name)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--disable-pip-version-check",
                "--no-deps",
                "--wheel-dir",
                str(out_dir),
                str(src),
            ],
            check=True,
            timeout=300,
        )
    (wheel,) = out_dir.glob("sensorcast-*.whl")
    return wheel


class Chroot:
    """An extracted root with /proc mounted; commands run inside with a clean environment."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(
        self, *argv: str, env: dict[str, str] | None = None, check: bool = True, timeout_s: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the root; return the completed process (stdout and stderr captured)."""
        base = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
        }
        cmd = [
            "chroot",
            str(self.path),
            "/usr/bin/env",
            "-i",
            *(f"{k}={v}" for k, v in {**base, **(env or {})}.items()),
            *argv,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc

    def file(self, path: str) -> Path:
        """Return the host path of ``path`` inside the root."""
        return self.path / path.lstrip("/")

    def owner(self, path: str) -> tuple[str, str, int]:
        """Return (user, group, permission bits) of ``path``, names resolved with the root's own databases."""
        st = self.file(path).lstat()
        users = {int(f[2]): f[0] for f in self._db("etc/passwd")}
        groups = {int(f[2]): f[0] for f in self._db("etc/group")}
        return (
            users.get(st.st_uid, str(st.st_uid)),
            groups.get(st.st_gid, str(st.st_gid)),
            st.st_mode & 0o7777,
        )

    def passwd(self, name: str) -> list[str] | None:
        """Return the root's /etc/passwd fields for ``name``."""
        return next((f for f in self._db("etc/passwd") if f[0] == name), None)

    def group_members(self, name: str) -> list[str] | None:
        """Return the members of group ``name`` in the root, None when the group does not exist."""
        entry = next((f for f in self._db("etc/group") if f[0] == name), None)
        return None if entry is None else [m for m in entry[3].split(",") if m]

    def _db(self, rel: str) -> list[list[str]]:
        return [line.split(":") for line in (self.path / rel).read_text().splitlines() if line]


def allows_device_nodes(path: Path) -> bool:
    """True unless ``path``'s filesystem is mounted ``nodev`` (Debian 13's tmpfs /tmp is): device nodes there,
    such as a root's /dev/null, exist but cannot be opened."""
    return not os.statvfs(path).f_flag & os.ST_NODEV


def scratch_candidates() -> list[Path]:
    """Where a throwaway root may go when the test's own directory is on a ``nodev`` filesystem, best first:
    ``$SENSORCAST_TEST_SCRATCH``, /var/tmp (on disk, rarely nodev), the checkout's ignored build/ dir, the cache."""
    env = os.environ.get("SENSORCAST_TEST_SCRATCH")
    return [
        *([Path(env)] if env else []),
        Path("/var/tmp/sensorcast-tests"),
        REPO / "build" / "test-roots",
        cache_dir() / "roots",
    ]


def choose_scratch(
    preferred: Path, candidates: list[Path], allows: Callable[[Path], bool] = allows_device_nodes
) -> Path | None:
    """Return the first of ``preferred`` and ``candidates`` that can be created and allows device nodes."""
    for path in [preferred, *candidates]:
        try:
            path.mkdir(parents=True, exist_ok=True)
            if allows(path):
                return path
        except OSError:
            continue
    return None


def _mounted(path: Path) -> bool:
    return os.path.ismount(path)


@contextlib.contextmanager
def debian_root(parent: Path, tarball: Path | None = None) -> Iterator[Chroot]:
    """Extract a cached root (default: the base) with /proc mounted; unmount and delete it afterwards.

    The root goes under ``parent`` unless that filesystem is ``nodev``: then under the first scratch candidate
    that allows device nodes, else under ``parent`` with the host's /dev bind-mounted into it, else the test is
    skipped (saying why).
    """
    scratch = choose_scratch(parent, scratch_candidates())
    base = Path(tempfile.mkdtemp(prefix="root-", dir=scratch or parent))
    root = base / "root"
    root.mkdir()
    mounts = [root / "proc"]
    try:
        subprocess.run(
            ["tar", "-C", str(root), "-xf", str(tarball or base_tarball())], check=True, timeout=300
        )
        shutil.copy2("/etc/resolv.conf", root / "etc" / "resolv.conf")
        if scratch is None:
            bound = subprocess.run(
                ["mount", "--bind", "/dev", str(root / "dev")], capture_output=True, text=True
            )
            if bound.returncode != 0:
                import pytest

                pytest.skip(
                    f"{parent} is mounted nodev, no scratch directory allows device nodes "
                    f"({', '.join(map(str, scratch_candidates()))}), and /dev cannot be bind-mounted: "
                    f"{bound.stderr.strip()}"
                )
            mounts.insert(0, root / "dev")
        subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
        yield Chroot(root)
    finally:
        for mount in mounts:
            subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)
        if any(_mounted(m) for m in mounts):  # never delete through a mount (a bound /dev is the host's)
            raise RuntimeError(f"{root}: {', '.join(str(m) for m in mounts if _mounted(m))} still mounted")
        shutil.rmtree(base, ignore_errors=True)
