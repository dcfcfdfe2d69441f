"""tests/deploy/rootfs.py: throwaway roots land on a filesystem that allows device nodes, even when the test's
own directory (under a nodev /tmp, as on Debian 13) does not."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.rootfs import allows_device_nodes, choose_scratch, debian_root


def test_choose_scratch_prefers_the_given_directory_when_it_allows_device_nodes(tmp_path: Path) -> None:
    """The test's own directory is used when its filesystem allows device nodes."""
    seen: list[str] = []

    def allows(path: Path) -> bool:
        seen.append(path.name)
        return True

    assert choose_scratch(tmp_path / "own", [tmp_path / "a"], allows) == tmp_path / "own"
    assert seen == ["own"]


def test_choose_scratch_skips_nodev_and_uncreatable_directories_in_order(tmp_path: Path) -> None:
    """nodev candidates and ones that cannot be created are passed over; the first good one wins."""
    blocker = tmp_path / "file"
    blocker.write_text("")  # a directory cannot be created below a regular file
    nodev = {"own", "nodev"}
    seen: list[str] = []

    def allows(path: Path) -> bool:
        seen.append(path.name)
        return path.name not in nodev

    candidates = [tmp_path / "nodev", blocker / "sub", tmp_path / "good", tmp_path / "later"]
    assert choose_scratch(tmp_path / "own", candidates, allows) == tmp_path / "good"
    assert seen == ["own", "nodev", "good"]
    assert not (tmp_path / "later").exists()


def test_choose_scratch_returns_none_when_nothing_allows_device_nodes(tmp_path: Path) -> None:
    """With every candidate nodev the answer is None (debian_root then bind-mounts /dev, or skips)."""
    assert choose_scratch(tmp_path / "own", [tmp_path / "a", tmp_path / "b"], lambda p: False) is None


@pytest.fixture
def nodev_dir(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs mounted nodev, as Debian 13's /tmp."""
    if os.geteuid() != 0:
        pytest.skip("mounting a nodev tmpfs needs root (CI runs the suite as root)")
    path = tmp_path / "nodev"
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "nodev,size=1g", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def test_allows_device_nodes_reads_the_nodev_mount_flag(nodev_dir: Path, tmp_path: Path) -> None:
    """statvfs's ST_NODEV tells a nodev mount from one that allows device nodes."""
    dev = tmp_path / "dev"
    dev.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "dev,size=16m", "tmpfs", str(dev)], check=True)
    try:
        assert (allows_device_nodes(nodev_dir), allows_device_nodes(dev)) == (False, True)
    finally:
        subprocess.run(["umount", "-l", str(dev)], check=True)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_root_asked_for_under_a_nodev_directory_has_a_working_dev_null(nodev_dir: Path) -> None:
    """debian_root under a nodev directory still gives a root whose /dev/null can be written (the installer and
    apt need it), and cleans up after itself."""
    with debian_root(nodev_dir) as root:
        out = root.run("sh", "-c", "echo discarded > /dev/null && echo ok")
        assert (out.returncode, out.stdout, out.stderr) == (0, "ok\n", "")
        path = root.path
    assert not path.exists()
    assert list(nodev_dir.iterdir()) == []


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_with_no_scratch_allowing_device_nodes_the_root_gets_the_hosts_dev_bind_mounted(
    nodev_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When no candidate allows device nodes, the root under the nodev directory gets the host's /dev
    bind-mounted; it works, and is unmounted (never deleted through) afterwards."""
    from tests.deploy import rootfs

    monkeypatch.setattr(rootfs, "scratch_candidates", lambda: [nodev_dir / "also-nodev"])
    with debian_root(nodev_dir) as root:
        assert os.path.ismount(root.file("/dev"))
        out = root.run("sh", "-c", "echo discarded > /dev/null && echo ok")
        assert (out.returncode, out.stdout, out.stderr) == (0, "ok\n", "")
        path = root.path
    assert not path.exists()
    assert Path("/dev/null").is_char_device()
    assert sorted(p.name for p in nodev_dir.iterdir()) == ["also-nodev"]
