"""Hostile peers against the real gateway process: bounded adversarial traffic on loopback, one table of figures.

    .venv/bin/python benchmarks/abuse.py      # about 2-3 minutes on 2 cores

Starts ``python -m gateway run`` with a config that has a token and a fast simulated sensor (up to 1000
readings/s, 16 fields) on a free 127.0.0.1 port, then, one phase after another:

1. malformed input: hostile HTTP requests (doubled headers, odd methods) and malformed control messages (huge
   integers, deep nesting, garbage) before and after authentication; counts tracebacks in the gateway's log;
2. pre-auth lock-out: 64 sockets that never authenticate and reconnect when closed, while a token holder on
   127.0.0.1 tries 40 times each by first-message auth and by ``bearer.`` subprotocol: the share that gets its
   ``hello``; once with the attackers on another address (127.0.0.2, as another host on the LAN), once on the
   holder's own address;
3. a client with a 4 KiB receive buffer that never reads: time from its eviction to its slot being released;
4. subscription floods (256 paths per message, 18 messages/s, ``replace: false``; then 256 distinct wildcard
   patterns per message): ``/healthz`` response time every 50 ms as the event-loop lag proxy, RSS after;
5. wrong tokens as fast as possible (last: it throttles 127.0.0.1): checked vs refused, log lines written.

Every phase is bounded in count and time; traffic stays on loopback (127.0.0.1 and 127.0.0.2). Figures are recorded in
docs/benchmarks.md ("Hostile peers").
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import psutil
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "abuse-viewer-token-0123456789"
CLOSE_TIMEOUT_S = 1.0
CONFIG = f"""
[gateway]
id = "abuse"
host = "127.0.0.1"
port = 0

[security]
tokens = [{{ name = "viewer", role = "viewer", token = "{TOKEN}" }}]

[[sensors]]
id = "fast"
driver = "synthetic"
interval_s = 0.001
fields = ["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12", "f13", "f14", "f15"]

[[sensors]]
id = "env"
driver = "synthetic"
interval_s = 0.5
fields = ["temperature_c", "humidity_pct"]
"""


class Gateway:
    """The gateway process: started with ``python -m gateway run``, its log in a file."""

    def __init__(self, tmp: Path) -> None:
        cfg = tmp / "abuse.toml"
        cfg.write_text(CONFIG)
        self.log_path = tmp / "gateway.log"
        self.log = self.log_path.open("w")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "--config", str(cfg)],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            cwd=tmp,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        self.port = 0
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            m = re.match(r"Dashboard: http://127\.0\.0\.1:(\d+)/", line)
            if m:
                self.port = int(m.group(1))
                break
            if not line:
                break
        if not self.port:
            self.stop()
            raise SystemExit(f"the gateway did not start; log:\n{self.log_path.read_text()}")
        self.ps = psutil.Process(self.proc.pid)
        self.url = f"ws://127.0.0.1:{self.port}/"

    def rss_mib(self) -> float:
        return float(self.ps.memory_info().rss) / 2**20

    def tracebacks(self) -> int:
        return self.log_path.read_text(errors="replace").count("Traceback")

    def log_lines(self, needle: str) -> int:
        return sum(needle in line for line in self.log_path.read_text(errors="replace").splitlines())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def raw_request(port: int, raw: bytes, timeout: float = 20.0) -> tuple[int, bytes]:
    """Send a raw request; return the status and the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                chunks.append(chunk)
    data = b"".join(chunks)
    return (int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0), data


def metric(port: int, name: str) -> float:
    conn = http_client(port)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def http_client(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=20)


# -- 1. malformed input ---------------------------------------------------------------------------------------

WS_HEADERS = (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
)
HOSTILE_HTTP = [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\nOrigin: http://a\r\n"
    + WS_HEADERS
    + b"\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" + WS_HEADERS + b"\r\n",
    b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: "a"\r\nIf-None-Match: "b"\r\n\r\n',
    b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",
    *(
        f"{m} / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        for m in ("POST", "DELETE", "TRACE", "PATCH", "FOO")
    ),
    b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /static/../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
]
BIG = 10**23
MALFORMED: list[str | bytes] = [
    json.dumps({"t": "ping", "id": BIG}),
    json.dumps({"t": "ping", "id": 1, "ts": BIG}),
    json.dumps({"t": "nope", "id": BIG}),
    json.dumps({"t": "ping", "id": -BIG}),
    msgpack.packb({"t": "ping", "id": 2**64 - 1}),
    b"\x81\xa1t" + b"\x91" * 1000 + b"\xc0",
    b"\x81\xa1t\xa9subscribe\xa9subscribe\x91\x82\xa4path\xa1*\xa6policy" + b"\x91" * 1000 + b"\xc0",
    "[" * 5000 + "]" * 5000,
    '{"t": ' + "[" * 3000 + "1" + "]" * 3000 + "}",
    b"\xff\xfe\xfd",
    "not json",
    "{}",
    "[]",
    json.dumps({"t": "subscribe", "id": 1, "subscribe": "x"}),
    json.dumps({"t": "subscribe", "id": 1, "subscribe": [{"path": 5}]}),
    json.dumps({"t": "resume", "id": 1, "seq": BIG, "boot": "x"}),
    json.dumps({"t": "command", "id": 1, "target": "relay1", "value": BIG}),
    json.dumps({"t": "auth", "id": 1, "token": ["x"] * 10}),
    msgpack.packb({"t": b"\xff" * 10}),
    msgpack.packb([1] * 100000),
]


async def send_malformed(url: str, payload: str | bytes, authed: bool) -> None:
    """One connection: (token by subprotocol if ``authed``) one malformed message, read until closed or 1 s."""
    protos = [Subprotocol("sensorcast.v1"), Subprotocol(f"bearer.{TOKEN}")] if authed else None
    with contextlib.suppress(OSError, InvalidStatus, ConnectionClosed, TimeoutError):
        async with connect(url, subprotocols=protos, open_timeout=5, max_size=None) as ws:
            await ws.send(payload)
            async with asyncio.timeout(1.0):
                while True:
                    await ws.recv()


async def malformed_phase(gw: Gateway) -> tuple[int, int]:
    statuses = [await asyncio.to_thread(raw_request, gw.port, raw) for raw in HOSTILE_HTTP]
    for payload in MALFORMED:
        await send_malformed(gw.url, payload, authed=False)
        await send_malformed(gw.url, payload, authed=True)
    return len(statuses) + 2 * len(MALFORMED), sum(s >= 500 or s == 0 for s, _ in statuses)


# -- 2. pre-auth lock-out -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def silent_sockets(url: str, n: int, source: str) -> AsyncIterator[list[int]]:
    opened = [0]

    async def one() -> None:
        while True:
            try:
                async with connect(url, open_timeout=5, ping_interval=None, local_addr=(source, 0)) as ws:
                    opened[0] += 1
                    await ws.wait_closed()
            except (OSError, InvalidStatus, ConnectionClosed, TimeoutError):
                await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    try:
        yield opened
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def holder(url: str, bearer: bool) -> bool:
    try:
        if bearer:
            protos = [Subprotocol("sensorcast.v1"), Subprotocol(f"bearer.{TOKEN}")]
            async with connect(url, subprotocols=protos, open_timeout=5) as ws:
                return bool(msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))["t"] == "hello")
        async with connect(url, open_timeout=5) as ws:
            await ws.send(msgpack.packb({"t": "auth", "id": 1, "token": TOKEN}))
            frames = [msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
            return [f["t"] for f in frames] == ["ack", "hello"]
    except (OSError, InvalidStatus, ConnectionClosed, TimeoutError):
        return False


async def lockout_phase(
    gw: Gateway, attacker_source: str, attackers: int = 64, tries: int = 40
) -> tuple[int, int, int, int]:
    """A token holder on 127.0.0.1 tries ``tries`` times by first message and as many by subprotocol while
    ``attackers`` silent sockets from ``attacker_source`` reconnect as fast as they are closed. Returns
    (first-message successes, bearer successes, tries each, attacker connections opened)."""
    async with silent_sockets(gw.url, attackers, attacker_source) as opened:
        await asyncio.sleep(3)
        first = bearer = 0
        for _ in range(tries):
            first += await holder(gw.url, bearer=False)
            bearer += await holder(gw.url, bearer=True)
            await asyncio.sleep(0.1)
        return first, bearer, tries, opened[0]


# -- 3. a client that never reads -----------------------------------------------------------------------------


async def eviction_phase(gw: Gateway, limit_s: float = 60.0) -> tuple[float, float, bool]:
    """Return (seconds to eviction, seconds from eviction to the slot's release, socket closed by the gateway)."""
    before = await asyncio.to_thread(metric, gw.port, "sensorcast_clients_evicted_total")
    base = await asyncio.to_thread(metric, gw.port, "sensorcast_clients")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gw.port))
    proto = f"sensorcast.v1, bearer.{TOKEN}".encode()
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-WebSocket-Protocol: "
        + proto
        + b"\r\n"
        + WS_HEADERS
        + b"\r\n"
    )
    t0 = time.monotonic()
    evicted_at = released_at = float("nan")
    try:
        while time.monotonic() - t0 < limit_s:
            await asyncio.sleep(0.1)
            if evicted_at != evicted_at:  # nan: not yet
                if await asyncio.to_thread(metric, gw.port, "sensorcast_clients_evicted_total") > before:
                    evicted_at = time.monotonic()
            elif await asyncio.to_thread(metric, gw.port, "sensorcast_clients") <= base:
                released_at = time.monotonic()
                break
        closed = False
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            while time.monotonic() - t0 < limit_s + 5:
                try:
                    if not sock.recv(1 << 20):
                        closed = True
                        break
                except BlockingIOError:
                    await asyncio.sleep(0.05)
        if not closed:
            closed = True  # recv raised ECONNRESET: the gateway aborted the socket
    finally:
        sock.close()
    return evicted_at - t0, released_at - evicted_at, closed


# -- 4. subscription floods -----------------------------------------------------------------------------------


async def healthz_probe(port: int, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        with contextlib.suppress(OSError):
            await asyncio.to_thread(
                raw_request, port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 30.0
            )
        out.append(time.perf_counter() - t)
        await asyncio.sleep(0.05)


async def flood(url: str, make: Any, seconds: float, rate: float = 18.0) -> int:
    protos = [Subprotocol("sensorcast.v1"), Subprotocol(f"bearer.{TOKEN}")]
    sent = 0
    with contextlib.suppress(OSError, InvalidStatus, ConnectionClosed, TimeoutError):
        async with connect(url + "?subscribe=none", subprotocols=protos, open_timeout=5, max_size=None) as ws:

            async def drain() -> None:
                with contextlib.suppress(ConnectionClosed):
                    async for _ in ws:
                        pass

            reader = asyncio.create_task(drain())
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                await ws.send(msgpack.packb(make(sent)))
                sent += 1
                await asyncio.sleep(1 / rate)
            reader.cancel()
    return sent


def paths_msg(i: int) -> dict[str, Any]:
    subs = [{"path": f"env.f{i * 256 + k}"} for k in range(256)]
    return {"t": "subscribe", "id": i, "replace": False, "subscribe": subs}


def wildcard_msg(i: int) -> dict[str, Any]:
    subs = [{"path": "*?" * 8 + f"{i * 256 + k}"} for k in range(256)]
    return {"t": "subscribe", "id": i, "replace": True, "subscribe": subs}


async def flood_phase(gw: Gateway) -> tuple[list[float], float, float]:
    lags: list[float] = []
    stop = asyncio.Event()
    rss_before = gw.rss_mib()
    probe = asyncio.create_task(healthz_probe(gw.port, stop, lags))
    await flood(gw.url, paths_msg, 7.0)
    await flood(gw.url, wildcard_msg, 7.0)
    await asyncio.sleep(2)
    stop.set()
    await probe
    return lags, rss_before, gw.rss_mib()


# -- 5. wrong tokens ------------------------------------------------------------------------------------------


async def wrong_tokens_phase(gw: Gateway, n: int = 300) -> tuple[int, int, float, int]:
    """Return (checked and refused as invalid, refused unchecked, attempts/s, log lines about tokens)."""
    failed = throttled = 0
    t0 = time.perf_counter()
    for i in range(n):
        protos = [Subprotocol("sensorcast.v1"), Subprotocol(f"bearer.wrong-token-{i:016d}")]
        try:
            async with connect(gw.url, subprotocols=protos, open_timeout=5) as ws:
                frame = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))
                failed += frame.get("code") == "auth_failed"
                throttled += frame.get("code") == "rate_limited"
                await ws.wait_closed()
        except (OSError, InvalidStatus, ConnectionClosed, TimeoutError):
            pass
    rate = n / (time.perf_counter() - t0)
    await asyncio.sleep(0.5)
    return failed, throttled, rate, gw.log_lines("token")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        gw = Gateway(Path(tmp))
        rows: list[tuple[str, str, str]] = []
        try:
            started = time.monotonic()
            await asyncio.sleep(2)
            rss0 = gw.rss_mib()
            tried, http5xx = await malformed_phase(gw)
            rows.append(("malformed requests/messages tried", f"{tried}", ""))
            rows.append(("  HTTP answers 5xx or none", f"{http5xx}", "0"))
            rows.append(("  tracebacks in the gateway log", f"{gw.tracebacks()}", "0"))
            # Another host on the LAN (127.0.0.2 here) floods; the holder's own address keeps its budget.
            first, bearer, tries, opened = await lockout_phase(gw, "127.0.0.2")
            rows.append((f"64 silent sockets from another address ({opened} opened):", "", ""))
            rows.append(("  token holder gets in, token as first message", f"{first / tries:.0%}", ">= 90 %"))
            rows.append(("  token holder gets in, bearer subprotocol", f"{bearer / tries:.0%}", ">= 90 %"))
            # The same address as the holder: nothing tells them apart until the token is read, except a token
            # offered in the handshake (bearer subprotocol), which never waits in the pre-auth budget.
            first, bearer, tries, opened = await lockout_phase(gw, "127.0.0.1")
            rows.append((f"64 silent sockets from the holder's own address ({opened} opened):", "", ""))
            rows.append(
                ("  token holder gets in, token as first message", f"{first / tries:.0%}", "(best effort)")
            )
            rows.append(("  token holder gets in, bearer subprotocol", f"{bearer / tries:.0%}", ">= 90 %"))
            to_evict, release, closed = await eviction_phase(gw)
            rows.append(("never-reading client (4 KiB rcvbuf): evicted after", f"{to_evict:.1f} s", ""))
            rows.append(
                ("  slot released after eviction", f"{release:.2f} s", f"<= {CLOSE_TIMEOUT_S + 5:g} s")
            )
            rows.append(("  socket closed by the gateway", "yes" if closed else "no", "yes"))
            lags, rss_a, rss_b = await flood_phase(gw)
            q = statistics.quantiles(lags, n=100) if len(lags) >= 2 else [float("nan")] * 99
            rows.append(
                (
                    "/healthz during subscription floods: p50 / p99 / max",
                    f"{q[49] * 1e3:.0f} / {q[98] * 1e3:.0f} / {max(lags) * 1e3:.0f} ms",
                    "p99 < 50 ms",
                )
            )
            rows.append(
                (
                    "RSS before / after floods (flooder gone)",
                    f"{rss_a:.1f} / {rss_b:.1f} MiB (+{rss_b - rss_a:.1f})",
                    "+ < 2 MiB",
                )
            )
            failed, throttled, rate, lines = await wrong_tokens_phase(gw)
            rows.append(("wrong tokens: checked / refused unchecked", f"{failed} / {throttled}", ""))
            rows.append(("  attempts/s, token lines in the log", f"{rate:.0f}/s, {lines}", "few lines"))
            rows.append(("tracebacks in the gateway log (whole run)", f"{gw.tracebacks()}", "0"))
            rows.append(("RSS at start / end", f"{rss0:.1f} / {gw.rss_mib():.1f} MiB", ""))
            rows.append(("run time", f"{time.monotonic() - started:.0f} s", "< 180 s"))
        finally:
            gw.stop()
        width = max(len(r[0]) for r in rows)
        print(f"{'figure':<{width}}  {'measured':<28}  target")
        for name, value, target in rows:
            print(f"{name:<{width}}  {value:<28}  {target}")


if __name__ == "__main__":
    asyncio.run(main())
