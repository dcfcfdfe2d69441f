"""Async helpers shared by the MQTT integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bridges.mqtt.bridge import OUTBOX_FILE, MqttBridge
from bridges.mqtt.config import MqttConfig, config_from_url, parse_mqtt_config
from gateway.protocol.seam import CommandHandler, ReadingSource
from tests.conftest import scaled

ROOT = Path(__file__).resolve().parents[3]
RELAY_TOML = """
[[actuators]]
id = "relay1"
driver = "relay"
simulate = true
pin = 26
safe_value = false
"""
"""An emulated relay (safe value off), for a gateway whose shutdown must publish a safe value."""


async def until(pred: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
    """Poll ``pred`` on the loop (never blocking it) until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + scaled(timeout_s)
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {scaled(timeout_s):.1f} s waiting for {what}")
        await asyncio.sleep(0.02)


def mqtt_config(url: str, **table: Any) -> MqttConfig:
    """Bridge settings for a test broker: fast reconnects, every reading published (delivery tests count each
    one; the rate limit has its own tests in test_rate_limit.py), everything else from ``table``."""
    base = parse_mqtt_config(
        {
            "max_rate_hz": 0,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
            "commit_interval_ms": 50,
            "keepalive_s": 5,
            "connect_timeout_s": 2.0,
            **table,
        },
        None,
    )
    assert base is not None
    return config_from_url(url, base)


@contextlib.asynccontextmanager
async def bridge_running(
    cfg: MqttConfig, source: ReadingSource, commands: CommandHandler, data_dir: Path
) -> AsyncIterator[MqttBridge]:
    """Run a bridge for the duration of the block; its run() must not have ended by itself."""
    bridge = MqttBridge(cfg, source, commands, data_dir)
    task = asyncio.get_running_loop().create_task(bridge.run())
    try:
        yield bridge
        assert not task.done(), (
            f"bridge.run() ended: {task.exception() if not task.cancelled() else 'cancelled'}"
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def outbox_seqs(data_dir: Path) -> list[tuple[str, int]]:
    """(boot, seq) of every row in the outbox file, read by a separate connection."""
    with contextlib.closing(sqlite3.connect(data_dir / OUTBOX_FILE)) as db:
        return [(b, s) for b, s in db.execute("SELECT boot, seq FROM outbox ORDER BY id")]


def json_seqs(messages: list[Any], suffix: str = "/data") -> list[int]:
    """seq of every JSON data message, in arrival order."""
    return [json.loads(m.payload)["seq"] for m in messages if m.topic.endswith(suffix) and m.payload]


def gateway_toml(
    tmp_path: Path, gw_id: str, mqtt_port: int, *, interval_s: float = 0.002, extra: str = "", **mqtt: Any
) -> Path:
    """Write ``tmp_path/gw.toml`` for ``python -m gateway run`` (``tmp_path`` is created if need be): one synthetic
    sensor ``wave`` every ``interval_s`` (default 500 readings/s), data in ``tmp_path/data``, the bridge to
    127.0.0.1:``mqtt_port`` with fast reconnects, no discovery and no rate limit; ``mqtt`` adds or overrides
    [mqtt] keys (integers, strings), ``extra`` is appended TOML."""
    keys = {"reconnect_min_s": 0.1, "reconnect_max_s": 0.3, "discovery": False, "max_rate_hz": 0, **mqtt}
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "gw.toml"
    cfg.write_text(f"""
[gateway]
id = "{gw_id}"
port = 0
data_dir = "{tmp_path / "data"}"

[[sensors]]
id = "wave"
driver = "synthetic"
interval_s = {interval_s}
fields = ["a"]
{extra}
[mqtt]
url = "mqtt://127.0.0.1:{mqtt_port}"
{lines}""")
    return cfg


def spawn_gateway(cfg: Path, *args: str, stdout: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """Start ``python -m gateway run --config cfg`` with this checkout's packages first on the path."""
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(cfg), *args],
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
