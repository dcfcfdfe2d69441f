"""``sensorcast doctor``: everything that makes a first install fail, each with how to fix it.

Checks: Python version, config, buses enabled, service user and device permissions, configured sensors answering,
listen port, clock synchronisation, disk space for the data directory, service state. The board-level checks are
in :mod:`gateway.doctor.checks`; this module adds the rest, runs them and renders the report.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import json
import shutil
import socket
import ssl
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gateway.clock import clock_synced
from gateway.config import Config, ConfigErrors, load_config
from gateway.doctor.checks import (
    Finding,
    Host,
    Need,
    Status,
    check_data_dir,
    check_interfaces,
    check_permissions,
    needs_of,
)
from sensors.errors import SensorTimeout

MIN_PYTHON = (3, 11)
DISK_FAIL_BYTES = 50 * 1024 * 1024
"""Below this the outbox and history cannot be written safely: blocks running."""
DISK_WARN_BYTES = 500 * 1024 * 1024
"""Below this an MQTT outage of a few days could fill the disk."""
HEALTH_TIMEOUT_S = 2.0
"""How long to wait for a running gateway's /healthz."""
SYMBOLS = {"ok": "ok  ", "info": "--  ", "warn": "WARN", "fail": "FAIL"}


@dataclass(slots=True)
class Probes:
    """The I/O doctor performs besides reading files; tests swap them for deterministic ones."""

    clock_synced: Callable[[], bool | None] = clock_synced
    disk_free_bytes: Callable[[Path], int] = lambda p: shutil.disk_usage(p).free
    systemctl: list[str] = field(default_factory=lambda: ["systemctl"])
    fetch_health: Callable[[str], dict[str, Any] | None] = lambda url: fetch_health(url)


def fetch_health(url: str) -> dict[str, Any] | None:
    """The /healthz document a running gateway serves at ``url`` (loopback; its own certificate), or None."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # our own self-signed certificate on loopback
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_S, context=ctx) as resp:
            body = json.loads(resp.read(65536))
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) and "gateway" in body else None


# -- individual checks ----------------------------------------------------------------------------------------------


def check_python(version: tuple[int, int, int]) -> Finding:
    """Python >= 3.11."""
    text = ".".join(map(str, version))
    if version[:2] >= MIN_PYTHON:
        return Finding("python", "ok", f"Python {text}")
    return Finding(
        "python",
        "fail",
        f"Python {text} is too old: sensorcast needs >= 3.11",
        "install Python 3.11+ (docs/deploy.md, 'Older Python') and re-run deploy/install.sh --python PATH",
    )


def check_config(path: str | None) -> tuple[Finding, Config | None]:
    """Load and validate the config."""
    if path is None:
        return Finding(
            "config",
            "info",
            "no config given and no /etc/sensorcast/sensorcast.toml: demo mode "
            "(deploy/install.sh creates one; or pass --config FILE)",
        ), None
    try:
        cfg = load_config(path)
    except ConfigErrors as exc:
        lines = "; ".join(f"{e.key}: {e.message}" for e in exc.errors)
        unreadable = any("permission denied" in e.message.lower() for e in exc.errors)
        fix = (
            "run it as root: sudo sensorcast doctor"
            if unreadable
            else f"edit {path}, then: sensorcast check-config {path}"
        )
        return Finding("config", "fail", f"{path}: {lines}", fix), None
    return Finding("config", "ok", f"{path}: {len(cfg.sensors)} sensors, {len(cfg.actuators)} actuators"), cfg


def _loopback_url(cfg: Config, path: str) -> str:
    host = cfg.gateway.host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::", "localhost") else f"[{host}]" if ":" in host else host
    scheme = "https" if cfg.security.tls_cert else "http"
    return f"{scheme}://{host}:{cfg.gateway.port}{path}"


def check_port(cfg: Config, health: dict[str, Any] | None) -> Finding:
    """Can the gateway listen where the config says (or is it sensorcast already listening there)?"""
    host, port = cfg.gateway.host, cfg.gateway.port
    if port == 0:
        return Finding("port", "ok", "port 0: a free port is picked at start")
    if health is not None:
        return Finding(
            "port", "ok", f"{host}:{port} is served by the running sensorcast ({health['gateway']})"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return Finding(
                    "port",
                    "fail",
                    f"port {port} on {host} is used by another program",
                    f"see which: sudo ss -ltnp 'sport = :{port}'; stop it or set [gateway] port",
                )
            if exc.errno == errno.EADDRNOTAVAIL:
                return Finding(
                    "port",
                    "fail",
                    f"{host} is not an address of this machine",
                    'set [gateway] host = "0.0.0.0" (all interfaces) or one of `hostname -I`',
                )
            if exc.errno == errno.EACCES:
                return Finding(
                    "port",
                    "fail",
                    f"port {port} needs privileges the service does not have",
                    "use a port >= 1024 (default 8765)",
                )
            return Finding(
                "port", "fail", f"cannot listen on {host}:{port}: {exc.strerror}", "check [gateway]"
            )
    return Finding("port", "ok", f"{host}:{port} is free")


def check_clock(synced: bool | None) -> Finding:
    """Is the wall clock synchronised? (Not blocking: readings are flagged until it is.)"""
    if synced is None:
        return Finding("clock", "info", "cannot tell whether the clock is synchronised (not Linux?)")
    if synced:
        return Finding("clock", "ok", "system clock synchronised")
    return Finding(
        "clock",
        "warn",
        "system clock NOT synchronised: readings are flagged clock_synced=false and "
        "timestamps may be far off (a Pi has no RTC)",
        "check the network and `timedatectl timesync-status`; sudo timedatectl set-ntp true; "
        "offline boards: add an RTC (DS3231) or a GPS with PPS",
    )


def check_disk(data_dir: Path, free_of: Callable[[Path], int]) -> Finding:
    """Free space where the data directory lives."""
    probe = data_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = free_of(probe)
    except OSError as exc:
        return Finding("disk", "warn", f"cannot measure free space at {probe}: {exc.strerror}")
    mib = free / (1024 * 1024)
    where = f"{data_dir}" + ("" if probe == data_dir else f" (does not exist yet; measured at {probe})")
    if free < DISK_FAIL_BYTES:
        return Finding(
            "disk",
            "fail",
            f"only {mib:.0f} MiB free for {where}",
            "free space (sudo journalctl --vacuum-size=50M; sudo apt clean) or move data_dir",
        )
    if free < DISK_WARN_BYTES:
        return Finding(
            "disk",
            "warn",
            f"{mib:.0f} MiB free for {where}: an MQTT outage could fill it",
            "free space or use a larger SD card",
        )
    return Finding("disk", "ok", f"{mib:.0f} MiB free for {where}")


def check_service(systemctl: list[str], unit: str = "sensorcast.service") -> Finding:
    """State of the systemd unit."""

    def ask(*args: str) -> str:
        try:
            return subprocess.run(
                [*systemctl, *args, unit], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    enabled, active = ask("is-enabled"), ask("is-active")
    if not enabled and not active:
        return Finding("service", "info", "systemd not available here")
    if enabled in ("not-found", "") and active in ("inactive", "unknown", ""):
        return Finding(
            "service",
            "info",
            f"{unit} is not installed",
            "sudo deploy/install.sh (installs, enables and starts it)",
        )
    if active == "failed":
        return Finding(
            "service",
            "fail",
            f"{unit} has failed (enabled: {enabled})",
            "see why: journalctl -u sensorcast -n 50; then: sudo systemctl reset-failed sensorcast && "
            "sudo systemctl restart sensorcast",
        )
    if active in ("active", "reloading"):
        note = "" if enabled == "enabled" else f" but {enabled}: it will not start at boot"
        status: Status = "ok" if enabled == "enabled" else "warn"
        return Finding(
            "service",
            status,
            f"{unit} is {active}{note}",
            "" if status == "ok" else "sudo systemctl enable sensorcast",
        )
    if active == "activating":
        return Finding(
            "service",
            "warn",
            f"{unit} is starting (or restarting after a crash)",
            "watch it: journalctl -u sensorcast -f",
        )
    return Finding(
        "service", "warn", f"{unit} is {active} (enabled: {enabled})", "sudo systemctl start sensorcast"
    )


def _explain(exc: BaseException, need: list[Need], timeout_s: float) -> str:
    if isinstance(exc, SensorTimeout | TimeoutError):
        return f"no answer within {timeout_s} s: check wiring and power"
    code = getattr(exc, "errno", None)
    node = next((n.node for n in need if n.node), None)
    if code == errno.ENOENT:
        return f"{node or 'its device'} is missing: enable the bus (see the interface lines above)"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied: see the access lines above (groups, udev rule)"
    if code in (errno.EREMOTEIO, errno.ENXIO):
        bus = node.removeprefix("/dev/i2c-") if node and node.startswith("/dev/i2c-") else "N"
        return (
            f"no device answered: check SDA/SCL/3.3V/GND wiring and the address; list what answers with "
            f"sensorcast scan --bus {bus}"
        )
    if code == errno.EBUSY:
        return "the device is busy: another program (or a kernel driver) holds it"
    return "check wiring and the entry's options (docs/sensors.md)"


def check_sensors(cfg: Config, host: Host, health: dict[str, Any] | None) -> list[Finding]:
    """Does each configured sensor answer? From the running gateway's /healthz if there is one, else by
    opening and reading each sensor once (never while the service holds the devices)."""
    if not cfg.sensors:
        return [
            Finding(
                "sensors",
                "warn",
                "no [[sensors]] configured: the dashboard will be empty",
                "add [[sensors]] entries (deploy/boards/*.toml, docs/sensors.md)",
            )
        ]
    if health is not None:
        out = []
        for sid, state in health.get("sensors", {}).items():
            status: Status = "ok" if state == "ok" else "fail"
            out.append(
                Finding(
                    f"sensor {sid}",
                    status,
                    f"{state} (reported by the running gateway)",
                    "" if status == "ok" else "journalctl -u sensorcast | grep " + sid,
                )
            )
        return out
    from gateway.devices import build_context, build_devices

    ctx = build_context(
        sysfs_root=str(host.sys_root), procfs_root=str(host.proc_root), devfs_root=str(host.dev_root)
    )
    timeout_s = cfg.gateway.read_timeout_s
    out = []
    try:
        sensors, _ = build_devices(replace(cfg, actuators=()), ctx)
    except ConfigErrors as exc:
        return [Finding("sensors", "fail", str(exc), "fix the config (sensorcast check-config)")]
    specs = {s.id: s for s in cfg.sensors}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="doctor")
    for sensor in sensors:
        sid = sensor.info.id
        spec = specs[sid]

        def probe(sensor: Any = sensor) -> int:
            sensor.open()
            return len(sensor.read())

        fut = pool.submit(probe)
        try:
            count = fut.result(timeout=timeout_s)
        except Exception as exc:  # reporting every failure is the point of doctor
            if isinstance(exc, concurrent.futures.TimeoutError):
                exc = SensorTimeout(f"no answer within {timeout_s} s")
                pool.shutdown(wait=False)  # a stuck read keeps its thread; the next sensors get a fresh one
                pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="doctor")
            out.append(
                Finding(
                    f"sensor {sid}", "fail", f"{spec.driver}: {exc}", _explain(exc, needs_of(spec), timeout_s)
                )
            )
        else:
            sim = " (simulated)" if spec.simulate else ""
            out.append(Finding(f"sensor {sid}", "ok", f"{spec.driver}{sim}: answered with {count} values"))
        finally:
            with contextlib.suppress(Exception):  # closing after a failed probe is best effort
                sensor.close()
    pool.shutdown(wait=False)
    ctx.close()
    return out


# -- running and reporting ------------------------------------------------------------------------------------------


def run_checks(
    config_path: str | None,
    host: Host,
    user: str,
    probes: Probes,
    *,
    probe_sensors: bool = True,
    service: bool = True,
) -> list[Finding]:
    """Run every check in the order a user would fix things."""
    findings = [check_python(host.python_version)]
    cfg_finding, cfg = check_config(config_path)
    findings.append(cfg_finding)
    specs = [*cfg.sensors, *cfg.actuators] if cfg else []
    needs = [n for s in specs for n in needs_of(s)]
    findings += check_interfaces(host, needs)
    findings += check_permissions(host, user, needs)
    health = probes.fetch_health(_loopback_url(cfg, "/healthz")) if cfg is not None else None
    if cfg is not None:
        if probe_sensors:
            findings += check_sensors(cfg, host, health)
        findings.append(check_port(cfg, health))
        findings.append(check_data_dir(cfg.gateway.data_dir, user, host.account(user)))
        findings.append(check_disk(cfg.gateway.data_dir, probes.disk_free_bytes))
    findings.append(check_clock(probes.clock_synced()))
    if service:
        findings.append(check_service(probes.systemctl))
    return findings


def render(findings: list[Finding], header: str) -> str:
    """The human report: one line per finding, its fix indented under it, and a verdict."""
    width = max((len(f.check) for f in findings), default=0)
    lines = [header]
    for f in findings:
        lines.append(f"  {SYMBOLS[f.status]}  {f.check:<{width}}  {f.summary}")
        if f.fix and f.status in ("warn", "fail"):
            lines.append(f"        {'':<{width}}  fix: {f.fix}")
    fails = sum(f.status == "fail" for f in findings)
    warns = sum(f.status == "warn" for f in findings)
    if fails:
        lines.append(f"{fails} problem(s) stop sensorcast from running as configured, {warns} warning(s).")
    elif warns:
        lines.append(f"Ready to run, with {warns} warning(s).")
    else:
        lines.append("Everything needed to run is in place.")
    return "\n".join(lines) + "\n"
