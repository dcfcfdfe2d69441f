"""An MQTT-aware TCP proxy for fault tests: forwards bytes unchanged between the bridge and the broker and
records which readings (by the ``seq`` in their JSON payload) the broker acknowledged with a PUBACK."""

from __future__ import annotations

import asyncio
import contextlib
import json

PUBLISH, PUBACK = 3, 4


async def _read_packet(reader: asyncio.StreamReader) -> tuple[bytes, int, bytes]:
    first = await reader.readexactly(1)
    raw = bytearray(first)
    length, mult = 0, 1
    while True:
        b = (await reader.readexactly(1))[0]
        raw.append(b)
        length += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    body = await reader.readexactly(length)
    return bytes(raw) + body, first[0], body


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, mult = 0, 1
    while True:
        b = data[pos]
        pos += 1
        value += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            return value, pos


class AckRecorder:
    """Listens on 127.0.0.1:``port`` and forwards to the broker at ``broker_port`` (MQTT 5 framing)."""

    def __init__(self, broker_port: int, *, black_hole: bool = False) -> None:
        self.broker_port = broker_port
        self.black_hole = black_hole
        """Swallow QoS 1 data messages: the bridge's connection stays up, but no reading reaches the broker and
        none is acknowledged (a hung broker, a half-dead link)."""
        self.acked: set[int] = set()
        """seq of every data message the broker PUBACKed."""
        self.published = 0
        self.server: asyncio.Server | None = None
        self.port = 0
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self._conns):
            w.close()
        await self.server.wait_closed()

    async def _client(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        try:
            b_reader, b_writer = await asyncio.open_connection("127.0.0.1", self.broker_port)
        except OSError:
            c_writer.close()
            return
        self._conns |= {c_writer, b_writer}
        pending: dict[bytes, int] = {}
        up = asyncio.ensure_future(self._pump(c_reader, b_writer, pending, True))
        down = asyncio.ensure_future(self._pump(b_reader, c_writer, pending, False))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for t in (up, down):
            t.cancel()
        for w in (c_writer, b_writer):
            w.close()
            self._conns.discard(w)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pending: dict[bytes, int],
        upstream: bool,
    ) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                raw, first, body = await _read_packet(reader)
                kind = first >> 4
                if upstream and kind == PUBLISH and (first >> 1) & 3:
                    tlen = int.from_bytes(body[0:2], "big")
                    topic = body[2 : 2 + tlen].decode()
                    pid = body[2 + tlen : 4 + tlen]
                    plen, pos = _varint(body, 4 + tlen)
                    if topic.endswith("/data"):
                        self.published += 1
                        if self.black_hole:
                            continue
                        pending[pid] = json.loads(body[pos + plen :])["seq"]
                elif not upstream and kind == PUBACK:
                    seq = pending.pop(body[0:2], None)
                    if seq is not None:
                        self.acked.add(seq)
                writer.write(raw)
                await writer.drain()
