"""The reusable JS client (gateway/static/js/sensorcast-client.js) in real Chromium against a scripted server.

The scripted server speaks docs/protocol.md but chooses the hard orderings on purpose (a live frame overtaking
the backfill, a broken prev chain), which a real gateway produces only by chance.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import msgpack
import pytest
from playwright.sync_api import Page
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from tests.conftest import scaled

pytestmark = pytest.mark.browser

STATIC = (Path(__file__).resolve().parents[3] / "gateway" / "static").resolve()
BOOT = "b00700000000cafe"
PAGE = """<!doctype html><title>client</title>
<script src="/static/vendor/msgpack/msgpack.min.js"></script>
<script type="module">
  import { SensorcastClient, backoffDelayMs } from "/static/js/sensorcast-client.js";
  window.backoffDelayMs = backoffDelayMs;
  window.log = [];
  const url = new URLSearchParams(location.search).get("ws");
  const c = new SensorcastClient({ url, backoff: { initialMs: 50, maxMs: 200 }, pingIntervalMs: 0 });
  c.on("state", (s) => log.push(["state", s.state]));
  c.on("readings", (e) => log.push(["readings", e.readings.map((r) => r[0]), e.backfill]));
  c.on("gap", (g) => log.push(["gap", g.from, g.to, g.reason]));
  c.on("loss", (l) => log.push(["loss", l.sensor, l.after, l.before]));
  window.client = c;
  c.connect();
</script>"""


def reading(seq: int, prev: int) -> list[Any]:
    """A reading of sensor ``s``."""
    return [seq, prev, 1_700_000_000_000_000_000 + seq * 1_000_000, "s", {"x": float(seq)}, 2]


def pack(obj: dict[str, Any]) -> bytes:
    """Encode one server frame."""
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


def recv(conn: ServerConnection) -> dict[str, Any]:
    """Receive one client message (msgpack map)."""
    raw = conn.recv(timeout=scaled(5))
    assert isinstance(raw, bytes)
    msg: dict[str, Any] = msgpack.unpackb(raw)
    return msg


def hello(seq: int) -> bytes:
    """A hello frame for boot BOOT."""
    return pack(
        {
            "t": "hello",
            "v": 1,
            "gw": "scripted",
            "boot": BOOT,
            "seq": seq,
            "role": "viewer",
            "caps": ["subscribe", "resume", "ping"],
            "sensors": [],
            "actuators": [],
        }
    )


class Script:
    """Connection 1 delivers seq 1-3 and drops; connection 2 resumes with a live frame overtaking the backfill."""

    def __init__(self) -> None:
        self.connections = 0
        self.received: list[list[Any]] = []
        self.done = threading.Event()

    def handler(self, conn: ServerConnection) -> None:
        self.connections += 1
        first = recv(conn)
        self.received.append([first["t"]])
        if self.connections == 1:
            conn.send(hello(0))
            sub = recv(conn)
            self.received.append([sub["t"], sub["subscribe"]])
            conn.send(pack({"t": "ack", "ref": sub["id"], "op": "subscribe"}))
            conn.send(pack({"t": "data", "r": [reading(1, 0), reading(2, 1), reading(3, 2)]}))
            recv_closed_after(conn)
            return
        conn.send(hello(10))
        sub = recv(conn)
        conn.send(pack({"t": "ack", "ref": sub["id"], "op": "subscribe"}))
        resume = recv(conn)
        self.received.append([resume["t"], resume["boot"], resume["seq"]])
        conn.send(pack({"t": "data", "r": [reading(11, 10)]}))  # live, overtakes the backfill
        conn.send(pack({"t": "data", "r": [reading(s, s - 1) for s in range(4, 11)], "backfill": True}))
        conn.send(pack({"t": "ack", "ref": resume["id"], "op": "resume"}))
        conn.send(pack({"t": "data", "r": [reading(14, 12)]}))  # 12 and 13 never sent: a broken chain
        self.done.wait(scaled(10))


def recv_closed_after(conn: ServerConnection) -> None:
    """Drop the connection abruptly (as a crashed proxy would)."""
    conn.close(1011, "scripted drop")


@pytest.fixture
def scripted() -> Iterator[tuple[Script, int]]:
    """The scripted server on 127.0.0.1 (a thread), and its port."""
    script = Script()
    server: Server = serve(
        script.handler,
        "127.0.0.1",
        0,
        process_request=static_files,
        subprotocols=[Subprotocol("sensorcast.v1")],
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield script, server.socket.getsockname()[1]
    script.done.set()
    server.shutdown()
    thread.join(5)


def static_files(conn: ServerConnection, request: Request) -> Response | None:
    """Plain HTTP on the scripted server: the test page and the real static files (the page must come from a
    loopback origin: Chromium blocks other origins from opening loopback sockets)."""
    if "websocket" in request.headers.get("Upgrade", "").lower():
        return None
    path = request.path.split("?")[0]
    if path == "/":
        body, ctype = PAGE.encode(), "text/html"
    elif path == "/dashboard":
        body, ctype = (STATIC / "index.html").read_bytes(), "text/html"
    else:
        file = (STATIC / path.removeprefix("/static/")).resolve()
        if not file.is_relative_to(STATIC) or not file.is_file():
            return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")
        body, ctype = (
            file.read_bytes(),
            {".js": "text/javascript", ".css": "text/css"}.get(file.suffix, "application/octet-stream"),
        )
    return Response(200, "OK", Headers({"Content-Type": ctype, "Content-Length": str(len(body))}), body)


def test_resume_holds_live_frames_until_the_backfill_is_in(
    scripted: tuple[Script, int], new_page: Callable[..., Page]
) -> None:
    """After a drop the client reconnects, re-subscribes, resumes from its last seq, delivers the backfill before
    a live frame that overtook it, and reports a broken prev chain as a loss."""
    script, port = scripted
    page = new_page()
    page.goto(f"http://127.0.0.1:{port}/?ws=ws://127.0.0.1:{port}/")
    page.wait_for_function("() => log.some((e) => e[0] === 'loss')", timeout=scaled(10) * 1000)
    log = page.evaluate("() => log")
    assert log == [
        ["state", "connecting"],
        ["state", "open"],
        ["readings", [1, 2, 3], False],
        ["state", "reconnecting"],
        ["state", "reconnecting"],
        ["state", "open"],
        ["readings", [4, 5, 6, 7, 8, 9, 10], True],
        ["readings", [11], False],
        ["loss", "s", 11, 14],
        ["readings", [14], False],
    ]
    assert script.received == [["ping"], ["subscribe", [{"path": "*"}]], ["ping"], ["resume", BOOT, 3]]
    assert page.evaluate("() => client.lastSeq") == 14


def test_backoff_grows_exponentially_within_the_jitter_and_caps(
    scripted: tuple[Script, int], new_page: Callable[..., Page]
) -> None:
    """Reconnect delays double from 500 ms up to 15 s, each within +-30 % jitter."""
    _, port = scripted
    page = new_page()
    page.goto(f"http://127.0.0.1:{port}/?ws=ws://127.0.0.1:9/")
    page.wait_for_function("() => typeof backoffDelayMs === 'function'")
    bounds = page.evaluate("""() => [0, 1, 2, 3, 4, 5, 6, 10].map((a) =>
        [backoffDelayMs(a, undefined, () => 0), backoffDelayMs(a, undefined, () => 0.5),
         backoffDelayMs(a, undefined, () => 1)])""")
    assert bounds == [
        [350, 500, 650],
        [700, 1000, 1300],
        [1400, 2000, 2600],
        [2800, 4000, 5200],
        [5600, 8000, 10400],
        [10500, 15000, 19500],
        [10500, 15000, 19500],
        [10500, 15000, 19500],
    ]


def test_series_ring_is_bounded_keeps_order_and_draws_gaps(
    scripted: tuple[Script, int], new_page: Callable[..., Page]
) -> None:
    """The dashboard's ring (js/store.js) grows to its capacity then drops the oldest points, ignores late
    points, turns gap markers into nulls (counted as breaks), and keeps min/max once aggregates arrive."""
    _, port = scripted
    page = new_page()
    page.goto(f"http://127.0.0.1:{port}/?ws=ws://127.0.0.1:9/")
    out = page.evaluate("""async () => {
        const { SeriesRing } = await import("/static/js/store.js");
        const r = new SeriesRing(["x"], 5);
        for (let t = 1; t <= 8; t++) r.push(t, { x: t * 10 });
        const wrapped = r.slice("x", 0, 100);
        const late = r.push(3, { x: 0 });
        r.pushGap(-Infinity);
        r.pushGap(-Infinity);  // a second marker in a row is not added
        r.push(20, { x: 200 });
        r.pushAgg(21, { x: [1, 9, 5, 7] });
        const all = r.slice("x", 0, 100);
        const big = new SeriesRing(["x"], 3000);
        for (let t = 1; t <= 2500; t++) big.push(t, { x: t });
        const window = big.slice("x", 1000, 1010);
        return { wrapped: [wrapped.x, wrapped.v], late, all, bigLen: big.length, bigCap: big.t.length,
                 window: window.x, oldest: r.oldestT, newest: r.newestT };
    }""")
    assert out["wrapped"] == [[4, 5, 6, 7, 8], [40, 50, 60, 70, 80]]
    assert out["late"] is False
    assert out["all"] == {
        "x": [7, 8, 8.001, 20, 21],
        "v": [70, 80, None, 200, 5],
        "lo": [70, 80, None, 200, 1],
        "hi": [70, 80, None, 200, 9],
        "points": 4,
        "gaps": 1,
    }
    assert (out["bigLen"], out["bigCap"]) == (2500, 3000)  # 1024 -> 2048 -> capped at 3000
    assert out["window"] == list(range(999, 1012))  # the window plus one point either side
    assert (out["oldest"], out["newest"]) == (7, 21)
