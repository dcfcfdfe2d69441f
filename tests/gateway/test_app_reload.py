"""GatewayApp.reload in process: sensors added/removed/rebuilt and tokens rotated while a client stays connected;
a driver that refuses its options leaves everything as it was."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gateway.app import GatewayApp
from gateway.config import Config, ConfigErrors, parse_config
from tests.conftest import scaled

TOKEN_OLD = "old-token-" + "a" * 10
TOKEN_NEW = "new-token-" + "b" * 10
TOKEN_KEEP = "keep-token-" + "c" * 10


def config(
    *sensors: tuple[str, float],
    token: str = TOKEN_OLD,
    rules: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Config:
    return parse_config(
        {
            "gateway": {"id": "t", "host": "127.0.0.1", "port": 0},
            "security": {
                "tokens": [
                    {"name": "op", "role": "operator", "token": token},
                    {"name": "keep", "role": "operator", "token": TOKEN_KEEP},
                ]
            },
            "sensors": [
                {"id": sid, "driver": "synthetic", "interval_s": iv, "fields": ["a"], **extra}
                for sid, iv in sensors
            ],
            "rules": rules or [],
        },
        file="(test)",
    )


async def test_reload_changes_sensors_and_tokens_without_dropping_the_client() -> None:
    """A connected client keeps its connection through a reload; the added sensor polls, the removed one
    leaves /healthz, the rebuilt one polls at its new interval, only the new token opens a connection, and the
    session of the removed token is closed with 4401."""
    async with GatewayApp(config(("keep", 0.02), ("gone", 0.02), ("tune", 0.02))) as app:
        url = f"ws://127.0.0.1:{app.port}/"
        async with (
            connect(url, subprotocols=[f"bearer.{TOKEN_KEEP}"]) as ws,  # type: ignore[list-item]
            connect(url, subprotocols=[f"bearer.{TOKEN_OLD}"]) as revoked,  # type: ignore[list-item]
        ):
            assert msgpack.unpackb(await ws.recv())["t"] == "hello"
            assert msgpack.unpackb(await revoked.recv())["t"] == "hello"
            plan = await app.reload(config(("keep", 0.02), ("tune", 0.5), ("new", 0.02), token=TOKEN_NEW))
            with pytest.raises(ConnectionClosed):
                while True:
                    assert msgpack.unpackb(await asyncio.wait_for(revoked.recv(), scaled(5)))["t"] != "hello"
            assert (revoked.close_code, revoked.close_reason) == (4401, "token revoked")
            assert plan.summary() == "added new; removed gone; rebuilt tune; tokens rotated"
            assert sorted(app.health()["sensors"]) == ["keep", "new", "tune"]
            assert sorted(r.id for r in app.runners) == ["keep", "new", "tune"]
            assert [r.sensor.info.interval_s for r in app.runners if r.id == "tune"] == [0.5]
            polled = asyncio.Event()  # the added sensor polls
            app.catalogue.add_status_sink(
                lambda sid, st, err: polled.set() if (sid, st) == ("new", "ok") else None
            )
            if app.health()["sensors"]["new"] != "ok":
                await asyncio.wait_for(polled.wait(), scaled(5))
            await ws.ping()
            assert ws.close_code is None
        async with connect(url, subprotocols=[f"bearer.{TOKEN_OLD}"]) as old:  # type: ignore[list-item]
            with pytest.raises(ConnectionClosed):
                while True:  # refused: never a hello, then closed
                    assert msgpack.unpackb(await asyncio.wait_for(old.recv(), scaled(5)))["t"] != "hello"
        async with connect(url, subprotocols=[f"bearer.{TOKEN_NEW}"]) as ws:  # type: ignore[list-item]
            assert msgpack.unpackb(await ws.recv())["t"] == "hello"
        assert app.failed is None


async def test_a_driver_refusing_its_options_leaves_the_running_config_untouched() -> None:
    """A new sensor with a bad driver option fails the reload before anything running is stopped."""
    async with GatewayApp(config(("keep", 0.02))) as app:
        bad = parse_config(
            {
                "gateway": {"id": "t", "host": "127.0.0.1", "port": 0},
                "sensors": [
                    {"id": "keep", "driver": "synthetic", "interval_s": 0.5, "fields": ["a"]},
                    {"id": "new", "driver": "synthetic", "bogus_option": 1},
                ],
            },
            file="(test)",
        )
        with pytest.raises(ConfigErrors):
            await app.reload(bad)
        assert [(r.id, r.sensor.info.interval_s) for r in app.runners] == [("keep", 0.02)]
        assert app.config.security.tokens[0].token == TOKEN_OLD
        assert app.failed is None


async def test_a_reload_removing_a_sensor_and_its_rules_keeps_them_running_until_a_restart() -> None:
    """A reload that drops a sensor and its rules keeps that sensor polling: its active rule stays active with
    fresh readings and its stale rule never fires (no phantom 'offline' event); a second identical reload
    keeps it again and polls it once (no second runner)."""
    rules = [
        {"id": "counts", "sensor": "watched", "field": "n", "when": "above", "threshold": 0},
        {"id": "silent", "sensor": "watched", "field": "n", "when": "stale", "after_s": 0.3},
    ]
    async with GatewayApp(config(("watched", 0.02), ("other", 0.02), rules=rules)) as app:
        events: list[tuple[str, str]] = []
        app.hub.add_event_sink(lambda e: events.append((e["rule"], e["state"])))
        for _ in range(int(scaled(5) / 0.02)):
            if app.rules.engine.state("counts") == "active":
                break
            await asyncio.sleep(0.02)
        for _ in range(2):
            plan = await app.reload(config(("other", 0.02)))
            assert plan.summary() == (
                "kept watched (the running rules watch it until a restart); restart needed for rules (not applied)"
            )
        await asyncio.sleep(1.0)  # > the stale rule's after_s, and several of its ticks
        assert sorted(r.id for r in app.runners) == ["other", "watched"]
        assert (app.rules.engine.state("counts"), app.rules.engine.state("silent")) == ("active", "inactive")
        assert [e for e in events if e[0] == "silent"] == []
        assert app.failed is None
