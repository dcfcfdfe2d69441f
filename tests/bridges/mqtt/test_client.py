"""bridges.mqtt.client against a scripted MQTT 3.1.1 peer on loopback (no broker): the connection's outcomes and
the QoS 1 round trip, driven from the event loop without a paho thread."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest

from bridges.mqtt.client import MqttClientError, PahoConnection
from bridges.mqtt.config import MqttConfig
from tests.conftest import scaled

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

CONNACK_OK = bytes([0x20, 0x02, 0x00, 0x00])
CONNACK_NOT_AUTHORISED = bytes([0x20, 0x02, 0x00, 0x05])


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One MQTT control packet: (first byte, body), the body's length read as the spec's variable integer."""
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first, await reader.readexactly(length)


async def peer(script: Script) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def config(port: int) -> MqttConfig:
    return MqttConfig(host="127.0.0.1", port=port, protocol="3.1.1", connect_timeout_s=scaled(0.5))


async def test_an_unreachable_broker_is_a_client_error() -> None:
    """Nothing listens on the port: connect() raises MqttClientError naming host and port, and the connection
    is closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        conn = PahoConnection(config(port), "t")
        with pytest.raises(MqttClientError, match=f"cannot connect to 127.0.0.1:{port}"):
            await conn.connect()
    assert (conn.connected, conn.closed.is_set()) == (False, True)


async def test_a_peer_that_never_answers_times_out_as_a_client_error() -> None:
    """A peer that accepts and stays silent: connect() gives up after connect_timeout_s."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_packet(reader)  # CONNECT
        await reader.read()  # until the client gives up

    async for port in peer(silent):
        conn = PahoConnection(config(port), "t")
        with pytest.raises(MqttClientError):
            await asyncio.wait_for(conn.connect(), scaled(5.0))
        assert (conn.connected, conn.closed.is_set()) == (False, True)


async def test_a_refused_connection_says_why() -> None:
    """A CONNACK with a refusal code: connect() raises MqttClientError with the broker's reason."""

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first, _ = await read_packet(reader)
        assert first == 0x10  # CONNECT
        writer.write(CONNACK_NOT_AUTHORISED)
        await writer.drain()
        await reader.read()

    async for port in peer(refuse):
        conn = PahoConnection(config(port), "t")
        with pytest.raises(MqttClientError, match="refused the connection"):
            await conn.connect()
        assert conn.connected is False


async def test_a_qos1_publish_is_acknowledged_through_on_ack() -> None:
    """Connected: publish() writes a QoS 1 PUBLISH with the topic and payload; the peer's PUBACK for its packet
    id reaches on_ack(mid, True) on the loop; close() sends DISCONNECT."""
    got: list[tuple[int, str, bytes]] = []
    acks: list[tuple[int, bool]] = []
    acked = asyncio.Event()

    async def broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_packet(reader)
        writer.write(CONNACK_OK)
        await writer.drain()
        while True:
            first, body = await read_packet(reader)
            if first >> 4 == 14:  # DISCONNECT
                got.append((first, "", b""))
                return
            topic_len = int.from_bytes(body[:2], "big")
            topic = body[2 : 2 + topic_len].decode()
            packet_id = body[2 + topic_len : 4 + topic_len]
            got.append((first, topic, body[4 + topic_len :]))
            writer.write(bytes([0x40, 0x02]) + packet_id)
            await writer.drain()

    def on_ack(mid: int, ok: bool) -> None:
        acks.append((mid, ok))
        acked.set()

    async for port in peer(broker):
        conn = PahoConnection(config(port), "t", on_ack=on_ack)
        await asyncio.wait_for(conn.connect(), scaled(5.0))
        assert conn.connected
        mid = conn.publish("sc/gw/env/data", b"\x01\x02", 1)
        await asyncio.wait_for(acked.wait(), scaled(5.0))
        conn.close()
        await asyncio.wait_for(conn.closed.wait(), scaled(5.0))
        for _ in range(100):  # the peer reads the DISCONNECT on its own schedule
            if len(got) == 2:
                break
            await asyncio.sleep(0.01)
    assert acks == [(mid, True)]
    assert got == [(0x32, "sc/gw/env/data", b"\x01\x02"), (0xE0, "", b"")]  # PUBLISH QoS 1, then DISCONNECT
    assert (conn.connected, conn.closed.is_set()) == (False, True)
    with pytest.raises(MqttClientError, match="not connected"):
        conn.publish("x", b"", 1)


async def test_mqtts_to_a_plain_listener_says_which_side_is_likely_wrong() -> None:
    """mqtts:// to a port that speaks plain MQTT (it reads the TLS ClientHello as a malformed packet and closes):
    the error names the port and suggests mqtt://, instead of a bare 'connection reset' retried forever."""

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # a TLS ClientHello's first byte (0x16) is no MQTT packet type: hang up
        writer.transport.abort()

    async for port in peer(plain):
        conn = PahoConnection(replace(config(port), tls=True), "t")
        with pytest.raises(
            MqttClientError, match=f"is port {port} a TLS listener\\? use mqtt:// for a plain one"
        ):
            await asyncio.wait_for(conn.connect(), scaled(5.0))
        assert (conn.connected, conn.closed.is_set()) == (False, True)


async def test_a_plain_connection_gets_no_tls_hint() -> None:
    """Without TLS a reset is reported as it is: the TLS hint appears only for mqtts://."""

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.transport.abort()

    async for port in peer(reset):
        conn = PahoConnection(config(port), "t")
        with pytest.raises(MqttClientError) as info:
            await asyncio.wait_for(conn.connect(), scaled(5.0))
        assert "TLS" not in str(info.value)
