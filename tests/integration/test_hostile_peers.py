"""Hostile peers on loopback against a real gateway: doubled headers, odd methods, silent sockets holding the
pre-auth slots, wrong tokens at speed, protected /metrics, and a client that never reads (issue 20)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

from tests.conftest import scaled
from tests.integration.helpers import make_config, running, synthetic

OPERATOR = "op-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abc"
TOKENS: dict[str, Any] = {
    "tokens": [
        {"name": "op", "role": "operator", "token": OPERATOR},
        {"name": "v", "role": "viewer", "token": VIEWER},
    ]
}


def raw_http(port: int, request: bytes) -> bytes:
    """Send ``request`` on a fresh loopback socket and return everything until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def split(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of a raw HTTP response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]))
    return int(lines[0].split()[1]), headers, body


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records that carry a traceback or are errors."""
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_doubled_headers_get_400_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """Host, Origin, Upgrade or If-None-Match sent twice: HTTP 400 naming the header, nothing logged as error."""
    caplog.set_level(logging.DEBUG)
    ws = b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    ws += b"Sec-WebSocket-Version: 13\r\n"
    requests = {
        "Host": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: a\r\n\r\n",
        "Origin": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\nOrigin: http://a\r\n"
        + ws
        + b"\r\n",
        "Upgrade": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" + ws + b"\r\n",
        "If-None-Match": b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: "a"\r\nIf-None-Match: "b"\r\n\r\n',
    }
    async with running(make_config(sensors=[synthetic("wave", 0.1)])) as app:
        answers = [split(await asyncio.to_thread(raw_http, app.port, r)) for r in requests.values()]
    assert [(status, body) for status, _, body in answers] == [
        (400, f"more than one {name} header\n".encode()) for name in requests
    ]
    assert tracebacks(caplog) == []


async def test_methods_other_than_get_and_head_get_405_and_head_has_no_body() -> None:
    """POST/DELETE/TRACE/PATCH/FOO -> 405 with Allow: GET, HEAD; HEAD / -> GET's status and headers, no body."""
    async with running(make_config(sensors=[synthetic("wave", 0.1)])) as app:
        odd = [
            split(
                await asyncio.to_thread(
                    raw_http, app.port, f"{m} / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
                )
            )
            for m in ("POST", "DELETE", "TRACE", "PATCH", "FOO")
        ]
        get = split(await asyncio.to_thread(raw_http, app.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        head = split(
            await asyncio.to_thread(raw_http, app.port, b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        )
        head_metrics = split(
            await asyncio.to_thread(raw_http, app.port, b"HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        )
    assert [(s, h["allow"], b) for s, h, b in odd] == [(405, "GET, HEAD", b"only GET and HEAD\n")] * 5
    assert (get[0], head[0], head[2], head[1]["content-length"]) == (200, 200, b"", str(len(get[2])))
    assert head[1]["etag"] == get[1]["etag"] and len(get[2]) > 1000
    assert (head_metrics[0], head_metrics[2]) == (200, b"")


@contextlib.asynccontextmanager
async def silent_attackers(url: str, n: int) -> AsyncIterator[asyncio.Event]:
    """``n`` tasks that open a WebSocket, never authenticate, and reconnect as soon as they are closed; the
    event is set once ``n`` connections were opened."""
    opened = [0]
    all_opened = asyncio.Event()

    async def one() -> None:
        while True:
            try:
                async with connect(url, open_timeout=5, ping_interval=None) as ws:
                    opened[0] += 1
                    if opened[0] >= n:
                        all_opened.set()
                    await ws.wait_closed()
            except (OSError, InvalidStatus, ConnectionClosed, TimeoutError):
                await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    try:
        yield all_opened
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def holder_gets_in(url: str, bearer: bool) -> bool:
    """One token holder's attempt: True when it receives its hello."""
    try:
        if bearer:
            async with connect(url, subprotocols=["sensorcast.v1", f"bearer.{VIEWER}"], open_timeout=5) as ws:  # type: ignore[list-item]
                return msgpack.unpackb(await asyncio.wait_for(ws.recv(), scaled(5)))["t"] == "hello"
        async with connect(url, open_timeout=5) as ws:
            await ws.send(msgpack.packb({"t": "auth", "id": 1, "token": VIEWER}))
            frames = [msgpack.unpackb(await asyncio.wait_for(ws.recv(), scaled(5))) for _ in range(2)]
            return [f["t"] for f in frames] == ["ack", "hello"]
    except (OSError, InvalidStatus, ConnectionClosed, TimeoutError):
        return False


async def test_silent_sockets_do_not_lock_out_token_holders() -> None:
    """24 reconnecting sockets that never authenticate (3x max_clients) leave >= 90 % of a token holder's
    attempts, by first message and by subprotocol, getting in; pre-auth connections stay within budget."""
    cfg = make_config(sensors=[synthetic("wave", 0.1)], security=TOKENS, limits={"max_clients": 8})
    async with running(cfg) as app, silent_attackers(app.url, 24) as opened:
        await asyncio.wait_for(opened.wait(), scaled(10))
        results = []
        for i in range(20):
            results.append(await holder_gets_in(app.url, bearer=i % 2 == 1))
            assert len(app.server.preauth) <= cfg.limits.preauth_max
            assert app.server.preauth.count("127.0.0.1") <= cfg.limits.preauth_per_address
        evicted = app.metrics.get("sensorcast_preauth_evicted_total")
    assert sum(results) >= 18, results
    assert evicted > 0


async def test_wrong_tokens_are_throttled_per_address_and_logged_as_a_summary(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """30 wrong tokens at speed: the first burst (3) is checked, later ones are refused unchecked with
    rate_limited/1013 (even the right token, until the bucket refills); one log line, not 30."""
    caplog.set_level(logging.INFO, logger="gateway.server")
    cfg = make_config(
        sensors=[synthetic("wave", 0.1)],
        security=TOKENS,
        limits={"auth_failures_burst": 3, "auth_failure_rate_per_s": 2.0},
    )
    outcomes = []
    async with running(cfg) as app:
        for token in ["wrong-token-000000000000"] * 30 + [VIEWER]:
            async with connect(app.url) as ws:
                await ws.send(msgpack.packb({"t": "auth", "id": 1, "token": token}))
                frame = msgpack.unpackb(await asyncio.wait_for(ws.recv(), scaled(5)))
                with pytest.raises(ConnectionClosed) as info:
                    await asyncio.wait_for(ws.recv(), scaled(5))
                assert info.value.rcvd is not None
                outcomes.append((frame["code"], info.value.rcvd.code))
        await asyncio.sleep(0.6)  # one refill at 2/s
        async with connect(app.url) as ws:
            await ws.send(msgpack.packb({"t": "auth", "id": 1, "token": VIEWER}))
            assert msgpack.unpackb(await asyncio.wait_for(ws.recv(), scaled(5)))["t"] == "ack"
        failures = app.metrics.get("sensorcast_auth_failures_total")
        throttled = app.metrics.get("sensorcast_auth_throttled_total")
    assert outcomes[:3] == [("auth_failed", 1008)] * 3
    assert outcomes[3:] == [("rate_limited", 1013)] * 28
    assert (failures, throttled) == (3, 28)
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.server"]
    assert lines == ["rejected a token from 127.0.0.1 (more from it are summarised every 60 s)"]


async def test_protect_metrics_needs_a_bearer_token_and_leaves_healthz_open() -> None:
    """security.protect_metrics: /metrics answers 401 without a token, 401 to a wrong one (counted as a
    failure), 200 with any role's token; /healthz stays open."""
    cfg = make_config(sensors=[synthetic("wave", 0.1)], security={**TOKENS, "protect_metrics": True})

    def get(port: int, path: str, auth: str | None = None) -> tuple[int, dict[str, str], bytes]:
        extra = f"Authorization: {auth}\r\n" if auth else ""
        return split(raw_http(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()))

    async with running(cfg) as app:
        answers = [
            await asyncio.to_thread(get, app.port, "/metrics"),
            await asyncio.to_thread(get, app.port, "/metrics", "Bearer wrong-token-000000000000"),
            await asyncio.to_thread(get, app.port, "/metrics", f"Bearer {VIEWER}"),
            await asyncio.to_thread(get, app.port, "/metrics", f"bearer {OPERATOR}"),
            await asyncio.to_thread(get, app.port, "/healthz"),
        ]
        failures = app.metrics.get("sensorcast_auth_failures_total")
    assert [a[0] for a in answers] == [401, 401, 200, 200, 200]
    assert answers[0][1]["www-authenticate"] == 'Bearer realm="sensorcast"'
    assert b"sensorcast_clients" in answers[2][2]
    assert failures == 1


async def test_a_client_that_never_reads_is_released_within_close_timeout_after_eviction() -> None:
    """A client with a 4 KiB receive buffer that never reads is evicted, and its slot and socket are gone
    at most close_timeout + 5 s later (websockets' close() alone waits in drain() for ever)."""
    cfg = make_config(
        sensors=[synthetic("fast", 0.001, tuple(f"f{i}" for i in range(16)))],
        limits={"client_stall_s": 1.0, "client_hard_limit_bytes": 262144, "ping_interval_s": 0},
    )
    async with running(cfg) as app:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", app.port))
            sock.sendall(
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            deadline = time.monotonic() + scaled(10)
            while not app.fanout.clients:
                assert time.monotonic() < deadline, "the client never connected"
                await asyncio.sleep(0.01)
            conn = next(iter(app.fanout.clients)).conn
            while app.metrics.get("sensorcast_clients_evicted_total") == 0:
                assert time.monotonic() < deadline + scaled(30), "the client was never evicted"
                await asyncio.sleep(0.01)
            evicted_at = time.monotonic()
            while app.fanout.clients or conn.state is not State.CLOSED:
                await asyncio.sleep(0.05)
                if time.monotonic() - evicted_at > (conn.close_timeout or 1.0) + 5:
                    break
            released_s = time.monotonic() - evicted_at
            assert (len(app.fanout.clients), conn.state, conn.transport.is_closing()) == (
                0,
                State.CLOSED,
                True,
            )
            assert released_s <= (conn.close_timeout or 1.0) + 5
        finally:
            sock.close()
