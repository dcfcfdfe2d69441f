"""Helpers of the fleet tests: real `sensorcast run` gateways, a cuttable TCP link to the broker."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path


def gateway_config(
    tmp_path: Path, gw_id: str, mqtt_port: int, interval_s: float = 0.05, extra: str = ""
) -> Path:
    """A gateway config: one synthetic sensor, one simulated relay, every reading to MQTT (no rate limit)."""
    data = tmp_path / gw_id
    data.mkdir(parents=True, exist_ok=True)
    cfg = data / "gateway.toml"
    cfg.write_text(f"""
[gateway]
id = "{gw_id}"
port = 0
data_dir = "{data / "data"}"

[[sensors]]
id = "wave"
driver = "synthetic"
interval_s = {interval_s}
fields = ["a"]

[[actuators]]
id = "relay1"
driver = "relay"
simulate = true
pin = 26
safe_value = false

[mqtt]
url = "mqtt://127.0.0.1:{mqtt_port}"
commit_interval_ms = 20
reconnect_min_s = 0.1
reconnect_max_s = 0.3
keepalive_s = 5
discovery = false
max_rate_hz = 0
{extra}
""")
    return cfg


def start_gateway(cfg: Path) -> subprocess.Popen[bytes]:
    """`python -m gateway run --config cfg` (stop it by PID)."""
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc`` (by its PID) and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Link:
    """A TCP forwarder 127.0.0.1:``port`` -> 127.0.0.1:``target`` that can be cut (every connection dropped,
    new ones refused) and restored: a gateway's network going away while the gateway keeps running."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.up = True
        self.server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> Link:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> None:
        self.up = False
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _client(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if not self.up:
            w.transport.abort()
            return
        try:
            br, bw = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            w.transport.abort()
            return
        self._writers |= {w, bw}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()

        tasks = [asyncio.ensure_future(pump(r, bw)), asyncio.ensure_future(pump(br, w))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        for x in (w, bw):
            x.transport.abort()
            self._writers.discard(x)
