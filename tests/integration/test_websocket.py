"""End-to-end WebSocket behaviour against a real gateway on loopback, with real python-websockets clients."""

from __future__ import annotations

import asyncio
import json
import socket

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.protocol.model import FLAG_SIMULATED
from tests.conftest import scaled
from tests.integration.helpers import Frames, client, make_config, running, synthetic


async def drain(c: Frames, seconds: float) -> list[str]:
    """Return the types of every frame received within ``seconds``."""
    types = []
    loop = asyncio.get_running_loop()
    end = loop.time() + scaled(seconds)
    while (left := end - loop.time()) > 0:
        try:
            types.append((await c.next(timeout=left))["t"])
        except TimeoutError:
            break
    return types


async def test_hello_then_data_in_seq_order_with_intact_prev_chain() -> None:
    """A plain client gets hello, then data frames whose seq grows and whose prev chain has no hole."""
    cfg = make_config(sensors=[synthetic("wave", 0.01), synthetic("slow", 0.03, ("x",))])
    async with running(cfg) as app, client(app.url) as c:
        hello = await c.next()
        assert hello["t"] == "hello"
        assert (hello["v"], hello["gw"], hello["boot"]) == (1, "test", app.boot_id)
        assert [s["id"] for s in hello["sensors"]] == ["wave", "slow"]
        assert [f["name"] for f in hello["sensors"][0]["fields"]] == ["a", "b", "n"]
        assert "resume" in hello["caps"] and "policy.ideal" in hello["caps"]
        readings = []
        while len(readings) < 60:
            frame = await c.until(lambda f: f["t"] == "data")
            readings += frame["r"]
        seqs = [r[0] for r in readings]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        last: dict[str, int] = {}
        for seq, prev, ts_ns, sensor, _values, flags in readings:
            if sensor in last:
                assert prev == last[sensor], f"hole before {seq} for {sensor}"
            last[sensor] = seq
            assert flags & FLAG_SIMULATED and ts_ns > 1_600_000_000 * 10**9
        assert set(last) == {"wave", "slow"}


async def test_json_text_control_messages_get_the_same_replies() -> None:
    """Control messages work as JSON text frames too (terminal debugging); replies are binary msgpack."""
    cfg = make_config(sensors=[synthetic("wave", 0.02)])
    async with running(cfg) as app, client(app.url + "?subscribe=none") as c:
        await c.next()
        await c.ws.send(json.dumps({"t": "ping", "id": "p1", "ts": 123}))
        pong = await c.until(lambda f: f["t"] == "pong")
        assert (pong["ref"], pong["echo"]) == ("p1", 123)
        await c.ws.send(json.dumps({"t": "subscribe", "id": 2, "subscribe": [{"path": "wave.a"}]}))
        assert await c.until(lambda f: f["t"] == "ack") == {"t": "ack", "ref": 2, "op": "subscribe"}
        data = await c.until(lambda f: f["t"] == "data")
        assert all(set(r[4]) == {"a"} for r in data["r"])


async def test_subscribe_none_starts_silent_until_subscribed() -> None:
    """?subscribe=none gets only hello; after unsubscribe of '*' data stops again."""
    cfg = make_config(sensors=[synthetic("wave", 0.01)])
    async with running(cfg) as app, client(app.url + "?subscribe=none") as c:
        assert (await c.next())["t"] == "hello"
        assert "data" not in await drain(c, 0.3)
        await c.send({"t": "subscribe", "id": 1, "subscribe": [{"path": "*"}]})
        await c.until(lambda f: f["t"] == "data")
        await c.send({"t": "unsubscribe", "id": 2, "unsubscribe": [{"path": "*"}]})
        await c.until(lambda f: f["t"] == "ack" and f["ref"] == 2)
        assert "data" not in await drain(c, 0.3)


async def test_malformed_messages_get_errors_then_1007_and_other_clients_are_undisturbed() -> None:
    """Garbage gets an error naming the problem; repeated garbage closes with 1007; a neighbour keeps streaming."""
    cfg = make_config(sensors=[synthetic("wave", 0.01)], limits={"max_bad_messages": 3})
    async with running(cfg) as app, client(app.url) as good, client(app.url + "?subscribe=none") as bad:
        await good.next()
        await bad.next()
        await bad.ws.send(b"\xc1\xc1 not msgpack")
        err = await bad.until(lambda f: f["t"] == "error")
        assert (err["code"], err["msg"]) == ("bad_message", "binary frames must be one msgpack map")
        await bad.send({"t": "subscribe", "id": 9, "subscribe": [{"path": "x", "policy": "fixed"}]})
        err = await bad.until(lambda f: f["t"] == "error")
        assert err["ref"] == 9 and err["msg"] == "subscribe[0].period: required (ms) with policy 'fixed'"
        for _ in range(3):
            await bad.ws.send("{nope")
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await bad.next()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1007
        before = (await good.until(lambda f: f["t"] == "data"))["r"][-1][0]
        after = (await good.until(lambda f: f["t"] == "data" and f["r"][-1][0] > before + 5))["r"][-1][0]
        assert after > before


async def test_oversized_message_closes_with_1009() -> None:
    """A control message above limits.max_message_bytes closes the connection with 1009."""
    cfg = make_config(sensors=[synthetic("wave", 0.05)], limits={"max_message_bytes": 1024})
    async with running(cfg) as app, client(app.url) as c:
        await c.next()
        await c.ws.send(b"\x00" * 4096)
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await c.next()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_control_flood_is_rate_limited_then_closed_with_1008() -> None:
    """Exceeding the control rate yields rate_limited errors, then close 1008."""
    cfg = make_config(
        sensors=[synthetic("wave", 0.5)], limits={"control_rate_per_s": 1.0, "control_burst": 2}
    )
    async with running(cfg) as app, client(app.url + "?subscribe=none") as c:
        await c.next()
        for i in range(10):
            try:
                await c.send({"t": "ping", "id": i})
            except ConnectionClosed:
                break
        codes = []
        with pytest.raises(ConnectionClosed) as info:
            while True:
                f = await c.next()
                if f["t"] != "status":  # sensor state changes may interleave
                    codes.append(f.get("code") or f["t"])
        assert codes[:2] == ["pong", "pong"] and "rate_limited" in codes
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008


async def test_slow_client_gets_drop_notice_and_coalesced_values_while_fast_client_misses_nothing() -> None:
    """A client that stops reading is coalesced (then evicted); a fast client still gets every reading in order."""
    cfg = make_config(
        sensors=[synthetic("other", 0.05)],
        limits={"client_buffer_frames": 64, "client_hard_limit_bytes": 64 * 2**20, "client_stall_s": 60.0},
        gateway={"flush_interval_ms": 10},
    )
    async with running(cfg) as app:
        # The slow client has a tiny receive window and stops reading from its socket.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", app.port))
        async with (
            connect(app.url, sock=sock, max_size=2**22) as slow_ws,
            client(app.url, max_size=2**22) as fast,
        ):
            slow_ws.transport.pause_reading()
            await fast.next()
            blob = "x" * 2000

            async def load() -> None:
                for i in range(200):  # 4000 readings, ~8 MB in ~2 s
                    for j in range(20):
                        app.hub.publish("bulk", {"i": i * 20 + j, "pad": blob})
                    await asyncio.sleep(0.01)

            loader = asyncio.create_task(load())
            seqs: list[int] = []
            while len(seqs) < 4000:
                f = await fast.next()
                if f["t"] == "data":
                    seqs += [r[4]["i"] for r in f["r"] if r[3] == "bulk"]
            await loader
            assert seqs == list(range(4000)), "the fast client lost or reordered readings"
            assert app.metrics.get("sensorcast_readings_dropped_total") > 0
            assert app.metrics.get("sensorcast_readings_dropped_total") > 0
            slow_ws.transport.resume_reading()
            frames = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + scaled(5)
            while loop.time() < deadline and not any(f["t"] == "data" and f["r"][0][5] & 4 for f in frames):
                frames.append(msgpack.unpackb(await asyncio.wait_for(slow_ws.recv(), scaled(5))))
            drops = [f["drop"] for f in frames if f["t"] == "status" and "drop" in f]
            assert drops and all(d["reason"] == "slow_client" and d["n"] > 0 for d in drops)
            coalesced = [r for f in frames if f["t"] == "data" for r in f["r"] if r[5] & 4]
            assert "bulk" in {r[3] for r in coalesced}


async def test_client_stalled_past_the_hard_limit_is_closed_with_1008() -> None:
    """A client that stays behind longer than limits.client_stall_s is evicted with 1008."""
    cfg = make_config(
        sensors=[synthetic("other", 0.05)],
        limits={"client_buffer_frames": 4, "write_buffer_bytes": 4096, "client_stall_s": 0.5},
    )
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    async with running(cfg) as app:
        sock.connect(("127.0.0.1", app.port))
        slow_ws = await connect(app.url, sock=sock, max_size=2**22)
        slow_ws.transport.pause_reading()
        for _ in range(100):
            for j in range(100):
                app.hub.publish("bulk", {"i": j, "pad": "y" * 400})
            await asyncio.sleep(0.02)
            if app.metrics.get("sensorcast_clients_evicted_total"):
                break
        assert app.metrics.get("sensorcast_clients_evicted_total") == 1
        slow_ws.transport.resume_reading()
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(slow_ws.recv(), scaled(5))
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        await slow_ws.close()


async def test_resume_backfills_from_ring_and_reports_gaps() -> None:
    """resume sends exactly the missed readings as backfill; beyond the ring a gap frame says what is lost."""
    cfg = make_config(sensors=[synthetic("wave", 0.005)], gateway={"ring_size": 64})
    async with running(cfg) as app:
        async with client(app.url) as c:
            hello = await c.next()
            first = await c.until(lambda f: f["t"] == "data")
            last_seq = first["r"][-1][0]
        await asyncio.sleep(0.15)  # miss some readings, still within the ring
        async with client(app.url) as c:
            hello2 = await c.next()
            await c.send({"t": "resume", "id": "r1", "boot": hello["boot"], "seq": last_seq})
            got: list[int] = []
            backfilled: list[int] = []
            while True:
                f = await c.next()
                if f["t"] == "data":
                    (backfilled if f.get("backfill") else got).extend(r[0] for r in f["r"])
                if f["t"] == "ack" and f["ref"] == "r1":
                    break
            assert backfilled == list(range(last_seq + 1, hello2["seq"] + 1))
        await asyncio.sleep(0.6)  # now far more than the 64-reading ring
        async with client(app.url) as c:
            await c.next()
            await c.send({"t": "resume", "id": 2, "boot": hello["boot"], "seq": last_seq})
            gap = await c.until(lambda f: f["t"] == "gap")
            assert gap["from"] == last_seq + 1 and gap["reason"] == "ring"
            assert gap["to"] == app.hub.ring.oldest_seq - 1 or gap["to"] < app.hub.ring.oldest_seq
            await c.send({"t": "resume", "id": 3, "boot": "0000000000000000", "seq": 10})
            gap = await c.until(lambda f: f["t"] == "gap" and f["ref"] == 3)
            assert (gap["boot"], gap["from"], gap["to"], gap["reason"]) == (
                "0000000000000000",
                11,
                None,
                "boot",
            )


async def test_max_clients_refuses_handshake_with_503() -> None:
    """Beyond limits.max_clients the handshake is refused with HTTP 503."""
    cfg = make_config(sensors=[synthetic("wave", 0.1)], limits={"max_clients": 2})
    async with running(cfg) as app, client(app.url) as a, client(app.url) as b:
        await a.next()
        await b.next()
        with pytest.raises(InvalidStatus) as info:
            async with connect(app.url):
                pass
        assert info.value.response.status_code == 503


async def test_seed_style_client_gets_binary_frame_for_text_message() -> None:
    """The field note's client (send text, await recv) gets binary msgpack frames back: the hello, then data and
    sensor status frames in any order (a status change may come first), and an error answering the text."""
    cfg = make_config(sensors=[synthetic("wave", 0.05)])
    async with running(cfg) as app, connect(app.url) as websocket:
        await websocket.send("Hello, WebSocket!")
        response = await websocket.recv()
        assert isinstance(response, bytes)
        assert msgpack.unpackb(response)["t"] == "hello"
        raw: list[str | bytes] = []
        async with asyncio.timeout(scaled(10)):
            while not raw or msgpack.unpackb(raw[-1])["t"] != "error":
                raw.append(await websocket.recv())
        assert [type(f) for f in raw] == [bytes] * len(raw)
        frames = [msgpack.unpackb(f) for f in raw]
        assert {f["t"] for f in frames[:-1]} <= {"data", "status"}
        assert (frames[-1]["ref"], frames[-1]["code"]) == (None, "bad_message")


async def test_frames_module() -> None:
    """Frames.until skips non-matching frames (helper sanity, used by every test here)."""
    cfg = make_config(sensors=[synthetic("wave", 0.01)])
    async with running(cfg) as app, client(app.url) as c:
        f = await c.until(lambda f: f["t"] == "data")
        assert isinstance(c, Frames) and f["r"]


async def test_the_fan_out_fast_path_is_in_use_with_this_websockets() -> None:
    """With the installed websockets (scripts/test-floor.sh: the oldest one allowed), frames take the fast path,
    not the broadcast fallback: the pinned range must not rely on the fallback."""
    import gateway.server.frames

    cfg = make_config(sensors=[synthetic("wave", 0.01)])
    async with running(cfg) as app, client(app.url) as c:
        assert (await c.next())["t"] == "hello"
        await c.until(lambda f: f["t"] == "data")
        assert gateway.server.frames.FAST_PATH.usable is True
