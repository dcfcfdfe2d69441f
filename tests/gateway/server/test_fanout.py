"""FanOut with real WebSocket connections on loopback: a group that takes every reading gets the hub's own
encoding of the batch, a group with a narrower subscription gets its own frame, and the sent counter adds up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgpack
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.protocol import OPEN

from gateway.config import Limits
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.protocol.control import SubscribeEntry
from gateway.protocol.subscription import SubscriptionSet
from gateway.protocol.wire import encode_data
from gateway.server.fanout import Client, FanOut
from gateway.server.frames import FastPath, write_to_all


class Rig:
    """A hub feeding a FanOut whose clients are real server-side connections."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.hub = Hub("gw", "boot", flush_interval_ms=10_000, batch_size=3, metrics=self.metrics)
        self.fan = FanOut(self.metrics)
        self.hub.add_encoded_sink(self.fan.on_batch)
        self.frames: list[bytes] = []
        self.hub.add_encoded_sink(lambda batch, frame: self.frames.append(frame))
        self.joined: asyncio.Queue[Client] = asyncio.Queue()

    async def handler(self, conn: ServerConnection) -> None:
        client = Client(conn, Limits(), self.metrics, None)
        await self.joined.put(client)
        await conn.wait_closed()
        self.fan.remove(client)


@pytest.fixture
async def rig() -> AsyncIterator[tuple[Rig, int]]:
    r = Rig()
    async with serve(r.handler, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield r, port


async def join(rig: Rig, port: int, *paths: str) -> tuple[ClientConnection, Client]:
    """Connect a client and subscribe its server side to ``paths``."""
    ws = await connect(f"ws://127.0.0.1:{port}/", compression=None)
    client = await asyncio.wait_for(rig.joined.get(), 5)
    client.subs = SubscriptionSet([SubscribeEntry(p) for p in paths])
    rig.fan.add(client)
    return ws, client


async def test_everything_group_sends_the_hubs_bytes_and_narrow_groups_their_own(
    rig: tuple[Rig, int],
) -> None:
    """Two clients subscribed to everything get the data frame the hub encoded, byte for byte; a client that asked for
    one field of one sensor gets a frame with just that."""
    r, port = rig
    ws_all1, _ = await join(r, port, "*")
    ws_all2, _ = await join(r, port, "*")
    ws_one, _ = await join(r, port, "env.t")
    assert len(r.fan.groups) == 2
    r.hub.publish("env", {"t": 21.5, "h": 40.0}, ts_ns=1)
    r.hub.publish("imu", {"ax": 1.0}, ts_ns=2)
    r.hub.publish("env", {"t": 21.6, "h": 41.0}, ts_ns=3)  # batch_size 3: flushed now
    assert len(r.frames) == 1 and r.frames[0] == encode_data(r.hub.ring.after(0, 3))
    for ws in (ws_all1, ws_all2):
        assert await asyncio.wait_for(ws.recv(), 5) == r.frames[0]
    frame = msgpack.unpackb(await asyncio.wait_for(ws_one.recv(), 5))
    assert frame == {"t": "data", "r": [[1, 0, 1, "env", {"t": 21.5}, 0], [3, 1, 3, "env", {"t": 21.6}, 0]]}
    assert r.fan.sent_total == 3 + 3 + 2
    assert "sensorcast_readings_sent_total 8" in r.metrics.render()
    for ws in (ws_all1, ws_all2, ws_one):
        await ws.close()


async def test_a_group_with_no_clients_left_sends_nothing(rig: tuple[Rig, int]) -> None:
    """After its only client leaves, a group is gone and a batch counts no sent readings."""
    r, port = rig
    ws, client = await join(r, port, "*")
    r.fan.remove(client)
    assert r.fan.groups == {}
    for i in range(3):
        r.hub.publish("env", {"t": float(i)})
    assert len(r.frames) == 1 and r.fan.sent_total == 0
    await ws.close()


async def test_write_to_all_sends_the_frame_to_every_open_connection(rig: tuple[Rig, int]) -> None:
    """Every open connection without an extension gets the message (serialized once); a connection that has
    closed is skipped without an error, and the others still get it."""
    r, port = rig
    plain, c_plain = await join(r, port, "*")
    deflate = await connect(f"ws://127.0.0.1:{port}/", compression="deflate")
    c_deflate = await asyncio.wait_for(r.joined.get(), 5)
    closing, c_closing = await join(r, port, "*")
    await c_closing.conn.close()  # the server starts the closing handshake: no more data frames for it
    assert c_deflate.conn.protocol.extensions == []  # the server in this rig does not offer compression
    assert c_closing.conn.protocol.state is not OPEN
    payload = encode_data([(1, 0, 5, "env", {"t": 1.0}, 0)])
    write_to_all([c_plain.conn, c_deflate.conn, c_closing.conn], payload)
    assert await asyncio.wait_for(plain.recv(), 5) == payload
    assert await asyncio.wait_for(deflate.recv(), 5) == payload
    for ws in (plain, deflate, closing):
        await ws.close()


async def test_the_installed_websockets_has_every_internal_of_the_fast_path(rig: tuple[Rig, int]) -> None:
    """A real server-side connection of the installed websockets passes the start-up check."""
    r, port = rig
    ws, client = await join(r, port, "*")
    check = FastPath()
    assert (check.check(client.conn), check.usable) == (True, True)
    await ws.close()
