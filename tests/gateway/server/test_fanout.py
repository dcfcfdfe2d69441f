"""FanOut with real WebSocket connections on loopback: a group that takes every reading gets the hub's own
encoding of the batch, a group with a narrower subscription gets its own frame, and the sent counter adds up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

import msgpack
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN

import gateway.server.frames
from gateway.config import Limits
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.protocol.control import SubscribeEntry
from gateway.protocol.subscription import SubscriptionSet
from gateway.protocol.wire import encode_data
from gateway.server.fanout import Client, FanOut
from gateway.server.frames import FastPath, binary_frame, write_to_all


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


async def test_write_to_all_uses_broadcast_for_a_compressed_connection() -> None:
    """With permessage-deflate negotiated, the frame is compressed for that connection and still arrives."""
    joined: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(conn: ServerConnection) -> None:
        await joined.put(conn)
        await conn.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression="deflate") as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
            conn = await asyncio.wait_for(joined.get(), 5)
            assert conn.protocol.extensions  # permessage-deflate is on
            payload = encode_data([(1, 0, 5, "env", {"t": 1.0}, 0)] * 20)
            write_to_all([conn], payload)
            assert await asyncio.wait_for(ws.recv(), 5) == payload


class OldConnection:
    """A connection of a websockets release without ``send_in_progress`` (13.x..15.x lack it)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.transport = SimpleNamespace(write=self.written.append)
        self.protocol = SimpleNamespace(state=OPEN, extensions=[])
        self.remote_address = ("127.0.0.1", 1)


def test_without_the_internals_every_frame_goes_through_broadcast_with_one_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A websockets lacking an internal the fast path uses: frames go to websockets.broadcast, said once."""
    sent: list[tuple[list[Any], bytes]] = []

    def fake_broadcast(conns: Sequence[Any], message: bytes) -> None:
        sent.append((list(conns), message))

    monkeypatch.setattr(gateway.server.frames, "FAST_PATH", FastPath())
    monkeypatch.setattr(gateway.server.frames, "broadcast", fake_broadcast)
    a, b = OldConnection(), OldConnection()
    with caplog.at_level(logging.WARNING, logger="gateway.fanout"):
        write_to_all([a, b], b"one")  # type: ignore[list-item]
        write_to_all([b], b"two")  # type: ignore[list-item]
        write_to_all([], b"none")
    assert sent == [([a, b], b"one"), ([b], b"two")]
    assert (a.written, b.written) == ([], [])
    assert [r.getMessage().split(":")[0].split(" lacks ")[1] for r in caplog.records] == ["send_in_progress"]
    assert gateway.server.frames.FAST_PATH.usable is False


async def test_the_installed_websockets_has_every_internal_of_the_fast_path(rig: tuple[Rig, int]) -> None:
    """A real server-side connection of the installed websockets passes the start-up check."""
    r, port = rig
    ws, client = await join(r, port, "*")
    check = FastPath()
    assert (check.check(client.conn), check.usable) == (True, True)
    await ws.close()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_binary_frame_is_what_websockets_would_serialize(size: int) -> None:
    """The hand-built header matches websockets' own serializer at every length boundary (7, 16, 64 bit)."""
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert binary_frame(payload) == Frame(Opcode.BINARY, payload).serialize(mask=False)
