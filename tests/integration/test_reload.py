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
from websockets.exceptions import ConnectionClosed

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


def _token_config(tokens: dict[str, tuple[str, str]]) -> str:
    rows = ", ".join(
        f'{{ name = "{n}", role = "{role}", token = "{tok}" }}' for n, (role, tok) in tokens.items()
    )
    return (
        '[gateway]\nid = "r"\nhost = "127.0.0.1"\n'
        f"[security]\ntokens = [{rows}]\n"
        '[[sensors]]\nid = "one"\ndriver = "synthetic"\ninterval_s = 0.05\nfields = ["a"]\n'
        '[[actuators]]\nid = "relay1"\ndriver = "relay"\nsimulate = true\npin = 26\nmin_interval_s = 0.02\n'
    )


async def _control_frames(ws: Any, until: str, timeout_s: float) -> tuple[list[dict[str, Any]], Any]:
    """Frames other than data/agg until one of type ``until`` arrives or the connection closes; returns them and
    the close frame (None when still open)."""
    seen: list[dict[str, Any]] = []
    try:
        while True:
            frame = msgpack.unpackb(await asyncio.wait_for(ws.recv(), timeout_s))
            if frame["t"] in ("data", "agg"):
                continue
            seen.append(frame)
            if frame["t"] == until:
                return seen, None
    except ConnectionClosed:
        return seen, ws.protocol.close_rcvd


def test_sighup_closes_sessions_of_removed_tokens_and_demotes_changed_roles(tmp_path: Path) -> None:
    """A reload that removes a token closes the sessions that showed it (subprotocol or first-message auth) with
    error auth_revoked and close 4401; a token whose role became viewer leaves its session open but unable to
    command; the unchanged token's session keeps streaming and commanding; new connections use the new table."""
    tok = {name: f"{name}-token-{'x' * 12}" for name in ("keep", "demote", "gonefm", "gonebearer", "fresh")}
    before = {
        "keep": ("operator", tok["keep"]),
        "demote": ("operator", tok["demote"]),
        "gonefm": ("viewer", tok["gonefm"]),
        "gonebearer": ("operator", tok["gonebearer"]),
    }
    after = {"keep": before["keep"], "demote": ("viewer", tok["demote"]), "fresh": ("viewer", tok["fresh"])}
    path = tmp_path / "sensorcast.toml"
    path.write_text(_token_config(before))
    proc, port = start("--config", str(path), "--port", "0")
    url = f"ws://127.0.0.1:{port}/"
    try:

        async def bearer(name: str) -> Any:
            ws = await connect(url, subprotocols=[f"bearer.{tok[name]}", "sensorcast.v1"])  # type: ignore[list-item]
            return ws

        async def scenario() -> dict[str, Any]:
            out: dict[str, Any] = {}
            keep, demote, gone_b = await bearer("keep"), await bearer("demote"), await bearer("gonebearer")
            gone_fm = await connect(url)
            await gone_fm.send(msgpack.packb({"t": "auth", "id": 1, "token": tok["gonefm"]}))
            conns = {"keep": keep, "demote": demote, "gonebearer": gone_b, "gonefm": gone_fm}
            for name, ws in conns.items():
                frames, _ = await _control_frames(ws, "hello", scaled(5))
                out[f"{name}-before"] = [f.get("role", f.get("op")) for f in frames]
            await demote.send(msgpack.packb({"t": "command", "id": 2, "target": "relay1", "value": True}))
            out["demote-command-before"] = (await _control_frames(demote, "result", scaled(5)))[0][-1]["ok"]
            path.write_text(_token_config(after))
            proc.send_signal(signal.SIGHUP)
            for name in ("gonebearer", "gonefm"):
                frames, close = await _control_frames(conns[name], "never", scaled(5))
                out[f"{name}-after"] = (
                    [(f["t"], f["code"], f["msg"]) for f in frames],
                    close.code,
                    close.reason,
                )
            frames, _ = await _control_frames(demote, "status", scaled(5))
            out["demote-after"] = frames[-1].get("role")
            await asyncio.sleep(0.05)  # relay1's min_interval_s
            await demote.send(msgpack.packb({"t": "command", "id": 3, "target": "relay1", "value": False}))
            result = (await _control_frames(demote, "result", scaled(5)))[0][-1]
            out["demote-command-after"] = (result["ok"], result["error"])
            await keep.send(msgpack.packb({"t": "command", "id": 4, "target": "relay1", "value": False}))
            out["keep-command-after"] = (await _control_frames(keep, "result", scaled(5)))[0][-1]["ok"]
            while msgpack.unpackb(await asyncio.wait_for(keep.recv(), scaled(5)))["t"] != "data":
                pass
            out["keep-streams"] = True
            async with connect(url, subprotocols=[f"bearer.{tok['gonebearer']}"]) as ws:  # type: ignore[list-item]
                frames, close = await _control_frames(ws, "never", scaled(5))
                out["gone-reconnect"] = ([f["code"] for f in frames], close.code)
            async with connect(url, subprotocols=[f"bearer.{tok['fresh']}"]) as ws:  # type: ignore[list-item]
                out["fresh"] = (await _control_frames(ws, "hello", scaled(5)))[0][-1]["role"]
            for ws in (keep, demote):
                await ws.close()
            return out

        out = asyncio.run(scenario())
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=scaled(10))
    revoked = ([("error", "auth_revoked", "token revoked")], 4401, "token revoked")
    assert out == {
        "keep-before": ["operator"],
        "demote-before": ["operator"],
        "gonebearer-before": ["operator"],
        "gonefm-before": ["auth", "viewer"],
        "demote-command-before": True,
        "gonebearer-after": revoked,
        "gonefm-after": revoked,
        "demote-after": "viewer",
        "demote-command-after": (False, "operator role required"),
        "keep-command-after": True,
        "keep-streams": True,
        "gone-reconnect": (["auth_failed"], 1008),
        "fresh": "viewer",
    }
    assert proc.returncode == 0
    assert [line.split(": ", 1)[-1] for line in err.splitlines() if "reload:" in line] == [
        "reload: closed 2 session(s) whose token was revoked; 1 changed role",
        "reload: tokens rotated",
    ]
