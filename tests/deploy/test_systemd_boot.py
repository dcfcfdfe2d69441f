"""The installed service under a real systemd: a Debian root booted with systemd-nspawn.

install.sh runs in the root (systemctl really enables the units), a config is dropped on /boot/firmware, and the
container boots. A probe unit inside records what systemd sees: the boot-partition import ran first, READY=1
arrived once the server listened, the sandbox is what the unit promises, and a frozen gateway is killed by the
watchdog (SIGABRT with Python stacks) and restarted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.rootfs import (
    REPO,
    Chroot,
    build_sensorcast_wheel,
    debian_root,
    ensure_tool,
    systemd_tarball,
    wheelhouse,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.geteuid() != 0, reason="systemd-nspawn needs root (CI runs the suite as root)"),
]

DROP_IN = """[Service]
# Test timings: a 4 s watchdog instead of 30 s, quick abort and restart.
WatchdogSec=4
TimeoutStopSec=5
RestartSec=1
ExecStartPost=/opt/sensorcast/venv/bin/python /usr/local/bin/sandbox-probe.py
"""
SANDBOX_PROBE = """import ctypes, errno, grp, mmap, os, pwd
from gateway.clock import clock_synced

def attempt(label, fn):
    try:
        fn()
        print("SANDBOX", label, "ok")
    except OSError as exc:
        print("SANDBOX", label, errno.errorcode.get(exc.errno, exc.errno))

print("SANDBOX clock_synced", clock_synced())
attempt("write-etc", lambda: open("/etc/sensorcast/probe", "w").close())
attempt("write-data", lambda: open("/var/lib/sensorcast/probe", "w").close())
attempt("list-home", lambda: os.listdir("/home"))
groups = ",".join(sorted(grp.getgrgid(g).gr_name for g in os.getgroups()))
print("SANDBOX user", pwd.getpwuid(os.getuid()).pw_name, groups)
attempt("read-i2c-group-file", lambda: open("/srv/i2c-only").read())
attempt("wx-mmap", lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC))
print("SANDBOX ctypes-callback", ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 7)())
"""
PROBE = """#!/bin/bash
exec > /var/log/probe.txt 2>&1
show() { systemctl show -p ActiveState -p SubState -p NRestarts -p MainPID -p StatusText "$1" | sort | tr '\\n' ' '; }
for _ in $(seq 120); do [ "$(systemctl show -p ActiveState --value sensorcast)" = active ] && break; sleep 0.5; done
echo "STATE1 $(show sensorcast)"
echo "IMPORT $(systemctl show -p ActiveState -p Result sensorcast-import | sort | tr '\\n' ' ')"
echo "HEALTH $(curl -s http://127.0.0.1:8766/healthz)"
first=$(systemctl show -p MainPID --value sensorcast)
kill -STOP "$first"   # frozen: no WATCHDOG=1 any more
for _ in $(seq 120); do
  pid=$(systemctl show -p MainPID --value sensorcast)
  active=$(systemctl show -p ActiveState --value sensorcast)
  [ "$pid" != "$first" ] && [ "$pid" != 0 ] && [ "$active" = active ] && break
  sleep 0.5
done
echo "STATE2 $(show sensorcast)"
journalctl -u sensorcast -o cat --no-pager > /var/log/journal-sensorcast.txt
systemctl poweroff
"""
PROBE_UNIT = """[Unit]
After=sensorcast.service
[Service]
Type=oneshot
ExecStart=/usr/local/bin/probe.sh
[Install]
WantedBy=multi-user.target
"""


def nspawn_ready() -> None:
    """systemd-nspawn present, and /run/systemd/nspawn on tmpfs (it refuses to clean up a disk directory)."""
    ensure_tool("systemd-nspawn", "systemd-container")
    target = Path("/run/systemd/nspawn")
    target.mkdir(parents=True, exist_ok=True)
    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    best = max(
        (m for m in mounts if str(target).startswith(m[1].rstrip("/") + "/") or str(target) == m[1]),
        key=lambda m: len(m[1]),
    )
    if best[2] not in ("tmpfs", "ramfs"):
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(target)], check=True)


@pytest.fixture
def booted_root(tmp_path: Path) -> Iterator[Chroot]:
    nspawn_ready()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for whl in wheelhouse().glob("*.whl"):
        shutil.copy2(whl, wheels)
    wheel = build_sensorcast_wheel(wheels)
    with debian_root(tmp_path, systemd_tarball()) as root:
        shutil.copytree(wheels, root.file("/wheels"))
        shutil.copytree(REPO / "deploy", root.file("/src/deploy"))
        out = root.run(
            "bash",
            "/src/deploy/install.sh",
            "--wheel",
            f"/wheels/{wheel.name}",
            "--board",
            "pi4",
            env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheels"},
        ).stdout
        assert "installed and enabled; it starts at the next boot" in out
        dropin = root.file("/etc/systemd/system/sensorcast.service.d/test.conf")
        dropin.parent.mkdir()
        dropin.write_text(DROP_IN)
        root.file("/usr/local/bin/sandbox-probe.py").write_text(SANDBOX_PROBE)
        # stands in for /dev/i2c-1 (root:i2c 0660): only the supplementary group grants access
        root.file("/srv/i2c-only").write_text("i2c\n")
        root.run("chown", "root:i2c", "/srv/i2c-only")
        root.run("chmod", "0660", "/srv/i2c-only")
        probe = root.file("/usr/local/bin/probe.sh")
        probe.write_text(PROBE)
        probe.chmod(0o755)
        root.file("/etc/systemd/system/probe.service").write_text(PROBE_UNIT)
        root.file("/etc/systemd/system/multi-user.target.wants/probe.service").symlink_to(
            "/etc/systemd/system/probe.service"
        )
        boot = root.file("/boot/firmware")
        boot.mkdir(parents=True)
        imported = (
            root.file("/etc/sensorcast/sensorcast.toml").read_text().replace("port = 8765", "port = 8766")
        )
        (boot / "sensorcast.toml").write_text(imported)
        subprocess.run(["umount", "-l", str(root.path / "proc")], check=False)  # nspawn mounts its own
        yield root


def test_boot_import_notify_sandbox_and_watchdog_restart(booted_root: Chroot) -> None:
    """Booted by systemd: boot-partition config imported first, READY after listening, sandbox in force, a frozen
    gateway killed by the watchdog with its Python stack in the journal, and restarted."""
    root = booted_root
    proc = subprocess.run(
        [
            "systemd-nspawn",
            "-D",
            str(root.path),
            "-b",
            "--register=no",
            "--keep-unit",
            "--private-network",
            # nspawn's own seccomp filter denies the @clock syscalls (adjtimex too, even read-only) to containers
            # without CAP_SYS_TIME, so keep it for the container: the unit's own filter is what gets tested (the
            # service has an empty capability set; nothing in this container sets the clock).
            "--capability=CAP_SYS_TIME",
            "--console=pipe",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    probe = root.file("/var/log/probe.txt")
    assert probe.exists(), f"the probe never ran\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    lines = {
        line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in probe.read_text().splitlines() if " " in line
    }
    journal = root.file("/var/log/journal-sensorcast.txt").read_text()

    # the boot-partition config was validated, installed and removed from FAT before the gateway started
    assert lines["IMPORT"] == "ActiveState=inactive Result=success "
    assert not root.file("/boot/firmware/sensorcast.toml").exists()
    assert "port = 8766" in root.file("/etc/sensorcast/sensorcast.toml").read_text()

    state1 = dict(
        kv.split("=", 1) for kv in re.findall(r"(\w+=(?:serving [^()]*\(1 sensors\)|\S+))", lines["STATE1"])
    )
    assert (state1["ActiveState"], state1["SubState"], state1["NRestarts"]) == ("active", "running", "0")
    assert state1["StatusText"] == "serving http://127.0.0.1:8766/ (1 sensors)"
    health = json.loads(lines["HEALTH"])
    assert (health["status"], health["sensors"]) == ("ok", {"system": "ok"})

    # Type=notify: systemd reported "Started" only after the gateway listened (printed its URLs)
    started = journal.index("Started sensorcast.service")
    assert journal.index("Dashboard: http://127.0.0.1:8766/") < started

    # the sandbox, seen from inside the service (ExecStartPost shares it)
    sandbox = [line.removeprefix("SANDBOX ") for line in journal.splitlines() if line.startswith("SANDBOX ")]
    assert sandbox[0] in ("clock_synced True", "clock_synced False")  # adjtimex allowed: never None
    assert sandbox[1:4] == ["write-etc EROFS", "write-data ok", "list-home EACCES"]
    user, groups = sandbox[4].split()[1:]
    # PrivateUsers=: the device groups are outside the namespace's map, so getgroups() shows them as nogroup -
    # yet the kernel still grants their permissions (the group-only file opens)
    assert (user, set(groups.split(","))) == ("sensorcast", {"sensorcast", "nogroup"})
    assert sandbox[5:8] == ["read-i2c-group-file ok", "wx-mmap EPERM", "ctypes-callback 7"]

    # the frozen process: watchdog timeout, SIGABRT with the faulthandler's stack, restart with a new pid
    assert "sensorcast.service: Watchdog timeout (limit 4s)!" in journal
    assert "Fatal Python error: Aborted" in journal
    assert re.search(r'File ".*/asyncio/base_events.py", line \d+ in run_forever', journal), journal[-4000:]
    assert "sensorcast.service: Failed with result 'watchdog'." in journal
    state2 = dict(
        kv.split("=", 1) for kv in re.findall(r"(\w+=(?:serving [^()]*\(1 sensors\)|\S+))", lines["STATE2"])
    )
    assert (state2["ActiveState"], state2["SubState"], state2["NRestarts"]) == ("active", "running", "1")
    assert state2["MainPID"] != state1["MainPID"]
    assert proc.returncode == 0  # the probe powered the container off cleanly
