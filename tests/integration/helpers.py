"""Helpers for integration tests: an in-process gateway on 127.0.0.1:0 and a frame-reading client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect

from gateway.app import GatewayApp
from gateway.config import Config, parse_config
from sensors.base import BuildContext
from sensors.health import HealthPolicy
from tests.conftest import scaled

OPERATOR = "op-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abc"
TOKENS = {
    "tokens": [
        {"name": "op", "role": "operator", "token": OPERATOR},
        {"name": "v", "role": "viewer", "token": VIEWER},
    ]
}
"""A ``[security]`` section with one operator and one viewer token."""


def make_config(**sections: Any) -> Config:
    """Build a config from section dicts; the gateway listens on 127.0.0.1 with a free port."""
    data: dict[str, Any] = {k: v for k, v in sections.items() if v is not None}
    gw = {"id": "test", "host": "127.0.0.1", "port": 0, **data.pop("gateway", {})}
    return parse_config({"gateway": gw, **data}, file="(test)")


def synthetic(
    sensor_id: str = "wave",
    interval_s: float = 0.02,
    fields: tuple[str, ...] = ("a", "b"),
) -> dict[str, Any]:
    """A synthetic sensor table."""
    return {"id": sensor_id, "driver": "synthetic", "interval_s": interval_s, "fields": list(fields)}


@contextlib.asynccontextmanager
async def running(
    config: Config, ctx: BuildContext | None = None, policy: HealthPolicy | None = None
) -> AsyncIterator[GatewayApp]:
    """Run a gateway for the duration of the block."""
    async with GatewayApp(config, ctx=ctx, health_policy=policy) as app:
        yield app


class Frames:
    """Reads decoded frames from a client connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """Return the next decoded frame."""
        raw = await asyncio.wait_for(self.ws.recv(), scaled(timeout))
        assert isinstance(raw, bytes), f"expected a binary frame, got {raw!r}"
        obj: dict[str, Any] = msgpack.unpackb(raw)
        return obj

    async def until(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """Return the first frame matching ``pred`` (others are discarded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + scaled(timeout)
        while True:
            frame = await self.next(max(0.01, deadline - loop.time()))
            if pred(frame):
                return frame

    async def send(self, obj: dict[str, Any]) -> None:
        """Send a control message as msgpack."""
        await self.ws.send(msgpack.packb(obj))


@contextlib.asynccontextmanager
async def client(url: str, **kwargs: Any) -> AsyncIterator[Frames]:
    """Connect a python-websockets client."""
    async with connect(url, **kwargs) as ws:
        yield Frames(ws)
