"""Outputs change at most once per their minimum interval, however many operators toggle them (issue 20, item 13)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from tests.integration.helpers import Frames, client, make_config, running, synthetic

RELAY = {"id": "relay1", "driver": "relay", "simulate": True, "pin": 26, "active_high": False}


async def toggler(c: Frames, n: int, results: list[tuple[float, dict[str, Any]]]) -> None:
    """Send ``n`` toggles 60 ms apart (under the 20/s control limit), collecting every result with its time."""
    loop = asyncio.get_running_loop()
    for i in range(n):
        await c.send({"t": "command", "id": i, "target": "relay1", "value": i % 2 == 0})
        results.append((loop.time(), await c.until(lambda f: f["t"] == "result")))
        await asyncio.sleep(0.06)


async def test_ten_operators_toggling_a_relay_change_it_at_most_twice_a_second() -> None:
    """10 connections x 25 toggles over ~2 s: accepted changes are >= 0.5 s apart (by the relay's own readings),
    every other command is refused with the limit named and a retry_after_ms in 1..500, and hello shows it."""
    cfg = make_config(sensors=[synthetic("wave", 1.0)], actuators=[RELAY])
    async with running(cfg) as app:
        changes: list[int] = []
        app.hub.add_sink(lambda batch: changes.extend(r[2] for r in batch if r[3] == "relay1"))
        results: list[tuple[float, dict[str, Any]]] = []
        async with client(app.url) as first:
            hello = await first.until(lambda f: f["t"] == "hello")
            assert [(a["id"], a["min_interval_s"]) for a in hello["actuators"]] == [("relay1", 0.5)]
            others = [client(app.url) for _ in range(9)]
            conns = [first, *[await o.__aenter__() for o in others]]
            for c in conns[1:]:
                await c.until(lambda f: f["t"] == "hello")
            app.hub.flush()
            changes.clear()  # the safe value published at start is not a commanded change
            try:
                await asyncio.gather(*(toggler(c, 25, results) for c in conns))
            finally:
                for o in others:
                    await o.__aexit__(None, None, None)
        app.hub.flush()
        commanded = list(changes)  # before shutdown drives the relay to its safe value
    ok = [r for _, r in results if r["ok"]]
    refused = [r for _, r in results if not r["ok"]]
    assert len(results) == 250
    span_s = max(t for t, _ in results) - min(t for t, _ in results)
    assert 2 <= len(ok) <= span_s / 0.5 + 1
    assert len(commanded) == len(ok)
    gaps_s = [(b - a) / 1e9 for a, b in itertools.pairwise(commanded)]
    assert min(gaps_s) >= 0.5 - 0.005, gaps_s  # readings are stamped just after the change
    assert {r["error"].split(";")[0] for r in refused} == {"too soon: relay1 accepts one change per 0.5 s"}
    assert all(1 <= r["retry_after_ms"] <= 500 for r in refused)
    assert app.metrics.get("sensorcast_commands_refused_total", target="relay1") == len(refused)
