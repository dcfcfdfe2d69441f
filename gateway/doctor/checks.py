"""Board checks for ``sensorcast doctor``: buses enabled, device nodes and permissions, what the config needs.

Everything reads through a :class:`Host` whose roots (/sys, /dev, /proc, /etc) tests point at fixture trees.
Each check returns :class:`Finding` objects; a ``fail`` blocks the gateway from running as configured and always
carries a ``fix``.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sensors.spec import DeviceSpec

Status = Literal["ok", "info", "warn", "fail"]
HW_GROUPS = ("gpio", "i2c", "spi", "dialout")
INTERFACES = ("i2c", "spi", "serial", "1-wire", "gpio")
SERIAL_PATTERNS = (
    "serial[0-9]",
    "ttyAMA[0-9]*",
    "ttyS[0-9]*",
    "ttyTHS[0-9]*",
    "ttyUSB[0-9]*",
    "ttyACM[0-9]*",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the doctor's report.

    Attributes:
        check: short name of what was checked (``i2c``, ``port``, ``sensor env``...).
        status: ``ok``; ``info`` (nothing wrong, for context); ``warn`` (works, but worth fixing); ``fail``
            (blocks running as configured).
        summary: what was found.
        fix: what to do about it (commands to type), empty when nothing is to be done.
    """

    check: str
    status: Status
    summary: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the kernel sees it for permission checks."""

    name: str
    uid: int
    gids: frozenset[int]
    group_names: frozenset[str]


@dataclass(slots=True)
class Host:
    """The machine under examination. Tests replace the roots and the probes."""

    sys_root: Path = Path("/sys")
    dev_root: Path = Path("/dev")
    proc_root: Path = Path("/proc")
    etc_root: Path = Path("/etc")
    python_version: tuple[int, int, int] = field(
        default_factory=lambda: (sys.version_info[0], sys.version_info[1], sys.version_info[2])
    )

    def model(self) -> str:
        """The board model from the device tree ('' on a PC)."""
        try:
            return (self.proc_root / "device-tree" / "model").read_text(errors="replace").strip("\0\n ")
        except OSError:
            return ""

    def is_pi(self) -> bool:
        """True on a Raspberry Pi."""
        return "Raspberry Pi" in self.model()

    def is_jetson(self) -> bool:
        """True on an NVIDIA Jetson."""
        return "Jetson" in self.model() or "NVIDIA" in self.model()

    def nodes(self, *patterns: str) -> list[Path]:
        """Device nodes under the dev root matching shell patterns, sorted."""
        out: set[Path] = set()
        for pattern in patterns:
            out.update(self.dev_root.glob(pattern))
        return sorted(out)

    def account(self, name: str) -> Account | None:
        """Look ``name`` up in the root's passwd and group files."""
        users = _db(self.etc_root / "passwd")
        entry = next((f for f in users if f[0] == name and len(f) >= 4), None)
        if entry is None:
            return None
        gids = {int(entry[3])}
        names: set[str] = set()
        for g in _db(self.etc_root / "group"):
            if len(g) >= 4 and (name in g[3].split(",") or int(g[2]) in gids):
                gids.add(int(g[2]))
                names.add(g[0])
        return Account(name, int(entry[2]), frozenset(gids), frozenset(names))

    def group_name(self, gid: int) -> str:
        """Name of group ``gid`` in the root's group file (the number when unknown)."""
        return next(
            (g[0] for g in _db(self.etc_root / "group") if len(g) >= 3 and g[2] == str(gid)), str(gid)
        )


def _db(path: Path) -> list[list[str]]:
    try:
        return [
            line.split(":") for line in path.read_text().splitlines() if line and not line.startswith("#")
        ]
    except OSError:
        return []


# -- what the config needs ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Need:
    """An interface a configured device uses, and the node path when the config names one."""

    interface: str
    device: str
    node: str | None = None


def needs_of(spec: DeviceSpec) -> list[Need]:
    """Guess which interfaces a non-simulated device entry uses from its options (paths, bus numbers, pins)."""
    if spec.simulate:
        return []
    out: list[Need] = []
    opts = spec.options
    for value in opts.values():
        if isinstance(value, str) and value.startswith("/dev/"):
            iface = (
                "i2c"
                if value.startswith("/dev/i2c")
                else "spi"
                if value.startswith("/dev/spidev")
                else "gpio"
                if value.startswith("/dev/gpio")
                else "serial"
            )
            out.append(Need(iface, spec.id, value))
    if (
        "address" in opts
        and isinstance(opts.get("bus", 1), int)
        and not any(n.interface == "i2c" for n in out)
    ):
        out.append(Need("i2c", spec.id, f"/dev/i2c-{opts.get('bus', 1)}"))
    name = spec.driver.lower()
    if "ds18b20" in name or "w1" in name or "onewire" in name or "1wire" in name:
        out.append(Need("1-wire", spec.id))
    if any(k in opts for k in ("pin", "pins", "gpio")) and not any(n.interface == "gpio" for n in out):
        out.append(Need("gpio", spec.id))
    if any(k in opts for k in ("spi_bus", "spi_device", "chip_select")) and not any(
        n.interface == "spi" for n in out
    ):
        out.append(Need("spi", spec.id, f"/dev/spidev{opts.get('spi_bus', 0)}.{opts.get('spi_device', 0)}"))
    return out


# -- interfaces -----------------------------------------------------------------------------------------------------


def _enable_fix(host: Host, interface: str) -> str:
    if host.is_jetson():
        return {
            "serial": "the header UART is /dev/ttyTHS1: free it with  sudo systemctl disable --now nvgetty",
            "1-wire": "add a w1-gpio device-tree overlay for your pin (JetPack has none by default)",
        }.get(interface, "enable the pins with  sudo /opt/nvidia/jetson-io/jetson-io.py  and reboot")
    raspi = {"i2c": "do_i2c 0", "spi": "do_spi 0", "serial": "do_serial_hw 0", "1-wire": "do_onewire 0"}
    line = {
        "i2c": "dtparam=i2c_arm=on",
        "spi": "dtparam=spi=on",
        "serial": "enable_uart=1",
        "1-wire": "dtoverlay=w1-gpio",
    }
    if interface == "gpio":
        return "no /dev/gpiochip*: this kernel lacks the GPIO character device (CONFIG_GPIO_CDEV)"
    if host.is_pi():
        return (
            f"sudo raspi-config nonint {raspi[interface]} && sudo reboot   (or add {line[interface]} to "
            "/boot/firmware/config.txt; sudo deploy/install.sh --enable-interfaces does all four)"
        )
    if interface == "serial":
        return "plug in the USB-serial adapter, or enable the board's UART in its firmware/device tree"
    return f"enable {interface} in the board's device tree ({line[interface]} on Raspberry Pi firmware)"


def check_interfaces(host: Host, needs: Iterable[Need]) -> list[Finding]:
    """Is each bus enabled? ``fail`` when the config needs a missing one, ``info`` when nobody needs it."""
    needed: dict[str, list[str]] = {}
    for n in needs:
        needed.setdefault(n.interface, []).append(n.device)
    found: dict[str, list[str]] = {
        "i2c": [p.name for p in host.nodes("i2c-[0-9]*")],
        "spi": [p.name for p in host.nodes("spidev*")],
        "serial": [p.name for p in host.nodes(*SERIAL_PATTERNS)],
        "1-wire": sorted(p.name for p in (host.sys_root / "bus/w1/devices").glob("w1_bus_master*")),
        "gpio": [p.name for p in host.nodes("gpiochip[0-9]*")],
    }
    out: list[Finding] = []
    for iface in INTERFACES:
        users = needed.get(iface, [])
        if found[iface]:
            extra = ""
            if iface == "1-wire":
                sensors = sorted(
                    p.name for p in (host.sys_root / "bus/w1/devices").glob("[0-9a-f][0-9a-f]-*")
                )
                extra = (
                    f"; devices: {', '.join(sensors) or 'none found (check wiring and the 4.7 kΩ pull-up)'}"
                )
            out.append(Finding(iface, "ok", f"enabled: {', '.join(found[iface])}{extra}"))
            continue
        if iface == "i2c" and any((host.sys_root / "class/i2c-adapter").glob("i2c-*")):
            summary = "I2C adapters exist but no /dev/i2c-* nodes: the i2c-dev module is not loaded"
            fix = "sudo modprobe i2c-dev && echo i2c-dev | sudo tee /etc/modules-load.d/i2c-dev.conf"
        else:
            summary = f"not enabled (no {'/dev/' if iface != '1-wire' else '/sys/bus/w1 '}{iface} devices)"
            fix = _enable_fix(host, iface)
        if users:
            out.append(Finding(iface, "fail", f"{summary}; needed by {', '.join(users)}", fix))
        else:
            out.append(Finding(iface, "info", f"{summary}; not used by the config", fix))
    if found["serial"]:
        out.extend(_serial_console(host, bool(needed.get("serial"))))
    return out


def _serial_console(host: Host, needed: bool) -> list[Finding]:
    try:
        cmdline = (host.proc_root / "cmdline").read_text()
    except OSError:
        return []
    consoles = [a.split("=", 1)[1].split(",")[0] for a in cmdline.split() if a.startswith("console=")]
    serial = [c for c in consoles if c.startswith(("serial", "ttyAMA", "ttyS", "ttyTHS"))]
    if not serial:
        return []
    fix = (
        "sudo raspi-config nonint do_serial_cons 1 && sudo reboot"
        if host.is_pi()
        else f"remove console={serial[0]} from the kernel command line (and stop the getty on it)"
    )
    return [
        Finding(
            "serial console",
            "warn" if needed else "info",
            f"the kernel console uses /dev/{serial[0]}: "
            "a sensor on that UART would receive boot messages and login prompts",
            fix,
        )
    ]


# -- permissions ----------------------------------------------------------------------------------------------------


def can_open_rw(node: Path, account: Account) -> tuple[bool, str]:
    """Can ``account`` open ``node`` for reading and writing? Returns (ok, why not)."""
    try:
        st = node.stat()
    except OSError as exc:
        return False, f"{node}: {exc.strerror}"
    mode = stat.S_IMODE(st.st_mode)
    if account.uid == 0:
        return True, ""
    if st.st_uid == account.uid:
        ok = mode & 0o600 == 0o600
    elif st.st_gid in account.gids:
        ok = mode & 0o060 == 0o060
    else:
        ok = mode & 0o006 == 0o006
    return ok, "" if ok else f"mode {mode:04o} owner {st.st_uid} group {st.st_gid}"


def check_permissions(
    host: Host, user: str, needs: Iterable[Need], account_of: Callable[[str], Account | None] | None = None
) -> list[Finding]:
    """Check the service user exists, is in the hardware groups, and can open every node the config needs."""
    account = (account_of or host.account)(user)
    if account is None:
        return [
            Finding(
                "user",
                "fail",
                f"user {user!r} does not exist",
                "sudo deploy/install.sh (creates the sensorcast user), or pass --user NAME",
            )
        ]
    out: list[Finding] = []
    missing = [g for g in HW_GROUPS if g not in account.group_names]
    if account.uid == 0:
        out.append(Finding("groups", "ok", f"{user} is root: every device is accessible"))
    elif missing:
        out.append(
            Finding(
                "groups",
                "warn",
                f"{user} is not in group(s) {', '.join(missing)}",
                f"sudo usermod -aG {','.join(missing)} {user} && sudo systemctl restart sensorcast",
            )
        )
    else:
        out.append(Finding("groups", "ok", f"{user} is in {', '.join(HW_GROUPS)}"))
    patterns = {"i2c": ("i2c-[0-9]*",), "spi": ("spidev*",), "gpio": ("gpiochip[0-9]*",), "serial": ()}
    seen: set[Path] = set()
    for need in needs:
        if need.node:
            nodes = [host.dev_root / need.node.removeprefix("/dev/")]
        else:
            nodes = host.nodes(*patterns.get(need.interface, ()))
        for node in nodes:
            if node in seen or not os.path.lexists(node):
                continue  # missing nodes are the interfaces' and the sensors' findings
            seen.add(node)
            ok, why = can_open_rw(node, account)
            if ok:
                continue
            shown = f"/dev/{node.relative_to(host.dev_root)}"
            gid = node.stat().st_gid
            group = host.group_name(gid)
            if group != "root" and gid not in account.gids:
                fix = f"sudo usermod -aG {group} {user} && sudo systemctl restart sensorcast"
            else:
                fix = (
                    "install the udev rule that gives the bus groups access: sudo cp deploy/99-sensorcast.rules "
                    "/etc/udev/rules.d/ && sudo udevadm control --reload && sudo udevadm trigger"
                )
            out.append(
                Finding(
                    f"access {shown}",
                    "fail",
                    f"{user} cannot open {shown} ({why}), needed by {need.device}",
                    fix,
                )
            )
    return out


def check_data_dir(path: Path, user: str, account: Account | None) -> Finding:
    """The service user must be able to create files in the data directory (outbox, history)."""
    if not path.exists():
        return Finding(
            "data dir", "info", f"{path} does not exist yet (the service creates it: StateDirectory=)"
        )
    if account is None:
        return Finding("data dir", "info", f"{path} exists; cannot check access for unknown user {user!r}")
    st = path.stat()
    mode = stat.S_IMODE(st.st_mode)
    if (
        account.uid == 0
        or (st.st_uid == account.uid and mode & 0o300 == 0o300)
        or (st.st_uid != account.uid and st.st_gid in account.gids and mode & 0o030 == 0o030)
    ):
        return Finding("data dir", "ok", f"{path} is writable by {user}")
    return Finding(
        "data dir",
        "fail",
        f"{user} cannot write {path} (mode {mode:04o} owner {st.st_uid} group {st.st_gid})",
        f"sudo chown -R {user}:{user} {path} && sudo chmod 0750 {path}",
    )
