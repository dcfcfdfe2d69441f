"""``GET /api/history`` / ``/api/events`` as ONE streamed response on the WebSocket port: real sockets on
loopback, a real SQLite file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayApp
from gateway.history.store import HistoryStore
from tests.conftest import scaled
from tests.integration.helpers import client, make_config, running, synthetic

S = 10**9
ROWS = 120_000
"""Rows of the big sensor: more than the old 50,000-row page, and ~15 MB of CSV (more than loopback buffers)."""
T0 = (time.time_ns() // S - 86400) * S
TOKEN = "viewer-token-0123456789"


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A history file with ROWS raw readings of sensor ``big`` (one every 100 ms, four fields)."""
    path = tmp_path_factory.mktemp("big") / "history.db"
    st = HistoryStore(path, policies={"big": "raw"})
    st._open()
    st.describe("big", {"a": "V", "b": "", "c": "", "d": ""})
    for start in range(0, ROWS, 5000):
        st.on_batch(
            [
                (i + 1, 0, T0 + i * S // 10, "big", {"a": i, "b": i * 0.5, "c": -i, "d": "x,y"}, 0)
                for i in range(start, start + 5000)
            ]
        )
        st.commit()
    st.fold()
    assert st._conn is not None
    st._conn.close()
    return path


def data_dir(big_db: Path, tmp_path: Path) -> Path:
    for f in big_db.parent.glob("history.db*"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def cfg(tmp_path: Path, **extra: Any) -> Any:
    return make_config(
        gateway={"data_dir": str(tmp_path)},
        sensors=[synthetic("other", 1.0, ("x",))],
        **extra,
    )


def url(app: GatewayApp, query: str = "", path: str = "api/history") -> str:
    return app.http_url + f"{path}?sensor=big&from={T0 // S}&to={T0 // S + ROWS // 10}{query}"


def get(target: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, Any, bytes]:
    req = urllib.request.Request(target, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=scaled(30)) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def export_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("history-export-")]


async def wait_for(pred: Any, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + scaled(timeout_s)
    while not pred():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def raw_request(app: GatewayApp, path: str, rcvbuf: int = 4096) -> tuple[asyncio.StreamReader, Any]:
    """Send a GET over a socket with a tiny receive buffer (so a client that does not read fills it quickly)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", app.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{app.port}\r\n\r\n".encode())
    await writer.drain()
    return reader, writer


async def read_all(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    try:
        while chunk := await asyncio.wait_for(reader.read(1 << 16), scaled(10)):
            out += chunk
    except ConnectionResetError:
        pass
    return bytes(out)


@pytest.fixture
async def app(big_db: Path, tmp_path: Path) -> AsyncIterator[GatewayApp]:
    async with running(cfg(data_dir(big_db, tmp_path))) as a:
        yield a


async def test_more_than_50k_rows_come_in_one_response(app: GatewayApp) -> None:
    """120,000 rows are ONE chunked response (no Link, no cursor): CSV parses back row for row with its unit
    header and RFC 4180 quoting; JSON is one document with the same rows."""
    status, headers, body = await asyncio.to_thread(get, url(app, "&format=csv"))
    assert (status, headers["Transfer-Encoding"], headers.get("Link"), headers["Connection"]) == (
        200,
        "chunked",
        None,
        "close",
    )
    assert headers["Content-Disposition"] == 'attachment; filename="big.csv"'
    table = list(csv.reader(io.StringIO(body.decode())))
    assert table[0] == ["time_utc", "ts_ns", "a (V)", "b", "c", "d"]
    assert [int(r[1]) for r in table[1:]] == [T0 + i * S // 10 for i in range(ROWS)]
    assert [r[2] for r in table[1:]] == [str(i) for i in range(ROWS)]
    assert {r[5] for r in table[1:]} == {"x,y"}
    status, headers, body = await asyncio.to_thread(get, url(app, "&format=json&fields=a"))
    doc = json.loads(body)
    assert (status, headers["Content-Type"], list(doc), doc["fields"], doc["units"], doc["next"]) == (
        200,
        "application/json",
        ["sensor", "tier", "bucket_ns", "fields", "units", "rows", "next"],
        ["a"],
        {"a": "V"},
        None,
    )
    assert doc["rows"] == [[T0 + i * S // 10, i] for i in range(ROWS)]
    assert export_threads() == []


async def test_head_gives_the_headers_only(app: GatewayApp) -> None:
    """HEAD answers the same status and headers as GET, without a body; a refusal too."""
    status, headers, body = await asyncio.to_thread(get, url(app), None, "HEAD")
    assert (status, headers["Content-Type"], body) == (200, "text/csv; charset=utf-8; header=present", b"")
    status, _, body = await asyncio.to_thread(get, app.http_url + "api/history?sensor=nope", None, "HEAD")
    assert (status, body) == (404, b"")
    status, _, body = await asyncio.to_thread(get, app.http_url + "api/events", None, "HEAD")
    assert (status, body) == (200, b"")


async def test_token_throttle_host_and_origin_are_checked_as_before(big_db: Path, tmp_path: Path) -> None:
    """Without a token 401; wrong tokens are throttled (429 with Retry-After); a foreign Host or Origin is 403;
    with the token the export streams."""
    config = cfg(
        data_dir(big_db, tmp_path),
        security={"tokens": [{"name": "v", "role": "viewer", "token": TOKEN}]},
        limits={"auth_failures_burst": 2},
    )
    async with running(config) as app:
        target = url(app, "&fields=a")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        status, _, body = await asyncio.to_thread(get, target, auth)
        assert (status, body.count(b"\r\n")) == (200, ROWS + 1)
        status, _, body = await asyncio.to_thread(get, target, {**auth, "Host": "evil.example"})
        assert (status, body) == (403, b"host not allowed (add it to security.allowed_hosts)\n")
        status, _, body = await asyncio.to_thread(get, target, {**auth, "Origin": "http://evil.example"})
        assert (status, body) == (403, b"origin not allowed (add it to security.allowed_origins)\n")
        status, _, body = await asyncio.to_thread(get, app.http_url + "api/history?period=x&sensor=big", auth)
        assert (status, body) == (400, b"period: expected a duration such as 60s, 5m, 1h, 1d, got 'x'\n")
        answers = []
        for headers in ({}, {"Authorization": "Bearer wrong-1"}, {"Authorization": "Bearer wrong-2"}, auth):
            status, got, body = await asyncio.to_thread(get, target, headers)
            answers.append((status, body, got.get("Retry-After") is not None))
        assert answers == [
            (401, b"this gateway needs Authorization: Bearer <token> on /api/history\n", False),
            (401, b"this gateway needs Authorization: Bearer <token> on /api/history\n", False),
            (401, b"this gateway needs Authorization: Bearer <token> on /api/history\n", False),
            (429, b"too many wrong tokens\n", True),
        ]


async def test_a_client_that_stops_reading_is_aborted(
    app: GatewayApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that reads nothing for STALL_TIMEOUT_S is aborted: no terminating chunk, thread gone."""
    monkeypatch.setattr("gateway.server.exportjob.STALL_TIMEOUT_S", 0.5)
    reader, writer = await raw_request(app, url(app).removeprefix(app.http_url.rstrip("/")))
    await wait_for(lambda: app.server.exports.stalled == 1, "the stalled export was not aborted")
    await wait_for(lambda: export_threads() == [], "the export thread did not end")
    body = await read_all(reader)
    assert body.startswith(b"HTTP/1.1 200 OK\r\n") and not body.endswith(b"\r\n0\r\n\r\n")
    assert len(body) < 10_000_000  # far from the whole export
    writer.close()


async def test_a_client_that_disconnects_stops_the_producer(app: GatewayApp) -> None:
    """Closing the socket mid-stream ends the export's thread and frees its slot."""
    reader, writer = await raw_request(app, url(app).removeprefix(app.http_url.rstrip("/")), rcvbuf=1 << 16)
    first = await asyncio.wait_for(reader.read(4096), scaled(10))
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert len(export_threads()) == 1
    writer.transport.abort()
    await wait_for(lambda: export_threads() == [], "the export thread did not end")
    await wait_for(lambda: not app.server.exports.active, "the export slot was not freed")


async def test_the_export_limit_and_the_rest_of_the_port_while_exports_stream(app: GatewayApp) -> None:
    """With MAX_EXPORTS exports streaming (their clients not reading), the next export gets 503 with
    Retry-After, while /healthz, the dashboard and a WebSocket client are served as usual."""
    path = url(app).removeprefix(app.http_url.rstrip("/"))
    held = [await raw_request(app, path) for _ in range(2)]
    await wait_for(lambda: len(app.server.exports.active) == 2, "two exports did not start")
    status, headers, body = await asyncio.to_thread(get, url(app))
    assert (status, headers["Retry-After"], body) == (
        503,
        "5",
        b"2 exports are already streaming: try again later\n",
    )
    status, _, body = await asyncio.to_thread(get, app.http_url + "healthz")
    assert status == 200 and json.loads(body)["status"] in ("ok", "degraded")
    status, _, body = await asyncio.to_thread(get, app.http_url)
    assert status == 200 and b"<html" in body.lower()
    async with client(app.url) as c:
        assert (await c.next())["t"] == "hello"
    for _, writer in held:
        writer.transport.abort()
    await wait_for(lambda: export_threads() == [], "the export threads did not end")


async def test_a_slow_loris_is_dropped_after_the_head_timeout(
    big_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A peer that sends half an export's request line and then nothing is closed after HEAD_TIMEOUT_S."""
    monkeypatch.setattr("gateway.server.export.HEAD_TIMEOUT_S", 0.5)
    async with running(cfg(data_dir(big_db, tmp_path))) as app:
        reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
        writer.write(b"GET /api/hist")
        await writer.drain()
        started = time.monotonic()
        assert await read_all(reader) == b""
        assert 0.4 <= time.monotonic() - started < scaled(5)
        writer.close()
