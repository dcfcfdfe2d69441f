"""A failing sensor is reported and retried while the rest keep streaming (real driver on the emulated bus)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from gateway.catalogue import Catalogue
from sensors.health import HealthPolicy
from sensors.sim.emulators import context_with_emulators
from tests.conftest import scaled
from tests.integration.helpers import Frames, client, make_config, running, synthetic

FAST = HealthPolicy(retries=1, offline_after=3, backoff_initial_s=0.05, backoff_max_s=0.2, jitter=0.1)


def env() -> dict[str, Any]:
    return {"id": "env", "driver": "bme280", "simulate": True, "interval_s": 0.05, "bus": 1, "address": 0x76}


def rh() -> dict[str, Any]:
    """An SHT3x on the same emulated bus as :func:`env` (one bus worker for both)."""
    return {"id": "rh", "driver": "sht3x", "simulate": True, "interval_s": 0.05, "bus": 1, "address": 0x44}


class StateLog:
    """Every sensor state change in a catalogue (a status sink), with event-based waits."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.latest = catalogue.states()
        self.seen: dict[str, list[str]] = {}
        self._changed = asyncio.Event()
        catalogue.add_status_sink(self._on_state)

    def _on_state(self, sensor_id: str, state: str, error: str | None) -> None:
        self.latest[sensor_id] = state
        self.seen.setdefault(sensor_id, []).append(state)
        self._changed.set()

    async def until(self, pred: Callable[[dict[str, str]], bool], timeout: float = 10.0) -> None:
        """Wait until ``pred(latest states)`` holds."""
        async with asyncio.timeout(scaled(timeout)):
            while not pred(self.latest):
                self._changed.clear()
                await self._changed.wait()

    async def all_in(self, state: str, *sensors: str, timeout: float = 10.0) -> None:
        """Wait until every one of ``sensors`` is in ``state``."""
        try:
            await self.until(lambda latest: all(latest.get(s) == state for s in sensors), timeout)
        except TimeoutError:
            raise AssertionError(f"{sensors} never all {state}: {self.latest}, history {self.seen}") from None


async def states_until(c: Frames, sensor: str, final: str, timeout: float = 10.0) -> list[str]:
    """Collect the sensor's state changes from status frames until ``final``."""
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + scaled(timeout)
    while loop.time() < end:
        f = await c.next(timeout=end - loop.time())
        if f["t"] == "status" and sensor in f.get("sensors", {}):
            seen.append(f["sensors"][sensor]["state"])
            if seen[-1] == final:
                return seen
    raise AssertionError(f"{sensor} never reached {final}: {seen}")


async def test_unplugged_chip_goes_failing_offline_then_recovers_while_others_stream() -> None:
    """Chip disappears -> failing -> offline (status frames, metrics); comes back -> recovering -> ok."""
    ctx = context_with_emulators(simulate=True)
    cfg = make_config(sensors=[env(), synthetic("wave", 0.02)])
    async with running(cfg, ctx=ctx, policy=FAST) as app, client(app.url) as c:
        await states_until(c, "env", "ok")
        bus = ctx.resources["sim-i2c-1"]
        bus.disappear(0x76)
        assert await states_until(c, "env", "offline") == ["failing", "offline"]
        wave_before = app.hub.last_seq("wave")
        await asyncio.sleep(0.2)
        assert app.hub.last_seq("wave") > wave_before, "other sensors must keep streaming"
        assert app.catalogue.state("env")[1] == "no acknowledge from device (EREMOTEIO)"
        assert app.metrics.get("sensorcast_sensor_errors_total", sensor="env") >= 3
        bus.reappear(0x76)
        assert await states_until(c, "env", "ok") == ["recovering", "ok"]
        data = await c.until(lambda f: f["t"] == "data" and any(r[3] == "env" for r in f["r"]))
        values = next(r[4] for r in data["r"] if r[3] == "env")
        assert set(values) >= {"temperature_c", "pressure_pa", "humidity_pct"}


async def test_stuck_bus_times_out_and_the_bus_gets_a_fresh_worker_thread() -> None:
    """A transaction that never returns is abandoned after read_timeout_s; reads resume once the bus is free."""
    ctx = context_with_emulators(simulate=True)
    cfg = make_config(sensors=[env()], gateway={"read_timeout_s": 0.3})
    async with running(cfg, ctx=ctx, policy=FAST) as app, client(app.url) as c:
        await states_until(c, "env", "ok")
        bus = ctx.resources["sim-i2c-1"]
        bus.stick()
        states = await states_until(c, "env", "failing")
        assert states == ["failing"] and app.catalogue.state("env")[1] == "timeout"
        bus.release()
        assert await states_until(c, "env", "ok") == ["recovering", "ok"]
        assert app.metrics.get("sensorcast_bus_threads_abandoned_total", bus="i2c-1") >= 1


async def test_a_hung_transaction_does_not_stop_the_other_sensors_on_that_bus() -> None:
    """Regression: env and rh share i2c-1, so one bus worker. When a transaction hangs, the call that times out
    used to cancel the other sensor's queued call: its polling task ended and it was never polled again, even
    after the bus recovered. Now both time out, are retried, and come back with the bus."""
    ctx = context_with_emulators(simulate=True)
    cfg = make_config(sensors=[env(), rh(), synthetic("wave", 0.02)], gateway={"read_timeout_s": 0.3})
    async with running(cfg, ctx=ctx, policy=FAST) as app, client(app.url) as c:
        log = StateLog(app.catalogue)
        await log.all_in("ok", "env", "rh", "wave")
        bus = ctx.resources["sim-i2c-1"]
        bus.stick()
        try:
            await log.all_in("offline", "env", "rh")  # three timed-out polls each: every one was retried
            assert app.catalogue.state("env")[1] == app.catalogue.state("rh")[1] == "timeout"
            assert app.health()["sensors"]["wave"] == "ok", "a sensor on another bus is unaffected"
        finally:
            bus.release()  # else the stuck threads would hold the interpreter at exit
        await log.all_in("ok", "env", "rh")
        assert app.health()["status"] == "ok"
        assert app.metrics.get("sensorcast_bus_threads_abandoned_total", bus="i2c-1") >= 2
        seq = app.hub.flushed_seq
        fresh = await c.until(lambda f: f["t"] == "data" and any(r[3] == "rh" and r[0] > seq for r in f["r"]))
        values = next(r[4] for r in fresh["r"] if r[3] == "rh" and r[0] > seq)
        assert set(values) >= {"temperature_c", "humidity_pct"}
        assert app.failed is None


async def test_a_polling_task_that_ends_unexpectedly_is_logged_and_shown_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing but shutdown cancels a sensor's polling task; if one ends anyway it must not vanish silently:
    it is logged, its state is ``stopped`` with an error (status frame, /healthz), the gateway keeps serving."""
    cfg = make_config(sensors=[synthetic("wave", 0.02), synthetic("other", 0.02)])
    async with running(cfg) as app, client(app.url) as c:
        log = StateLog(app.catalogue)
        await log.all_in("ok", "wave", "other")
        task = next(t for t in asyncio.all_tasks() if t.get_name() == "sensor-wave")
        with caplog.at_level(logging.ERROR, logger="gateway.app"):
            task.cancel()
            await states_until(c, "wave", "stopped")
        assert app.catalogue.state("wave")[1] == "polling stopped unexpectedly"
        health = app.health()
        assert health["sensors"] == {"wave": "stopped", "other": "ok"} and health["status"] == "degraded"
        assert any(
            "sensor-wave" in r.getMessage() and "unexpectedly" in r.getMessage() for r in caplog.records
        )
        other_before = app.hub.last_seq("other")
        await c.until(
            lambda f: f["t"] == "data" and any(r[3] == "other" and r[0] > other_before for r in f["r"])
        )
        assert app.failed is None
    assert "stopped" not in log.seen.get("other", []), "shutdown is not reported as an unexpected stop"
