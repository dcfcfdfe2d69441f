"""A failing sensor is reported and retried while the rest keep streaming (real driver on the emulated bus)."""

from __future__ import annotations

import asyncio
from typing import Any

from sensors.base import BuildContext
from sensors.health import HealthPolicy
from tests.conftest import scaled
from tests.integration.helpers import Frames, client, make_config, running, synthetic

FAST = HealthPolicy(retries=1, offline_after=3, backoff_initial_s=0.05, backoff_max_s=0.2, jitter=0.1)


def env() -> dict[str, Any]:
    return {"id": "env", "driver": "bme280", "simulate": True, "interval_s": 0.05, "bus": 1, "address": 0x76}


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
    ctx = BuildContext(simulate=True)
    cfg = make_config(sensors=[env(), synthetic("wave", 0.02)])
    async with running(cfg, ctx=ctx, policy=FAST) as app, client(app.url) as c:
        await states_until(c, "env", "ok")
        bus = ctx.resources["sim-i2c-1"]
        bus.disappear(0x76)
        assert await states_until(c, "env", "offline") == ["failing", "offline"]
        wave_before = app.hub._prev["wave"]
        await asyncio.sleep(0.2)
        assert app.hub._prev["wave"] > wave_before, "other sensors must keep streaming"
        assert app.hub.states["env"]["error"] == "no acknowledge from device (EREMOTEIO)"
        assert app.metrics.get("sensorcast_sensor_errors_total", sensor="env") >= 3
        bus.reappear(0x76)
        assert await states_until(c, "env", "ok") == ["recovering", "ok"]
        data = await c.until(lambda f: f["t"] == "data" and any(r[3] == "env" for r in f["r"]))
        values = next(r[4] for r in data["r"] if r[3] == "env")
        assert set(values) >= {"temperature_c", "pressure_pa", "humidity_pct"}


async def test_stuck_bus_times_out_and_the_bus_gets_a_fresh_worker_thread() -> None:
    """A transaction that never returns is abandoned after read_timeout_s; reads resume once the bus is free."""
    ctx = BuildContext(simulate=True)
    cfg = make_config(sensors=[env()], gateway={"read_timeout_s": 0.3})
    async with running(cfg, ctx=ctx, policy=FAST) as app, client(app.url) as c:
        await states_until(c, "env", "ok")
        bus = ctx.resources["sim-i2c-1"]
        bus.stick()
        states = await states_until(c, "env", "failing")
        assert states == ["failing"] and app.hub.states["env"]["error"] == "timeout"
        bus.release()
        assert await states_until(c, "env", "ok") == ["recovering", "ok"]
        assert app.metrics.get("sensorcast_bus_threads_abandoned_total", bus="i2c-1") >= 1
