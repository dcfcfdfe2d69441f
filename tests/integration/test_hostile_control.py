"""Hostile control messages against a real gateway on loopback: big integers, deep nesting, subscription
floods, resume loops and resume before subscribing are answered with error frames, never a traceback."""

from __future__ import annotations

import asyncio
import json
import logging

import msgpack
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import scaled
from tests.integration.helpers import Frames, client, make_config, running, synthetic

BIG = "100000000000000000000000"
TOKEN = "A" * 20 + "-_" + "z" * 21


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records that carry an exception (what a crashed handler leaves behind)."""
    return [r.getMessage() for r in caplog.records if r.exc_info is not None or r.levelno >= logging.ERROR]


async def reply(c: Frames) -> tuple[object, ...]:
    """(t, ref, code, msg) of the next reply frame (data frames skipped)."""
    f = await c.until(lambda f: f["t"] in ("error", "ack", "pong"))
    return (f["t"], f.get("ref"), f.get("code"), f.get("msg"))


async def test_big_integers_and_deep_nesting_get_error_frames_and_the_connection_lives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each malformed message of the issue gets error bad_message (ref None); afterwards a ping still works."""
    cfg = make_config(sensors=[synthetic("wave", 0.05)], limits={"max_bad_messages": 20})
    deep_policy = (
        b"\x82\xa1t\xa9subscribe\xa9subscribe\x91\x82\xa4path\xa1x\xa6policy" + b"\x91" * 1000 + b"\xc0"
    )
    cases: list[tuple[str | bytes, str]] = [
        ('{"t":"ping","id":' + BIG + "}", "id: integers must lie in -2**63..2**64-1"),
        ('{"t":"ping","ts":' + BIG + "}", "ts: integers must lie in -2**63..2**64-1"),
        ('{"t":"whatever","id":' + BIG + "}", "id: integers must lie in -2**63..2**64-1"),
        ('{"t":"command","target":"x","value":' + BIG + "}", "value: integers must lie in -2**63..2**64-1"),
        (bytes.fromhex("81a174") + b"\x91" * 1000 + b"\xc0", "t: nested deeper than 8 levels"),
        (deep_policy, "subscribe: nested deeper than 8 levels"),
        ('{"t":"ping","ts":' + "[" * 900 + "]" * 900 + "}", "message: nested deeper than 8 levels"),
    ]
    with caplog.at_level(logging.INFO):
        async with running(cfg) as app, client(app.url + "?subscribe=none") as c:
            await c.next()
            got = []
            for data, _ in cases:
                await c.ws.send(data)
                got.append(await reply(c))
            assert got == [("error", None, "bad_message", msg) for _, msg in cases]
            await c.ws.send(json.dumps({"t": "ping", "id": 2**64 - 1, "ts": -(2**63)}))
            pong = await c.until(lambda f: f["t"] == "pong")
            assert (pong["ref"], pong["echo"]) == (2**64 - 1, -(2**63))
    assert no_tracebacks(caplog) == []


@pytest.mark.parametrize(
    "first",
    [
        '{"t":"ping","id":' + BIG + "}",
        '{"t":"nope","id":' + BIG + "}",
        bytes.fromhex("81a174") + b"\x91" * 1000 + b"\xc0",
    ],
    ids=["ping-big-id", "unknown-big-id", "deep"],
)
async def test_hostile_first_message_before_auth_is_refused_with_1008(
    caplog: pytest.LogCaptureFixture, first: str | bytes
) -> None:
    """On a gateway with tokens, a hostile first message gets auth_required and close 1008, not 1011."""
    cfg = make_config(
        sensors=[synthetic("wave", 0.05)],
        security={"tokens": [{"name": "v", "role": "viewer", "token": TOKEN}]},
    )
    with caplog.at_level(logging.INFO):
        async with running(cfg) as app, client(app.url) as c:
            await c.ws.send(first)
            assert await reply(c) == (
                "error",
                None,
                "auth_required",
                'this gateway requires a token: send {"t": "auth", "token": ...} first',
            )
            with pytest.raises(ConnectionClosed):
                await c.next()
            assert c.ws.close_code == 1008
    assert no_tracebacks(caplog) == []


async def test_subscriptions_are_capped_per_connection_and_advertised() -> None:
    """hello.limits.max_subscriptions is 256; growing past it is refused and the subscription keeps working."""
    cfg = make_config(sensors=[synthetic("env", 0.02, ("f1", "x"))])
    async with running(cfg) as app, client(app.url + "?subscribe=none") as c:
        hello = await c.next()
        assert hello["limits"]["max_subscriptions"] == 256
        for m in range(3):
            paths = [{"path": f"env.f{m * 256 + n}"} for n in range(256)]
            await c.send({"t": "subscribe", "id": m, "subscribe": paths})
        assert [await reply(c) for _ in range(3)] == [
            ("ack", 0, None, None),
            (
                "error",
                1,
                "too_many_subscriptions",
                "at most 256 subscription entries per connection: unsubscribe some, or subscribe with replace: true",
            ),
            (
                "error",
                2,
                "too_many_subscriptions",
                "at most 256 subscription entries per connection: unsubscribe some, or subscribe with replace: true",
            ),
        ]
        data = await c.until(lambda f: f["t"] == "data")
        assert {tuple(r[4]) for r in data["r"]} == {("f1",)}


async def test_resume_before_any_subscription_says_nothing_was_resumed() -> None:
    """After ?subscribe=none a resume gets error not_subscribed; after subscribing it backfills as usual."""
    cfg = make_config(sensors=[synthetic("wave", 0.005)])
    async with running(cfg) as app, client(app.url + "?subscribe=none") as c:
        hello = await c.next()
        await asyncio.sleep(0.1)
        await c.send({"t": "resume", "id": "r0", "boot": hello["boot"], "seq": 0})
        assert await reply(c) == (
            "error",
            "r0",
            "not_subscribed",
            "nothing resumed: a resume backfills the current subscription, which is empty; subscribe first",
        )
        await c.send({"t": "subscribe", "id": 1, "subscribe": [{"path": "wave"}]})
        assert await reply(c) == ("ack", 1, None, None)
        await c.send({"t": "resume", "id": "r1", "boot": hello["boot"], "seq": 0})
        backfilled = []
        while True:
            f = await c.until(lambda f: f["t"] in ("data", "ack"))
            if f["t"] == "ack":
                break
            if f.get("backfill"):
                backfilled += [r[0] for r in f["r"]]
        assert (f["ref"], f["op"], f["n"]) == ("r1", "resume", len(backfilled))
        assert len(backfilled) > 0 and "deferred_ms" not in f


async def test_resume_loop_is_paced_by_the_connection_budget_one_at_a_time() -> None:
    """Past its byte budget a resume is deferred (ack.deferred_ms) and a second one meanwhile gets busy."""
    cfg = make_config(sensors=[synthetic("wave", 0.002)])
    async with running(cfg) as app:
        app.server.resume_bytes_per_s = 20_000
        app.server.resume_burst_bytes = 1
        await asyncio.sleep(0.3)  # a ring to resume from (a resume reads up to where live data began)
        async with client(app.url) as c:
            hello = await c.next()
            assert (hello["limits"]["resume_bytes_per_s"], hello["limits"]["resume_burst_bytes"]) == (
                20_000,
                1,
            )
            await c.send({"t": "resume", "id": 1, "boot": hello["boot"], "seq": 0})  # the burst: at once
            first = await c.until(lambda f: f["t"] == "ack")
            assert (first["ref"], "deferred_ms" in first) == (1, False)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await c.send({"t": "resume", "id": 2, "boot": hello["boot"], "seq": 0})
            await c.send({"t": "resume", "id": 3, "boot": hello["boot"], "seq": 0})
            assert await reply(c) == ("error", 3, "busy", "a resume is already in progress: wait for its ack")
            second = await c.until(lambda f: f["t"] == "ack")
            waited_s = loop.time() - t0
            assert second["ref"] == 2 and second["deferred_ms"] > 0
            assert waited_s >= second["deferred_ms"] / 1000 * 0.9


async def test_subscription_flood_keeps_the_loop_responsive_ping_p99_under_250ms() -> None:
    """18 msgs/s of 256 new paths for 2 s (growing, then replacing): another client's pings stay answered fast."""
    cfg = make_config(
        sensors=[synthetic("env", 0.02, ("f1", "x"))] + [synthetic(f"s{i}", 0.02) for i in range(5)]
    )
    async with running(cfg) as app, client(app.url + "?subscribe=none") as probe:
        await probe.next()
        for replace in (False, True):
            frames = [
                msgpack.packb(
                    {
                        "t": "subscribe",
                        "replace": replace,
                        "subscribe": [{"path": f"env.f{m * 256 + n}"} for n in range(256)],
                    }
                )
                for m in range(36)
            ]
            async with client(app.url + "?subscribe=none") as attacker:
                await attacker.next()
                loop = asyncio.get_running_loop()
                rtts = []
                start = loop.time()
                for m, frame in enumerate(frames):
                    await asyncio.sleep(max(0.0, start + m / 18 - loop.time()))
                    await attacker.ws.send(frame)
                    t0 = loop.time()
                    await probe.send({"t": "ping", "id": m})
                    await probe.until(lambda f, m=m: f["t"] == "pong" and f["ref"] == m)  # type: ignore[misc]
                    rtts.append(loop.time() - t0)
            rtts.sort()
            assert rtts[int(len(rtts) * 0.99)] < scaled(0.25), (replace, rtts[-5:])
