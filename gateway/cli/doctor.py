"""``sensorcast doctor``: check this board for everything that stops a first install from working."""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import shlex
from pathlib import Path

HELP = (
    "check the board (Python, buses, permissions, sensors, port, clock, disk, service) and say how to fix it"
)
DEFAULT_CONFIG = Path("/etc/sensorcast/sensorcast.toml")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``doctor``'s options (the roots let tests, and chroots, point it at other trees)."""
    p.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help=f"config to check (default {DEFAULT_CONFIG} when it exists, else demo mode)",
    )
    p.add_argument("--user", help="account the service runs as (default: sensorcast if it exists, else you)")
    p.add_argument("--no-sensors", action="store_true", help="do not open and read the configured sensors")
    p.add_argument("--no-service", action="store_true", help="do not ask systemd about sensorcast.service")
    p.add_argument("--sysfs-root", default="/sys", metavar="DIR", help="where /sys is (default /sys)")
    p.add_argument("--devfs-root", default="/dev", metavar="DIR", help="where /dev is (default /dev)")
    p.add_argument("--procfs-root", default="/proc", metavar="DIR", help="where /proc is (default /proc)")
    p.add_argument(
        "--etc-root", default="/etc", metavar="DIR", help="where passwd and group are (default /etc)"
    )


def _default_user(etc_root: Path) -> str:
    if any(line.startswith("sensorcast:") for line in _lines(etc_root / "passwd")):
        return "sensorcast"
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def main(args: argparse.Namespace) -> int:
    """Run the checks, print the report; exit 1 when something blocks running."""
    # Imported here: every subcommand module is imported to build the parser, and the checks pull in
    # urllib.request, http.client and email, which `sensorcast run` would otherwise carry for its lifetime.
    from gateway.doctor.checks import Host
    from gateway.doctor.report import Probes, render, run_checks

    # The report is the whole output. The checks build drivers through the gateway's own code, whose log lines
    # ("sensor env: hardware not available yet ... will keep trying") are meant for a running service; here each
    # such problem is already a finding with its fix. A root handler keeps logging's last-resort stderr handler
    # out of it, and stays: a probe stuck past its timeout keeps its thread, which may still log on the way out.
    logging.getLogger().addHandler(logging.NullHandler())
    host = Host(Path(args.sysfs_root), Path(args.devfs_root), Path(args.procfs_root), Path(args.etc_root))
    config = args.config
    if config is None and DEFAULT_CONFIG.exists():
        config = str(DEFAULT_CONFIG)
    user = args.user or _default_user(host.etc_root)
    probes = Probes(systemctl=shlex.split(os.environ.get("SENSORCAST_SYSTEMCTL", "systemctl")))
    findings = run_checks(
        config, host, user, probes, probe_sensors=not args.no_sensors, service=not args.no_service
    )
    board = host.model() or "unknown board"
    print(render(findings, f"sensorcast doctor: {board}, service user {user}"), end="", flush=True)
    return 1 if any(f.status == "fail" for f in findings) else 0
