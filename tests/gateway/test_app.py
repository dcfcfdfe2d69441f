"""gateway.app: the lifecycle in process, on loopback port 0: what /healthz reports, the order of a clean stop,
and a crashed task stopping the app through that same order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayApp
from gateway.config import Config, parse_config
from gateway.history.reader import HistoryReader
from tests.conftest import scaled


def config(**extra: Any) -> Config:
    return parse_config(
        {
            "gateway": {"id": "t", "host": "127.0.0.1", "port": 0},
            "sensors": [{"id": "wave", "driver": "synthetic", "interval_s": 0.02, "fields": ["a"]}],
            "actuators": [
                {"id": "relay1", "driver": "relay", "pin": 26, "simulate": True, "safe_value": False}
            ],
            **extra,
        },
        file="(test)",
    )


class RecordingBridge:
    """A bridge (gateway.app.Bridge) that records when it is stopped."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.dashboard_url: str | None = None

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def stop(self) -> None:
        self.log.append("bridge commits and delivers")

    def metrics(self) -> dict[str, float]:
        return {}

    def republish(self) -> None:
        self.log.append("republish")


def recorded(log: list[str], what: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        log.append(what)
        return fn(*args, **kwargs)

    return wrapper


async def test_healthz_reports_each_sensor_state_and_the_counts() -> None:
    """/healthz: the gateway id, every sensor's state from the catalogue, the flushed seq, the client count."""
    async with GatewayApp(config()) as app:
        ok = asyncio.Event()
        app.catalogue.add_status_sink(lambda sid, state, err: ok.set() if state == "ok" else None)
        if app.catalogue.states() != {"wave": "ok"}:
            await asyncio.wait_for(ok.wait(), scaled(5.0))
        health = app.health()
        flushed = app.hub.flushed_seq
    assert (health["gateway"], health["sensors"], health["clients"]) == ("t", {"wave": "ok"}, 0)
    assert (health["seq"], health["status"]) == (flushed, "ok")


async def test_a_clean_stop_runs_in_the_order_that_loses_nothing() -> None:
    """Sensors stop -> rules close -> outputs to their safe values -> the hub's last flush -> the history store
    commits -> the bridge commits and delivers -> (the other tasks stop) -> clients are closed (1001)."""
    log: list[str] = []
    async with GatewayApp(config()) as app:
        app.bridge = RecordingBridge(log)
        for runner in app.runners:
            runner.close = recorded(log, "sensor closed", runner.close)  # type: ignore[method-assign]
        app.rules.close = recorded(log, "rules closed", app.rules.close)  # type: ignore[method-assign]
        assert app.history is not None  # on by default
        app.history.close = recorded(log, "history commits", app.history.close)  # type: ignore[method-assign]
        app.commands.apply_safe = recorded(log, "safe values", app.commands.apply_safe)  # type: ignore[method-assign]
        flush = app.hub.flush

        def flush_when_stopping() -> (
            None
        ):  # the timer flushes all along; the stop's flush comes after safe values
            if app.commands.stopping and "last flush" not in log:
                log.append("last flush")
            flush()

        app.hub.flush = flush_when_stopping  # type: ignore[method-assign]
        server = app.server.server
        assert server is not None
        server.close = recorded(log, "clients closed", server.close)  # type: ignore[method-assign]
        await asyncio.sleep(0.05)
    assert log == [
        "sensor closed",
        "rules closed",
        "safe values",
        "last flush",
        "history commits",
        "bridge commits and delivers",
        "clients closed",
    ]
    assert app.commands.stopping is True


async def test_a_clean_stop_stores_every_reading_the_hub_flushed(tmp_path: Path) -> None:
    """Every reading of a raw-policy sensor that left the hub is in the history database once the app has
    stopped, in order - here nearly all of them leave in the stop's last flush (after the first, which an idle
    link sends at once, the 10 s flush window is never over)."""
    cfg = parse_config(
        {
            "gateway": {
                "id": "t",
                "host": "127.0.0.1",
                "port": 0,
                "data_dir": str(tmp_path),
                "flush_interval_ms": 10000,
                "batch_size": 10000,
            },
            "sensors": [
                {"id": "wave", "driver": "synthetic", "interval_s": 0.02, "fields": ["a"], "history": "raw"}
            ],
        },
        file="(test)",
    )
    flushed: list[int] = []
    async with GatewayApp(cfg) as app:
        app.hub.add_sink(lambda batch: flushed.extend(r[2] for r in batch if r[3] == "wave"))
        await asyncio.sleep(0.3)
        assert len(flushed) <= 1  # the rest is still pending in the hub
        assert app.history is not None
        path = app.history.path
    assert len(flushed) >= 5
    result = HistoryReader(path).query("wave", ["a"], 0, 2**62, limit=100_000)
    assert result is not None
    stored = [row[0] for row in result.rows]
    assert (
        stored[len(stored) - len(flushed) :] == flushed
    )  # (the reading sent before the sink was added precedes)


async def test_a_crashed_task_stops_the_app_and_is_kept_as_the_failure() -> None:
    """A task that raises sets app.failed and ends wait_closed(); the sensor keeps no stale 'ok'."""
    async with GatewayApp(config()) as app:

        async def crash() -> None:
            raise RuntimeError("bug in a task")

        app._spawn(crash(), "crasher")
        await asyncio.wait_for(app.wait_closed(), scaled(5.0))
        assert isinstance(app.failed, RuntimeError)


async def test_an_output_that_never_opened_is_left_alone_at_the_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A start that fails (or is interrupted: one Ctrl-C during start-up) before an output opened stops
    without driving that output: its pin may belong to someone else, and 'GPIO26 is not open' with a traceback
    is what the stop printed. The output is still closed (its open may have finished on the bus thread)."""
    from gpiozero import OutputDevice
    from gpiozero.pins.mock import MockFactory

    from gateway.devices import build_context

    factory = MockFactory()
    ctx = build_context(data_dir=str(tmp_path))
    ctx.resources["bus:sim:gpio"] = factory
    holder = OutputDevice(26, pin_factory=factory)  # another program holds GPIO26
    caplog.set_level(logging.INFO, logger="sensorcast")
    try:
        with pytest.raises(Exception, match="26"):
            async with GatewayApp(config(gateway={"id": "t", "host": "127.0.0.1", "port": 0}), ctx=ctx):
                pass
    finally:
        holder.close()
    assert [r.getMessage() for r in caplog.records if "safe value" in r.getMessage()] == []
    assert all(
        r.exc_info is None
        for r in caplog.records
        if r.levelno >= logging.ERROR and "relay1" in r.getMessage()
    )
