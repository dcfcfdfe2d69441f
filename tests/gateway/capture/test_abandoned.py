"""A bus stuck longer than read_timeout_s: the gateway abandons the poll, the abandoned call still finishes its
exchange on the old bus thread once the bus is free, and the capture holds that exchange. The poller's verdict
is in the capture too, so a replay drops that reading and makes the same health changes as the live gateway."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.buses import BusWorker
from gateway.capture.recorder import CaptureWriter, RecordingTap
from gateway.capture.replayer import Capture, ReplayTap
from gateway.capture.session import capture_header, drive, replay_config, replay_context
from gateway.catalogue import Catalogue
from gateway.config import parse_config
from gateway.devices import build_context, build_devices
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.poller import SensorRunner
from sensors.health import HealthPolicy
from sensors.sim.emulators import EMULATORS
from tests.conftest import scaled

READ_TIMEOUT_S = scaled(0.3)
STUCK_S = scaled(0.6)
"""Longer than READ_TIMEOUT_S: the poll is abandoned, and its call completes on the old thread at release."""
STUCK_AT_POLL = 3
POLLS = 8
POLICY = HealthPolicy(retries=2, offline_after=3, backoff_initial_s=1.0, backoff_max_s=1.0, jitter=0.0)
CONFIG = {
    "gateway": {"id": "t"},
    "sensors": [
        {"id": "env", "driver": "bme280", "simulate": True, "interval_s": 1.0, "bus": 1, "address": 118}
    ],
}


async def record_live(path: Path) -> tuple[list[Any], list[str]]:
    """Poll the emulated BME280 with the gateway's poller on a recorded bus, the bus stuck across one poll;
    return the values published and the health states reported."""
    cfg = parse_config(CONFIG, file="(test)")
    writer = CaptureWriter(str(path), capture_header(cfg, __version__, "test", list(cfg.sensors)))
    tap = RecordingTap(writer)
    ctx = build_context(tap=tap)
    try:
        return await poll(cfg, ctx, stuck=True, poll_log=tap)
    finally:
        ctx.close()
        writer.close()


async def serve_replay(path: Path) -> tuple[list[Any], list[str]]:
    """Poll the replayed BME280 with the gateway's poller, as `sensorcast replay --port` does."""
    capture = Capture.load(str(path))
    tap = ReplayTap(capture, None)
    ctx = replay_context(tap, EMULATORS)
    try:
        return await poll(replay_config(capture.header), ctx, stuck=False, verdicts=tap)
    finally:
        ctx.close()


async def poll(cfg: Any, ctx: Any, *, stuck: bool, **runner_kw: Any) -> tuple[list[Any], list[str]]:
    """POLLS polls of the config's one sensor by the gateway's poller (``stuck``: its emulated bus stuck across
    one poll); the values published and the health states reported."""
    metrics = Metrics()
    catalogue = Catalogue(metrics)
    hub = Hub("t", "boot", flush_interval_ms=0, metrics=metrics, catalogue=catalogue)
    published: list[Any] = []
    states: list[str] = []
    hub.add_sink(published.extend)
    catalogue.add_status_sink(lambda _sid, state, _err: states.append(state))
    (sensor,), _ = build_devices(cfg, ctx)
    catalogue.register_sensor(sensor.info)
    worker = BusWorker(sensor.bus_id)
    runner = SensorRunner(
        sensor, worker, hub, POLICY, READ_TIMEOUT_S, catalogue=catalogue, metrics=metrics, **runner_kw
    )
    bus = ctx.resources["sim-i2c-1"] if stuck else None
    loop = asyncio.get_running_loop()
    try:
        for n in range(POLLS):
            if n == STUCK_AT_POLL and bus is not None:
                bus.stick()
                loop.call_later(STUCK_S, bus.release)
            await runner.poll_once()
            # past the release (and the abandoned thread's late exchange) before the next poll, as the
            # poller's backoff (1 s) is after a timeout
            if bus is not None:
                await asyncio.sleep(STUCK_S if n == STUCK_AT_POLL else 0.01)
        assert worker.abandoned_threads == (1 if bus is not None else 0)
    finally:
        if bus is not None:
            bus.release()
        worker.shutdown()
    return [r[4] for r in published], states


def replay(path: Path, honour_verdicts: bool) -> tuple[list[Any], list[str], Capture, str | None]:
    capture = Capture.load(str(path))
    tap = ReplayTap(capture, None)
    ctx = replay_context(tap, EMULATORS)
    sensors, _ = build_devices(replay_config(capture.header), ctx)
    kw: dict[str, Any] = {"abandoned": tap.abandoned} if honour_verdicts else {}
    try:
        driven = drive(sensors, threading.Event(), hit_end=tap.hit_end, policy=POLICY, **kw)
    finally:
        ctx.close()
    outs = driven.outcomes["env"]
    return (
        [o.values for o in outs if o.values],
        [o.health for o in outs if o.health],
        capture,
        tap.first_mismatch,
    )


def test_a_poll_abandoned_on_a_stuck_bus_replays_as_a_timeout_not_as_the_late_reading(tmp_path: Path) -> None:
    """The live gateway publishes no reading for the poll it abandoned (failing, then recovering, ok); the
    capture holds the late exchange and the verdict, and replay --dump's driving loop gives the very same
    readings and health changes (without the verdict it decoded the late exchange as a reading, then stopped
    at a mismatch)."""
    path = tmp_path / "stuck.scap"
    live_values, live_states = asyncio.run(record_live(path))
    assert live_states == ["ok", "failing", "recovering", "ok"]
    assert len(live_values) == POLLS - 1

    values, health, capture, mismatch = replay(path, honour_verdicts=True)
    assert mismatch is None
    assert [(c.op, list(c.args)) for c in capture.calls("poll:env")] == [
        ("abandoned", [STUCK_AT_POLL, "read", True])
    ]
    assert values == live_values
    assert health == live_states

    # Before the verdicts were recorded, replay took the late exchange for a reading, so the next poll did not
    # re-open the sensor as the live one did, and the replay stopped at a mismatch right there.
    unaware, unaware_health, _, mismatch = replay(path, honour_verdicts=False)
    assert unaware == [*live_values[:STUCK_AT_POLL], unaware[STUCK_AT_POLL]] and unaware_health == ["ok"]
    assert mismatch is not None and "the capture has read_byte_data[208]" in mismatch  # the re-open: chip id


def test_a_served_replay_fails_the_abandoned_poll_too(tmp_path: Path) -> None:
    """The gateway's poller on a replayed bus (`sensorcast replay --port`, here as fast as it can) follows the
    recorded verdict: the same readings published and the same health changes as live, no thread abandoned."""
    path = tmp_path / "stuck.scap"
    live = asyncio.run(record_live(path))
    assert live[1] == ["ok", "failing", "recovering", "ok"]
    assert asyncio.run(serve_replay(path)) == live


def test_the_gateway_gives_its_pollers_the_recording_or_replaying_tap(tmp_path: Path) -> None:
    """`sensorcast record`'s gateway tells its pollers' verdicts to the recording tap, `sensorcast replay`'s
    follows the replaying tap's; a plain run has neither."""
    from gateway.app import GatewayApp

    path = tmp_path / "stuck.scap"
    asyncio.run(record_live(path))
    capture = Capture.load(str(path))
    cfg = replay_config(capture.header, port=0)
    replaying = ReplayTap(capture, None)
    writer = CaptureWriter(str(tmp_path / "again.scap"), capture.header)
    recording = RecordingTap(writer)

    async def runner_of(ctx: Any) -> SensorRunner:
        app = GatewayApp(cfg, ctx=ctx)
        (sensor,), _ = build_devices(cfg, ctx)
        try:
            return app._start_sensor(sensor, asyncio.get_running_loop())
        finally:
            for worker in app.workers.values():
                worker.shutdown()
            ctx.close()

    try:
        replayed = asyncio.run(runner_of(replay_context(replaying, EMULATORS)))
        recorded = asyncio.run(runner_of(build_context(tap=recording)))
        plain = asyncio.run(runner_of(build_context()))
    finally:
        writer.close()
    assert (replayed._verdicts, replayed._poll_log) == (replaying, None)
    assert (recorded._verdicts, recorded._poll_log) == (None, recording)
    assert (plain._verdicts, plain._poll_log) == (None, None)
