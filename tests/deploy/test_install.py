"""deploy/install.sh and uninstall.sh run for real as root in a debootstrapped Debian bookworm chroot.

Service management is recorded instead of executed (SENSORCAST_SYSTEMCTL points at a recorder); everything else
(users, groups, venv, pip from a local wheelhouse, files, modes) happens for real inside the throwaway root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.rootfs import REPO, Chroot, build_sensorcast_wheel, debian_root, wheelhouse

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        os.geteuid() != 0, reason="chroot, mount and chown need root (CI runs the suite as root)"
    ),
]

RECORDER = """#!/bin/sh
# Records instead of executing. Mentions do_serial_hw so install.sh treats it as Bookworm's raspi-config.
echo "$*" >> /var/log/{name}.calls
"""
SYSTEMCTL_CALLS = [
    "daemon-reload",
    "enable sensorcast.service sensorcast-import.service",
    "restart sensorcast.service",
]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    for whl in wheelhouse().glob("*.whl"):
        shutil.copy2(whl, out)
    build_sensorcast_wheel(out)
    return out


@pytest.fixture
def chroot(tmp_path: Path, wheels: Path) -> Iterator[Chroot]:
    with debian_root(tmp_path) as root:
        shutil.copytree(wheels, root.file("/wheels"))
        shutil.copytree(REPO / "deploy", root.file("/src/deploy"))
        for name in ("systemctl", "raspi-config"):
            recorder = root.file(f"/usr/local/sbin/record-{name}")
            recorder.write_text(RECORDER.format(name=name))
            recorder.chmod(0o755)
        yield root


def install(root: Chroot, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    (wheel,) = (p.name for p in root.file("/wheels").glob("sensorcast-*.whl"))
    env = {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": "/wheels",
        "SENSORCAST_SYSTEMCTL": "/usr/local/sbin/record-systemctl",
    }
    return root.run(
        "bash", "/src/deploy/install.sh", "--wheel", f"/wheels/{wheel}", *args, env=env, check=check
    )


def calls(root: Chroot, name: str) -> list[str]:
    path = root.file(f"/var/log/{name}.calls")
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def tokens(root: Chroot) -> list[tuple[str, str, str]]:
    data = tomllib.loads(root.file("/etc/sensorcast/tokens.toml").read_text())
    return [(t["name"], t["role"], t["token"]) for t in data["tokens"]]


def test_install_upgrade_uninstall_purge(chroot: Chroot) -> None:
    """First install creates user, groups, files and tokens; a re-run keeps them; uninstall keeps data; purge not."""
    first = install(chroot, "--board", "pi4")

    # user and groups
    user = chroot.passwd("sensorcast")
    assert user is not None
    assert user[5:] == ["/var/lib/sensorcast", "/usr/sbin/nologin"]
    assert int(user[2]) < 1000  # a system account
    for group in ("gpio", "i2c", "spi", "dialout"):
        assert chroot.group_members(group) == ["sensorcast"], group
    # files, owners, modes
    assert chroot.owner("/etc/sensorcast") == ("root", "sensorcast", 0o750)
    assert chroot.owner("/etc/sensorcast/sensorcast.toml") == ("root", "sensorcast", 0o640)
    assert chroot.owner("/etc/sensorcast/tokens.toml") == ("root", "sensorcast", 0o640)
    assert chroot.owner("/var/lib/sensorcast") == ("sensorcast", "sensorcast", 0o750)
    assert chroot.owner("/opt/sensorcast") == ("root", "root", 0o755)
    for unit in ("sensorcast.service", "sensorcast-import.service"):
        assert chroot.owner(f"/etc/systemd/system/{unit}") == ("root", "root", 0o644)
    assert chroot.owner("/opt/sensorcast/libexec/sensorcast-import-boot-config") == ("root", "root", 0o755)
    assert (
        chroot.file("/etc/systemd/system/sensorcast.service").read_bytes()
        == (REPO / "deploy/sensorcast.service").read_bytes()
    )
    assert (
        chroot.file("/etc/sensorcast/sensorcast.toml").read_bytes()
        == (REPO / "deploy/boards/pi4.toml").read_bytes()
    )
    assert chroot.file("/etc/udev/rules.d/99-sensorcast.rules").exists()
    assert chroot.file("/etc/modules-load.d/sensorcast.conf").exists()
    assert os.readlink(chroot.file("/usr/local/bin/sensorcast")) == "/opt/sensorcast/venv/bin/sensorcast"
    # the installed program works, reads the installed config and tokens as the service user would
    assert chroot.run("sensorcast", "--version").stdout == "sensorcast 0.1.0\n"
    check = chroot.run(
        "setpriv",
        "--reuid=sensorcast",
        "--regid=sensorcast",
        "--init-groups",
        "/opt/sensorcast/venv/bin/sensorcast",
        "check-config",
        "/etc/sensorcast/sensorcast.toml",
    )
    assert check.stdout == "/etc/sensorcast/sensorcast.toml: OK (1 sensors, 0 actuators)\n"
    # tokens: one operator, one viewer, shown once with the URLs
    first_tokens = tokens(chroot)
    assert [(n, r) for n, r, _ in first_tokens] == [("operator", "operator"), ("viewer", "viewer")]
    out = first.stdout
    assert "sensorcast is running (sensorcast 0.1.0, board profile: pi4)." in out
    assert "  Dashboard: http://" in out and ":8765/" in out
    for name, _, token in first_tokens:
        assert f"    {name:<9} {token}\n" in out
    assert calls(chroot, "systemctl") == SYSTEMCTL_CALLS
    # doctor on the installed system: config, user and groups as install.sh left them
    report = chroot.run("sensorcast", "doctor", "--no-service", check=False).stdout
    assert re.search(
        r"^  ok    config +/etc/sensorcast/sensorcast.toml: 1 sensors, 0 actuators$", report, re.M
    ), report
    assert re.search(r"^  ok    groups +sensorcast is in gpio, i2c, spi, dialout$", report, re.M), report
    # the board profile starts with the host's own health sensor, which answers on any machine
    assert re.search(r"^  ok    sensor system +system: answered with \d+ values$", report, re.M), report

    # second run (upgrade): config edits, tokens and data survive; tokens are not generated again
    cfg = chroot.file("/etc/sensorcast/sensorcast.toml")
    edited = cfg.read_text().replace("port = 8765", "port = 9000")
    cfg.write_text(edited)
    chroot.file("/var/lib/sensorcast/outbox.db").write_text("data")
    second = install(chroot, "--board", "pi5")
    assert cfg.read_text() == edited
    assert tokens(chroot) == first_tokens
    assert chroot.file("/var/lib/sensorcast/outbox.db").read_text() == "data"
    assert chroot.owner("/etc/sensorcast/sensorcast.toml") == ("root", "sensorcast", 0o640)
    assert "[sensorcast] keeping existing /etc/sensorcast/sensorcast.toml" in second.stdout
    assert ":9000/" in second.stdout
    assert all(token not in second.stdout for _, _, token in first_tokens)
    assert "Log in with a token from /etc/sensorcast/tokens.toml" in second.stdout
    assert "created" not in second.stdout  # no user, group or config created again
    assert calls(chroot, "systemctl") == SYSTEMCTL_CALLS

    # the unit as installed (real ExecStart path in the root) passes systemd-analyze verify
    shutil.copytree(
        "/usr/lib/systemd/system", chroot.file("/usr/lib/systemd/system"), symlinks=True, dirs_exist_ok=True
    )
    # ExecReload runs /bin/kill (procps, priority "important": on every Debian and Raspberry Pi OS install, but
    # not in a debootstrap minbase root). Merged /usr: /bin/kill is /usr/bin/kill.
    kill = chroot.file("/usr/bin/kill")
    if not kill.exists():
        kill.write_text("#!/bin/sh\n")
        kill.chmod(0o755)
    verify = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            f"--root={chroot.path}",
            "sensorcast.service",
            "sensorcast-import.service",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (verify.returncode, verify.stderr) == (0, "")

    # uninstall keeps config, tokens, data and the user
    removed = chroot.run(
        "bash", "/src/deploy/uninstall.sh", env={"SENSORCAST_SYSTEMCTL": "/usr/local/sbin/record-systemctl"}
    )
    assert "kept /etc/sensorcast" in removed.stdout
    assert calls(chroot, "systemctl") == [
        "disable --now sensorcast.service sensorcast-import.service",
        "daemon-reload",
    ]
    assert not chroot.file("/opt/sensorcast").exists()
    assert not chroot.file("/etc/systemd/system/sensorcast.service").exists()
    assert not chroot.file("/usr/local/bin/sensorcast").is_symlink()
    assert cfg.read_text() == edited
    assert tokens(chroot) == first_tokens
    assert chroot.passwd("sensorcast") is not None

    # reinstall after uninstall picks up the kept config and tokens
    install(chroot)
    assert cfg.read_text() == edited
    assert tokens(chroot) == first_tokens

    # purge removes config, data and the sensorcast user and group, never the shared hardware groups
    chroot.run(
        "bash",
        "/opt/sensorcast/libexec/uninstall.sh",
        "--purge",
        env={"SENSORCAST_SYSTEMCTL": "/usr/local/sbin/record-systemctl"},
    )
    for path in ("/etc/sensorcast", "/var/lib/sensorcast", "/opt/sensorcast"):
        assert not chroot.file(path).exists(), path
    assert chroot.passwd("sensorcast") is None
    assert chroot.group_members("sensorcast") is None
    assert [chroot.group_members(g) for g in ("gpio", "i2c", "spi", "dialout")] == [[], [], [], []]


def test_enable_interfaces_boot_import_and_bad_config(chroot: Chroot) -> None:
    """--enable-interfaces drives raspi-config (or config.txt once); a boot-partition config is validated and
    imported; a broken one is rejected with its errors on the boot partition; a bad --config is not started."""
    env_raspi = "/usr/local/sbin/record-raspi-config"
    first = chroot.run(
        "bash",
        "/src/deploy/install.sh",
        "--wheel",
        str(next(chroot.file("/wheels").glob("sensorcast-*.whl"))).removeprefix(str(chroot.path)),
        "--enable-interfaces",
        "--board",
        "pi-zero-2w",
        env={
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": "/wheels",
            "SENSORCAST_SYSTEMCTL": "/usr/local/sbin/record-systemctl",
            "SENSORCAST_RASPI_CONFIG": env_raspi,
        },
    )
    assert calls(chroot, "raspi-config") == [
        "nonint do_i2c 0",
        "nonint do_spi 0",
        "nonint do_serial_hw 0",
        "nonint do_serial_cons 1",
        "nonint do_onewire 0",
    ]
    assert "Reboot once to activate I2C/SPI/serial/1-Wire" in first.stdout

    # without raspi-config: config.txt gets each line once, even over two runs
    bootcfg = chroot.file("/boot/firmware/config.txt")
    bootcfg.parent.mkdir(parents=True)
    bootcfg.write_text("[all]\ndtparam=audio=on\n")
    install(chroot, "--enable-interfaces")
    again = install(chroot, "--enable-interfaces")
    assert bootcfg.read_text() == (
        "[all]\ndtparam=audio=on\ndtparam=i2c_arm=on\ndtparam=spi=on\nenable_uart=1\ndtoverlay=w1-gpio\n"
    )
    assert "already enables them" in again.stdout
    assert "Reboot once" not in again.stdout

    # boot-partition import: a valid config replaces the current one and leaves no copy on FAT
    etc_cfg = chroot.file("/etc/sensorcast/sensorcast.toml")
    before = etc_cfg.read_text()
    new_cfg = before.replace("port = 8765", "port = 8888")
    chroot.file("/boot/firmware/sensorcast.toml").write_text(new_cfg)
    chroot.run("/opt/sensorcast/libexec/sensorcast-import-boot-config")
    assert etc_cfg.read_text() == new_cfg
    assert chroot.owner("/etc/sensorcast/sensorcast.toml") == ("root", "sensorcast", 0o640)
    backups = list(chroot.file("/etc/sensorcast").glob("sensorcast.toml.bak-*"))
    assert [b.read_text() for b in backups] == [before]
    assert not chroot.file("/boot/firmware/sensorcast.toml").exists()
    assert (
        "imported /boot/firmware/sensorcast.toml into /etc/sensorcast/sensorcast.toml"
        in chroot.file("/boot/firmware/sensorcast-import.log").read_text()
    )

    # a broken one is rejected: current config kept, file renamed, errors readable from a laptop
    chroot.file("/boot/firmware/sensorcast.toml").write_text("[gateway]\nport = 99999\n")
    rejected = chroot.run("/opt/sensorcast/libexec/sensorcast-import-boot-config", check=False)
    assert rejected.returncode == 1
    assert etc_cfg.read_text() == new_cfg
    assert chroot.file("/boot/firmware/sensorcast.toml.rejected").exists()
    log = chroot.file("/boot/firmware/sensorcast-import.log").read_text()
    assert "REJECTED /boot/firmware/sensorcast.toml" in log
    assert "gateway.port: expected a port 0..65535, got 99999" in log

    # a fresh install with a broken --config: installed and enabled, not started, exit 1 with the errors
    chroot.run(
        "bash",
        "/opt/sensorcast/libexec/uninstall.sh",
        "--purge",
        env={"SENSORCAST_SYSTEMCTL": "/usr/local/sbin/record-systemctl"},
    )
    calls(chroot, "systemctl")
    chroot.file("/root/bad.toml").write_text('[gateway]\nhost = "0.0.0.0"\nbogus = 1\n')
    bad = install(chroot, "--config", "/root/bad.toml", check=False)
    assert bad.returncode == 1
    assert "gateway.bogus: unknown key" in bad.stderr
    assert "installed, NOT started: fix /etc/sensorcast/sensorcast.toml" in bad.stdout
    assert calls(chroot, "systemctl") == SYSTEMCTL_CALLS[:2]
