"""SIGHUP on a real `sensorcast run`: the config is reloaded (sensors and tokens) while a client stays connected,
what changed is logged, and an invalid config is refused while the previous one keeps serving."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgpack
from websockets.asyncio.client import connect

from tests.conftest import scaled
from tests.integration.test_cli import start

TOKEN = "reload-token-" + "x" * 8


def _config(sensors: list[str], port_line: str = "") -> str:
    tables = "".join(
        f'[[sensors]]\nid = "{sid}"\ndriver = "synthetic"\ninterval_s = 0.05\nfields = ["a"]\n'
        for sid in sensors
    )
    return (
        f'[gateway]\nid = "r"\nhost = "127.0.0.1"\n{port_line}\n'
        f'[security]\ntokens = [{{ name = "op", role = "operator", token = "{TOKEN}" }}]\n{tables}'
    )


def _healthz(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=scaled(5)) as r:
        doc: dict[str, Any] = json.loads(r.read())
    return doc


def _wait_sensors(port: int, want: list[str]) -> list[str]:
    deadline = time.monotonic() + scaled(10)
    got: list[str] = []
    while time.monotonic() < deadline:
        got = sorted(_healthz(port)["sensors"])
        if got == want:
            return got
        time.sleep(0.05)
    return got


def test_sighup_reloads_sensors_keeps_the_client_and_refuses_a_broken_config(tmp_path: Path) -> None:
    """SIGHUP adds and removes sensors (the client keeps receiving data over the same connection and the log
    says what changed); after a broken edit, SIGHUP logs the mistake and the previous sensors keep serving."""
    path = tmp_path / "sensorcast.toml"
    path.write_text(_config(["one", "two"]))
    proc, port = start("--config", str(path), "--port", "0")
    try:

        async def scenario() -> list[list[str]]:
            steps = []
            async with connect(f"ws://127.0.0.1:{port}/", subprotocols=[f"bearer.{TOKEN}"]) as ws:  # type: ignore[list-item]
                assert msgpack.unpackb(await ws.recv())["t"] == "hello"
                steps.append(_wait_sensors(port, ["one", "two"]))
                (tmp_path / "conf.d").mkdir()
                (tmp_path / "conf.d" / "10-three.toml").write_text(
                    '[[sensors]]\nid = "three"\ndriver = "synthetic"\ninterval_s = 0.05\nfields = ["a"]\n'
                )
                path.write_text(_config(["one"]))
                proc.send_signal(signal.SIGHUP)
                steps.append(await asyncio.to_thread(_wait_sensors, port, ["one", "three"]))
                path.write_text(_config(["one"]) + "[gateway\n")  # not TOML any more
                proc.send_signal(signal.SIGHUP)
                await asyncio.sleep(scaled(1.0))
                steps.append(sorted(_healthz(port)["sensors"]))
                while msgpack.unpackb(await asyncio.wait_for(ws.recv(), scaled(5)))["t"] != "data":
                    pass  # the same connection still streams
            return steps

        steps = asyncio.run(scenario())
        assert steps == [["one", "two"], ["one", "three"], ["one", "three"]]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=scaled(10))
    assert proc.returncode == 0
    reload_lines = [line.split(": ", 1)[-1] for line in err.splitlines() if "reload" in line]
    assert reload_lines[0] == "reload: added three; removed two"
    assert reload_lines[1] == "reload refused, still serving the previous config: 1 mistake(s)"
    assert "not valid TOML" in err
    assert "cancelled unexpectedly" not in err
