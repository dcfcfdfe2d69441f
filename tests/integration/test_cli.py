"""The ``sensorcast`` command as a user runs it: demo start, signals, config errors, unsafe binds."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import scaled

SENSORCAST = [sys.executable, "-m", "gateway"]
REPO = Path(__file__).resolve().parents[2]


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
    """Start ``sensorcast run`` and return the process and the port it printed."""
    proc = subprocess.Popen(
        [*SENSORCAST, "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + scaled(20)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.match(r"Dashboard: http://127\.0\.0\.1:(\d+)/", line)
        if m:
            return proc, int(m.group(1))
    proc.kill()
    raise AssertionError(f"sensorcast did not start: {proc.stderr.read() if proc.stderr else ''}")


def write(tmp: Path, text: str) -> Path:
    path = tmp / "sensorcast.toml"
    path.write_text(text)
    return path


def test_demo_starts_streams_and_sigterm_closes_clients_with_1001_and_exits_0_within_2s() -> None:
    """`sensorcast run` (demo) serves data; SIGTERM closes clients with 1001 and exits 0 within 2 s."""
    proc, port = start("--port", "0")

    async def scenario() -> tuple[int | None, float]:
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            hello = msgpack.unpackb(await ws.recv())
            assert hello["t"] == "hello" and hello["gw"] == "demo" and hello["sensors"]
            while msgpack.unpackb(await asyncio.wait_for(ws.recv(), scaled(10)))["t"] != "data":
                pass
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), scaled(5))
            except ConnectionClosed as exc:
                return (exc.rcvd.code if exc.rcvd else None), t0
        raise AssertionError("unreachable")

    code, t0 = asyncio.run(scenario())
    rc = proc.wait(timeout=scaled(5))
    elapsed = time.monotonic() - t0
    assert code == 1001
    assert rc == 0
    assert elapsed < scaled(2.0), f"shutdown took {elapsed:.2f} s"


def test_python_m_gateway_and_console_script_agree() -> None:
    """`python -m gateway --version` works like the console script."""
    out = subprocess.run([*SENSORCAST, "--version"], capture_output=True, text=True, check=True).stdout
    assert re.fullmatch(r"sensorcast \d+\.\d+\.\d+\n", out)


def test_bare_command_prints_help_and_exits_2_without_starting_anything() -> None:
    """`sensorcast` with no command prints the help (every command listed) on stderr and exits 2 at once."""
    res = subprocess.run(SENSORCAST, capture_output=True, text=True, timeout=scaled(30))
    assert (res.returncode, res.stdout) == (2, "")
    assert res.stderr.startswith("usage: sensorcast ")
    listed = re.findall(r"^    (\S+)\s", res.stderr, re.M)
    assert listed == [
        "run",
        "check-config",
        "scan",
        "doctor",
        "bench",
        "token",
        "history",
        "fleet",
        "record",
        "replay",
    ]


def test_non_loopback_without_tokens_is_refused_unless_insecure(tmp_path: Path) -> None:
    """Binding 0.0.0.0 with no token exits 2 with an explanation; --insecure allows it explicitly."""
    cfg = write(tmp_path, '[gateway]\nid = "x"\n[[sensors]]\nid = "w"\ndriver = "synthetic"\n')
    res = subprocess.run(
        [*SENSORCAST, "run", "--config", str(cfg), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 2
    assert "gateway.host: refusing to listen on 0.0.0.0 with no token configured" in res.stderr
    assert "Traceback" not in res.stderr
    proc, port = start("--config", str(cfg), "--host", "0.0.0.0", "--port", "0", "--insecure")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=scaled(5)) == 0 and port > 0


def test_check_config_lists_every_mistake_with_file_and_key(tmp_path: Path) -> None:
    """check-config prints every error with its key path and what was expected, exit 2, never a traceback."""
    cfg = write(
        tmp_path,
        """
[gateway]
id = "Bad Id"
port = "8765"
flush_intervl_ms = 5

[limits]
max_clients = -1

[[sensors]]
id = "env"
driver = "nosuchchip"

[[sensors]]
id = "env"
driver = "synthetic"

[[sensors]]
id = "wave"
driver = "synthetic"
fields = "a"
""",
    )
    res = subprocess.run([*SENSORCAST, "check-config", str(cfg)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert lines[0] == f"{cfg}: 7 error(s)"
    assert lines[1:6] == [
        "  gateway.port: expected an integer, got '8765'",
        "  gateway.flush_intervl_ms: unknown key (did you mean 'flush_interval_ms'?); known keys: batch_size, "
        "data_dir, flush_interval_ms, host, id, port, read_timeout_s, ring_size",
        "  gateway.id: expected [a-z0-9_-], 1..64 characters, got 'Bad Id'",
        "  limits.max_clients: expected an integer >= 0, got -1",
        "  sensors[1].id: duplicate id 'env'",
    ]
    assert lines[6].startswith("  sensors[0].driver: unknown sensor driver 'nosuchchip'; known: ")
    assert "synthetic" in lines[6]
    assert lines[7] == "  sensors[2].fields: expected a list, got 'a'"
    assert "Traceback" not in res.stderr


def test_check_config_reports_driver_option_errors_and_unknown_drivers(tmp_path: Path) -> None:
    """Driver-level option errors and unknown drivers are reported with their key paths."""
    cfg = write(
        tmp_path,
        """
[[sensors]]
id = "env"
driver = "nosuchchip"

[[sensors]]
id = "wave"
driver = "synthetic"
fields = "a"
""",
    )
    res = subprocess.run([*SENSORCAST, "check-config", str(cfg)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 2, res.stderr
    assert "  sensors[0].driver: unknown sensor driver 'nosuchchip'; known: " in res.stderr
    assert "  sensors[1].fields: expected a list, got 'a'" in res.stderr
    assert "Traceback" not in res.stderr


def test_every_unknown_option_is_reported_with_a_suggestion_and_run_reports_the_same(tmp_path: Path) -> None:
    """Two typos in one sensor and one in [gateway]: check-config lists all three, each with the closest key
    and a list that includes interval_s, and `run` reports exactly the same errors (exit 2 both)."""
    cfg = write(
        tmp_path,
        """
[gateway]
prot = 8765

[[sensors]]
id = "env"
driver = "bme280"
simulate = true
intervall_s = 2.0
adress = 0x76
""",
    )
    known = (
        "address, bus, driver, history, humidity_oversampling, id, iir_filter, interval_s, mode, "
        "pressure_oversampling, simulate, standby_ms, temperature_oversampling"
    )
    res = subprocess.run([*SENSORCAST, "check-config", str(cfg)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    errors = [
        "gateway.prot: unknown key (did you mean 'port'?); known keys: batch_size, data_dir, flush_interval_ms, "
        "host, id, port, read_timeout_s, ring_size",
        f"sensors[0].intervall_s: unknown option for driver 'bme280' (did you mean 'interval_s'?); "
        f"known options: {known}",
        f"sensors[0].adress: unknown option for driver 'bme280' (did you mean 'address'?); known options: {known}",
    ]
    assert res.stderr.splitlines() == [f"{cfg}: 3 error(s)", *(f"  {e}" for e in errors)]
    run = subprocess.run(
        [*SENSORCAST, "run", "--config", str(cfg), "--port", "0"], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 2
    assert run.stderr.splitlines() == ["sensorcast: configuration error:", *(f"  {cfg}: {e}" for e in errors)]


SHIPPED = sorted(
    str(p.relative_to(REPO))
    for p in [REPO / "deploy" / "config.example.toml", *(REPO / "deploy").glob("boards/*.toml"),
              *(REPO / "deploy").glob("examples/*.toml")]
)  # fmt: skip


@pytest.mark.parametrize("path", SHIPPED)
def test_every_shipped_config_passes_check_config_as_shipped(path: str) -> None:
    """Each reference config passes check-config as it is in the repository, on any machine (exit 0, OK); a
    token file that exists only on a board is a note, not an error."""
    res = subprocess.run(
        [*SENSORCAST, "check-config", path], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(
        rf"{re.escape(path)}: OK \(\d+ sensors, \d+ actuators(, MQTT bridge)?\)\n", res.stdout
    )
    token_file = tomllib.loads((REPO / path).read_text()).get("security", {}).get("token_file")
    if token_file == "/etc/sensorcast/tokens.toml" and not Path(token_file).exists():
        assert res.stderr == (
            f"{path}: note: security.token_file /etc/sensorcast/tokens.toml does not exist on this machine; "
            "`sensorcast run` serves without tokens on loopback only and refuses 0.0.0.0 until it exists\n"
        )
    else:
        assert res.stderr == ""


def test_reference_config_runs_off_board_on_loopback(tmp_path: Path) -> None:
    """deploy/config.example.toml off-board (no token file; data_dir moved to tmp so the test writes nothing
    outside it): refused on 0.0.0.0 with the way out named, served on --host 127.0.0.1 (its missing hardware
    and broker are retried, not fatal)."""
    example = REPO / "deploy" / "config.example.toml"
    text = example.read_text()
    assert 'token_file = "/etc/sensorcast/tokens.toml"' in text
    cfg = write(
        tmp_path,
        text.replace("/etc/sensorcast/tokens.toml", str(tmp_path / "absent" / "tokens.toml")).replace(
            'data_dir = "/var/lib/sensorcast"', f'data_dir = "{tmp_path / "data"}"'
        ),
    )
    res = subprocess.run(
        [*SENSORCAST, "run", "--config", str(cfg)], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 2
    assert "refusing to listen on 0.0.0.0 with security.token_file" in res.stderr
    assert "--host 127.0.0.1" in res.stderr
    proc, port = start("--config", str(cfg), "--host", "127.0.0.1", "--port", "0")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=scaled(5)) == 0 and port > 0


def test_check_config_ok_and_syntax_error(tmp_path: Path) -> None:
    """A valid file prints OK (exit 0); a TOML syntax error names the file and line (exit 2)."""
    good = write(
        tmp_path, '[gateway]\nid = "pi"\n[[sensors]]\nid = "w"\ndriver = "synthetic"\nfields = ["a"]\n'
    )
    res = subprocess.run([*SENSORCAST, "check-config", str(good)], capture_output=True, text=True, timeout=30)
    assert (res.returncode, res.stdout.strip()) == (0, f"{good}: OK (1 sensors, 0 actuators)")
    bad = tmp_path / "bad.toml"
    bad.write_text('[gateway\nid = "pi"\n')
    res = subprocess.run([*SENSORCAST, "check-config", str(bad)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "(syntax): not valid TOML" in res.stderr and "line 1" in res.stderr


def test_port_in_use_is_a_clear_error() -> None:
    """Starting on a busy port exits 1 with one sentence naming the port: no traceback, no task "cancelled
    unexpectedly" (the sensors already started stop quietly), nothing logged above INFO."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = subprocess.run(
            [*SENSORCAST, "run", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=scaled(30),
        )
    lines = res.stderr.splitlines()
    loud = [line for line in lines if re.search(r" (WARNING|ERROR|CRITICAL) ", line)]
    said = [line for line in lines if line.startswith("sensorcast:")]
    assert (res.returncode, res.stdout, loud) == (1, "", [])
    assert said == [
        f"sensorcast: port {port} on 127.0.0.1 is already in use (another sensorcast? use --port)"
    ]
    assert "cancelled unexpectedly" not in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("seconds", [0.5])
def test_sigint_also_stops_cleanly(seconds: float) -> None:
    """Ctrl-C (SIGINT) stops the gateway with exit 0."""
    proc, _ = start("--port", "0")
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=scaled(5)) == 0


def test_shipped_example_config_is_valid(tmp_path: Path) -> None:
    """deploy/config.example.toml passes check-config (with its token file present)."""
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('[[tokens]]\nname = "op"\nrole = "operator"\ntoken = "0123456789abcdef0123"\n')
    text = (Path(__file__).parents[2] / "deploy" / "config.example.toml").read_text()
    assert 'token_file = "/etc/sensorcast/tokens.toml"' in text
    cfg = write(tmp_path, text.replace("/etc/sensorcast/tokens.toml", str(tokens)))
    res = subprocess.run([*SENSORCAST, "check-config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{cfg}: OK (3 sensors, 0 actuators, MQTT bridge)"


@pytest.mark.parametrize(
    "board", sorted(p.stem for p in (Path(__file__).parents[2] / "deploy/boards").glob("*.toml"))
)
def test_board_profiles_installed_as_live_config_are_valid(tmp_path: Path, board: str) -> None:
    """Each deploy/boards profile (what install.sh makes the live config) passes check-config."""
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('[[tokens]]\nname = "op"\nrole = "operator"\ntoken = "0123456789abcdef0123"\n')
    text = (Path(__file__).parents[2] / "deploy" / "boards" / f"{board}.toml").read_text()
    cfg = write(tmp_path, text.replace("/etc/sensorcast/tokens.toml", str(tokens)))
    res = subprocess.run([*SENSORCAST, "check-config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{cfg}: OK (1 sensors, 0 actuators)"
