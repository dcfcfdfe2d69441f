"""`sensorcast doctor` against fake /sys, /dev, /proc and /etc trees: every failure it reports, with its fix."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayApp
from gateway.cli.dispatch import main
from gateway.config import load_config
from gateway.doctor import report as doctor
from gateway.doctor.checks import Finding, Host
from gateway.doctor.report import Probes, check_disk, check_port, check_service, render, run_checks
from sensors import registry

PI4 = "Raspberry Pi 4 Model B Rev 1.4"
JETSON = "NVIDIA Jetson Nano Developer Kit"
SVC_UID = os.getuid() + 4242  # the fake service user never owns the fixture files (they belong to us)


class Board:
    """A fixture board: roots under tmp_path, node files owned by us with a group id we map to names."""

    def __init__(
        self, root: Path, model: str = PI4, cmdline: str = "console=tty1 root=/dev/mmcblk0p2"
    ) -> None:
        self.root = root
        self.sys, self.dev, self.proc, self.etc = (root / n for n in ("sys", "dev", "proc", "etc"))
        for d in (self.sys, self.dev, self.proc / "device-tree", self.etc):
            d.mkdir(parents=True)
        (self.proc / "device-tree" / "model").write_text(model + "\0")
        (self.proc / "cmdline").write_text(cmdline + "\n")
        self.gid = os.getgid()  # the group our fixture nodes carry; named by group_file()
        self.user_groups = ["gpio", "i2c", "spi", "dialout"]
        self.node_group = "i2c"
        self.write_accounts()

    def write_accounts(self) -> None:
        (self.etc / "passwd").write_text(
            f"root:x:0:0::/root:/bin/sh\nsensorcast:x:{SVC_UID}:{SVC_UID}::/:/x\n"
        )
        names = {"gpio": 60001, "i2c": 60002, "spi": 60003, "dialout": 60004, "root": 60005}
        names[self.node_group] = self.gid  # the fixture nodes' real gid maps to this name
        lines = [f"{g}:x:{gid}:{'sensorcast' if g in self.user_groups else ''}" for g, gid in names.items()]
        (self.etc / "group").write_text("\n".join([*lines, f"sensorcast:x:{SVC_UID}:"]) + "\n")

    def node(self, name: str, mode: int = 0o660) -> Path:
        path = self.dev / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        path.chmod(mode)
        return path

    def host(self, python: tuple[int, int, int] = (3, 11, 2)) -> Host:
        return Host(self.sys, self.dev, self.proc, self.etc, python)

    def everything(self) -> None:
        """A Pi with every bus enabled and a 1-Wire sensor present."""
        for n in ("i2c-1", "spidev0.0", "gpiochip0", "ttyAMA0"):
            self.node(n)
        (self.dev / "serial0").symlink_to("ttyAMA0")
        (self.sys / "bus/w1/devices/w1_bus_master1").mkdir(parents=True)
        (self.sys / "bus/w1/devices/28-0316a2791aff").mkdir(parents=True)
        (self.sys / "class/thermal/thermal_zone0").mkdir(parents=True)
        (self.sys / "class/thermal/thermal_zone0/temp").write_text("48312\n")


@pytest.fixture
def board(tmp_path: Path) -> Board:
    return Board(tmp_path / "board")


@pytest.fixture(autouse=True)
def fixture_drivers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "FAMILIES", (*registry.FAMILIES, "tests.deploy.fixture_drivers"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, sensors: str, port: int | None = None, read_timeout_s: float = 0.5) -> str:
    path = tmp_path / "sensorcast.toml"
    path.write_text(
        f'[gateway]\nhost = "127.0.0.1"\nport = {port or free_port()}\ndata_dir = "{tmp_path}/data"\n'
        f"read_timeout_s = {read_timeout_s}\n{sensors}"
    )
    return str(path)


I2C_SENSOR = '[[sensors]]\nid = "env"\ndriver = "fixture_i2c"\nbus = 1\naddress = 0x76\nanswer = "{answer}"\n'
SYSFS_SENSOR = (
    '[[sensors]]\nid = "cpu"\ndriver = "fixture_sysfs"\npath = "class/thermal/thermal_zone0/temp"\n'
)


def probes(**kw: Any) -> Probes:
    base: dict[str, Any] = {
        "clock_synced": lambda: True,
        "disk_free_bytes": lambda p: 10 * 1024**3,
        "systemctl": ["false"],
        "fetch_health": lambda url: None,
    }
    return Probes(**{**base, **kw})


def by_check(findings: list[Finding]) -> dict[str, tuple[str, str, str]]:
    return {f.check: (f.status, f.summary, f.fix) for f in findings}


def test_healthy_pi_passes_every_check(board: Board, tmp_path: Path) -> None:
    """All buses on, user in every group, sensors answering: only ok lines, and the verdict says so."""
    board.everything()
    cfg = write_config(tmp_path, I2C_SENSOR.format(answer="ack") + SYSFS_SENSOR)
    findings = run_checks(cfg, board.host(), "sensorcast", probes(), service=False)
    assert [(f.check, f.status) for f in findings] == [
        ("python", "ok"),
        ("config", "ok"),
        ("i2c", "ok"),
        ("spi", "ok"),
        ("serial", "ok"),
        ("1-wire", "ok"),
        ("gpio", "ok"),
        ("groups", "ok"),
        ("sensor env", "ok"),
        ("sensor cpu", "ok"),
        ("port", "ok"),
        ("data dir", "info"),
        ("disk", "ok"),
        ("clock", "ok"),
    ]
    got = by_check(findings)
    assert got["serial"][1] == "enabled: serial0, ttyAMA0"
    assert got["1-wire"][1] == "enabled: w1_bus_master1; devices: 28-0316a2791aff"
    assert got["sensor env"][1] == "fixture_i2c: answered with 1 values"
    assert render(findings, "h").endswith("Everything needed to run is in place.\n")


def test_old_python_blocks(board: Board) -> None:
    """Python 3.9 (Jetson Nano's Ubuntu 18.04 default is 3.6) is a failure with the documented way out."""
    got = by_check(run_checks(None, board.host((3, 9, 2)), "sensorcast", probes(), service=False))
    assert got["python"] == (
        "fail",
        "Python 3.9.2 is too old: sensorcast needs >= 3.11",
        "install Python 3.11+ (docs/deploy.md, 'Older Python') and re-run deploy/install.sh --python PATH",
    )


def test_config_errors_block(board: Board, tmp_path: Path) -> None:
    """A config with mistakes fails with every key named."""
    path = tmp_path / "bad.toml"
    path.write_text("[gateway]\nport = 70000\nbogus = 1\n")
    got = by_check(run_checks(str(path), board.host(), "sensorcast", probes(), service=False))
    status, summary, fix = got["config"]
    assert status == "fail"
    assert "gateway.port: expected a port 0..65535, got 70000" in summary
    assert "gateway.bogus: unknown key" in summary
    assert fix == f"edit {path}, then: sensorcast check-config {path}"


def test_disabled_i2c_needed_by_a_sensor_on_a_pi(board: Board, tmp_path: Path) -> None:
    """No /dev/i2c-*: interface fail with the raspi-config fix, and the sensor fails pointing at it."""
    cfg = write_config(tmp_path, I2C_SENSOR.format(answer="ack"))
    got = by_check(run_checks(cfg, board.host(), "sensorcast", probes(), service=False))
    assert got["i2c"] == (
        "fail",
        "not enabled (no /dev/i2c devices); needed by env",
        "sudo raspi-config nonint do_i2c 0 && sudo reboot   (or add dtparam=i2c_arm=on to "
        "/boot/firmware/config.txt; sudo deploy/install.sh --enable-interfaces does all four)",
    )
    assert got["spi"][0] == "info"  # nobody needs SPI: not a problem
    status, summary, fix = got["sensor env"]
    assert (status, fix) == ("fail", "/dev/i2c-1 is missing: enable the bus (see the interface lines above)")
    assert "No such file or directory" in summary


def test_i2c_adapter_without_i2c_dev_module(board: Board, tmp_path: Path) -> None:
    """Adapters in sysfs but no nodes means i2c-dev is not loaded, which has its own fix."""
    (board.sys / "class/i2c-adapter/i2c-1").mkdir(parents=True)
    cfg = write_config(tmp_path, I2C_SENSOR.format(answer="ack"))
    got = by_check(run_checks(cfg, board.host(), "sensorcast", probes(), service=False))
    assert got["i2c"] == (
        "fail",
        "I2C adapters exist but no /dev/i2c-* nodes: the i2c-dev module is not loaded; needed by env",
        "sudo modprobe i2c-dev && echo i2c-dev | sudo tee /etc/modules-load.d/i2c-dev.conf",
    )


@pytest.mark.parametrize(
    ("table", "iface", "fix_start"),
    [
        (
            '[[sensors]]\nid = "adc"\ndriver = "mcp3008"\nspi_bus = 0\nspi_device = 0\n',
            "spi",
            "sudo raspi-config nonint do_spi 0",
        ),
        (
            '[[sensors]]\nid = "probe"\ndriver = "ds18b20"\n',
            "1-wire",
            "sudo raspi-config nonint do_onewire 0",
        ),
        (
            '[[sensors]]\nid = "gps"\ndriver = "nmea"\nport = "/dev/serial0"\n',
            "serial",
            "sudo raspi-config nonint do_serial_hw 0",
        ),
        ('[[sensors]]\nid = "door"\ndriver = "button"\npin = 17\n', "gpio", "no /dev/gpiochip*"),
    ],
)
def test_each_missing_bus_a_config_needs_is_a_failure(
    board: Board, table: str, iface: str, fix_start: str
) -> None:
    """SPI, 1-Wire, serial and GPIO needs are read from the entries' options and checked like I2C."""
    from gateway.config import parse_config
    from gateway.doctor.checks import check_interfaces, needs_of

    cfg = parse_config(tomllib.loads(table), file="(t)")
    needs = [n for s in cfg.sensors for n in needs_of(s)]
    got = by_check(check_interfaces(board.host(), needs))
    assert got[iface][0] == "fail"
    assert got[iface][1].endswith(f"needed by {cfg.sensors[0].id}")
    assert got[iface][2].startswith(fix_start)
    assert [s for s, _, _ in got.values()].count("fail") == 1


def test_jetson_fix_points_at_jetson_io(tmp_path: Path) -> None:
    """On a Jetson the fix for a disabled bus is jetson-io, not raspi-config."""
    b = Board(tmp_path / "j", model=JETSON)
    cfg = write_config(tmp_path, I2C_SENSOR.format(answer="ack"))
    got = by_check(run_checks(cfg, b.host(), "sensorcast", probes(), service=False, probe_sensors=False))
    assert got["i2c"][2] == "enable the pins with  sudo /opt/nvidia/jetson-io/jetson-io.py  and reboot"


def test_serial_console_on_the_uart_a_sensor_uses(tmp_path: Path) -> None:
    """console=serial0 on the kernel command line is a warning when a sensor uses the UART."""
    b = Board(tmp_path / "b", cmdline="console=serial0,115200 console=tty1 root=/dev/mmcblk0p2")
    b.everything()
    cfg = write_config(tmp_path, '[[sensors]]\nid = "gps"\ndriver = "synthetic"\nport = "/dev/serial0"\n')
    from gateway.doctor.checks import check_interfaces, needs_of

    got = by_check(check_interfaces(b.host(), needs_of(load_config(cfg).sensors[0])))
    assert got["serial console"] == (
        "warn",
        "the kernel console uses /dev/serial0: a sensor on that UART would receive boot messages and login prompts",
        "sudo raspi-config nonint do_serial_cons 1 && sudo reboot",
    )


def test_missing_service_user_blocks(board: Board) -> None:
    """A user that does not exist is a failure pointing at the installer."""
    got = by_check(run_checks(None, board.host(), "nobody-here", probes(), service=False))
    assert got["user"] == (
        "fail",
        "user 'nobody-here' does not exist",
        "sudo deploy/install.sh (creates the sensorcast user), or pass --user NAME",
    )


def test_user_not_in_bus_group_cannot_open_node(board: Board, tmp_path: Path) -> None:
    """Not in i2c: a groups warning and an access failure whose fix is usermod; the sensor probe runs as us."""
    board.user_groups = ["gpio", "spi"]
    board.write_accounts()
    board.node("i2c-1", 0o660)
    cfg = write_config(tmp_path, I2C_SENSOR.format(answer="ack"))
    got = by_check(run_checks(cfg, board.host(), "sensorcast", probes(), service=False, probe_sensors=False))
    assert got["groups"] == (
        "warn",
        "sensorcast is not in group(s) i2c, dialout",
        "sudo usermod -aG i2c,dialout sensorcast && sudo systemctl restart sensorcast",
    )
    status, summary, fix = got["access /dev/i2c-1"]
    assert status == "fail"
    assert (
        summary
        == f"sensorcast cannot open /dev/i2c-1 (mode 0660 owner {os.getuid()} group {board.gid}), needed by env"
    )
    assert fix == "sudo usermod -aG i2c sensorcast && sudo systemctl restart sensorcast"


def test_root_only_node_needs_the_udev_rule(board: Board, tmp_path: Path) -> None:
    """A node left root:root 0600 (Debian/Jetson without rules) gets the udev-rule fix, not usermod."""
    board.node_group = "root"
    board.write_accounts()
    board.node("i2c-1", 0o600)
    cfg = write_config(tmp_path, I2C_SENSOR.format(answer="ack"))
    got = by_check(run_checks(cfg, board.host(), "sensorcast", probes(), service=False, probe_sensors=False))
    assert got["access /dev/i2c-1"][2].startswith(
        "install the udev rule that gives the bus groups access: sudo cp deploy/99-sensorcast.rules /etc/udev/rules.d/"
    )


def test_sensor_not_answering_and_hanging(board: Board, tmp_path: Path) -> None:
    """A NACK (errno 121) suggests wiring and scan; a hung read is cut at read_timeout_s; a missing sysfs file
    fails; each sensor is reported on its own."""
    board.node("i2c-1")
    board.node("i2c-3")
    sensors = (
        I2C_SENSOR.format(answer="nack")
        + I2C_SENSOR.format(answer="hang").replace('"env"', '"slow"').replace("bus = 1", "bus = 3")
        + SYSFS_SENSOR
    )
    cfg = write_config(tmp_path, sensors, read_timeout_s=0.3)
    findings = run_checks(cfg, board.host(), "sensorcast", probes(), service=False)
    got = by_check(findings)
    assert got["sensor env"] == (
        "fail",
        "fixture_i2c: [Errno 121] Remote I/O error",
        "no device answered: check SDA/SCL/3.3V/GND wiring and the address; list what "
        "answers with sensorcast scan --bus 1",
    )
    assert got["sensor slow"] == (
        "fail",
        "fixture_i2c: no answer within 0.3 s",
        "no answer within 0.3 s: check wiring and power",
    )
    assert got["sensor cpu"][0] == "fail"
    assert "No such file or directory" in got["sensor cpu"][1]


def test_port_used_by_another_program(tmp_path: Path) -> None:
    """A port held by something else fails with how to find it; the same port after release is free."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = load_config(write_config(tmp_path, "", port=port))
        assert check_port(cfg, None) == Finding(
            "port",
            "fail",
            f"port {port} on 127.0.0.1 is used by another program",
            f"see which: sudo ss -ltnp 'sport = :{port}'; stop it or set [gateway] port",
        )
    assert check_port(cfg, None) == Finding("port", "ok", f"127.0.0.1:{port} is free")
    other = load_config(write_config(tmp_path, "", port=port)).with_overrides(host="192.0.2.1")
    assert check_port(other, None).summary == "192.0.2.1 is not an address of this machine"


async def test_running_gateway_is_recognised_through_healthz(board: Board, tmp_path: Path) -> None:
    """With sensorcast serving the configured port, doctor reads /healthz instead of touching the devices."""
    cfg_path = write_config(tmp_path, '[[sensors]]\nid = "wave"\ndriver = "synthetic"\ninterval_s = 0.05\n')
    cfg = load_config(cfg_path)
    async with GatewayApp(cfg) as app:
        await asyncio.sleep(0.3)
        findings = await asyncio.to_thread(
            run_checks,
            cfg_path,
            board.host(),
            "sensorcast",
            probes(fetch_health=doctor.fetch_health),
            service=False,
        )
        port = app.port
    got = by_check(findings)
    assert got["port"] == (
        "ok",
        f"127.0.0.1:{port} is served by the running sensorcast ({cfg.gateway.id})",
        "",
    )
    assert got["sensor wave"] == ("ok", "ok (reported by the running gateway)", "")


def test_clock_and_disk(tmp_path: Path) -> None:
    """Unsynced clock warns (not blocking); little disk fails, some disk warns; a missing data dir is measured
    at its nearest existing parent."""
    assert doctor.check_clock(False).status == "warn"
    assert doctor.check_clock(None).status == "info"
    assert doctor.check_clock(True) == Finding("clock", "ok", "system clock synchronised")
    seen: list[Path] = []

    def free(p: Path) -> int:
        seen.append(p)
        return 10 * 1024 * 1024

    low = check_disk(tmp_path / "data" / "sub", free)
    assert (low.status, low.summary) == (
        "fail",
        f"only 10 MiB free for {tmp_path}/data/sub (does not exist yet; measured at {tmp_path})",
    )
    assert seen == [tmp_path]
    assert check_disk(tmp_path, lambda p: 200 * 1024 * 1024).status == "warn"
    assert check_disk(tmp_path, lambda p: 2 * 1024**3) == Finding(
        "disk", "ok", f"2048 MiB free for {tmp_path}"
    )


def fake_systemctl(tmp_path: Path, enabled: str, active: str) -> list[str]:
    script = tmp_path / f"systemctl-{enabled}-{active}"
    script.write_text(
        f'#!/bin/sh\ncase "$1" in is-enabled) echo {enabled};; is-active) echo {active};; esac\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return [str(script)]


@pytest.mark.parametrize(
    ("enabled", "active", "status", "summary"),
    [
        ("enabled", "active", "ok", "sensorcast.service is active"),
        ("enabled", "failed", "fail", "sensorcast.service has failed (enabled: enabled)"),
        ("enabled", "activating", "warn", "sensorcast.service is starting (or restarting after a crash)"),
        (
            "disabled",
            "active",
            "warn",
            "sensorcast.service is active but disabled: it will not start at boot",
        ),
        ("enabled", "inactive", "warn", "sensorcast.service is inactive (enabled: enabled)"),
        ("not-found", "inactive", "info", "sensorcast.service is not installed"),
    ],
)
def test_service_states(tmp_path: Path, enabled: str, active: str, status: str, summary: str) -> None:
    """Each systemd state maps to a status and, when something is wrong, a command to run."""
    got = check_service(fake_systemctl(tmp_path, enabled, active))
    assert (got.status, got.summary) == (status, summary)
    assert bool(got.fix) == (status != "ok")


def test_cli_reports_readably_and_exits_1_on_a_blocking_problem(
    board: Board, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command prints one line per check, a fix under each problem, a verdict, and exits 1."""
    monkeypatch.setenv("SENSORCAST_SYSTEMCTL", fake_systemctl(tmp_path, "enabled", "failed")[0])
    cfg = write_config(tmp_path, I2C_SENSOR.format(answer="ack"))
    rc = main(
        [
            "doctor",
            "--config",
            cfg,
            "--sysfs-root",
            str(board.sys),
            "--devfs-root",
            str(board.dev),
            "--procfs-root",
            str(board.proc),
            "--etc-root",
            str(board.etc),
        ]
    )
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert rc == 1
    assert lines[0] == f"sensorcast doctor: {PI4}, service user sensorcast"
    assert "  FAIL  i2c " in out and "  FAIL  service " in out and "  FAIL  sensor env " in out
    for i, line in enumerate(lines):
        if line.startswith("  FAIL"):
            assert lines[i + 1].strip().startswith("fix: "), line
    assert lines[-1].startswith("3 problem(s) stop sensorcast from running as configured, ")


def test_cli_exit_0_when_only_warnings(board: Board, tmp_path: Path) -> None:
    """Warnings alone (no sensors configured) exit 0, run as a real subprocess."""
    board.everything()
    cfg = write_config(tmp_path, "")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "doctor",
            "--config",
            cfg,
            "--no-service",
            "--sysfs-root",
            str(board.sys),
            "--devfs-root",
            str(board.dev),
            "--procfs-root",
            str(board.proc),
            "--etc-root",
            str(board.etc),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "  WARN  sensors " in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("Ready to run, with ")


def test_cli_output_is_only_the_report_when_hardware_is_missing(board: Board, tmp_path: Path) -> None:
    """A sensor whose bus is absent is a FAIL line of the report; nothing else reaches stdout or stderr (the
    gateway's "hardware not available yet ... will keep trying" log line is run's business, not doctor's)."""
    cfg = write_config(tmp_path, '[[sensors]]\nid = "env"\ndriver = "bme280"\nbus = 1\naddress = 0x76\n')
    roots = ["--sysfs-root", str(board.sys), "--devfs-root", str(board.dev), "--procfs-root", str(board.proc)]
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "doctor", "--config", cfg, "--no-service", *roots],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert (proc.returncode, proc.stderr) == (1, "")
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("sensorcast doctor: ")
    assert any(line.startswith("  FAIL  sensor env ") for line in lines)
    assert "problem(s) stop sensorcast from running as configured" in lines[-1]
    assert all(line.startswith(("sensorcast doctor: ", "  ")) for line in lines[:-1]), proc.stdout


def test_data_dir_must_be_writable_by_the_service_user(board: Board, tmp_path: Path) -> None:
    """A data dir the service user cannot write fails with a chown fix; group-writable through its group is ok."""
    from gateway.doctor.checks import check_data_dir

    data = tmp_path / "data"
    data.mkdir(mode=0o750)
    data.chmod(0o750)
    account = board.host().account("sensorcast")
    st = data.stat()
    assert check_data_dir(data, "sensorcast", account) == Finding(
        "data dir",
        "fail",
        f"sensorcast cannot write {data} (mode 0750 owner {st.st_uid} group {st.st_gid})",
        f"sudo chown -R sensorcast:sensorcast {data} && sudo chmod 0750 {data}",
    )
    data.chmod(0o770)  # our gid is the fixture's i2c group, which sensorcast is in
    assert check_data_dir(data, "sensorcast", account) == Finding(
        "data dir", "ok", f"{data} is writable by sensorcast"
    )
    assert check_data_dir(tmp_path / "nope", "sensorcast", account).status == "info"
