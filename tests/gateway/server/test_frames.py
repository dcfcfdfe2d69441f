"""gateway.server.frames: the WebSocket frame fast path, its fallback to websockets.broadcast, and the frame
bytes it builds by hand."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN

import gateway.server.frames
from gateway.protocol.wire import encode_data
from gateway.server.frames import FastPath, binary_frame, write_to_all


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


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_binary_frame_is_what_websockets_would_serialize(size: int) -> None:
    """The hand-built header matches websockets' own serializer at every length boundary (7, 16, 64 bit)."""
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert binary_frame(payload) == Frame(Opcode.BINARY, payload).serialize(mask=False)
