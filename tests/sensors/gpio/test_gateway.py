"""GPIO through the real gateway: edges reach the hub with their own time, commands drive a relay pin."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from gateway.app import GatewayApp
from gateway.config import parse_config
from gateway.protocol.model import Reading
from sensors.sim.emulators import context_with_emulators
from sensors.sim.gpio import SimFactory
from tests.conftest import scaled


async def _until(cond: Any, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + scaled(timeout_s)
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_button_edges_and_relay_commands_through_the_gateway(tmp_path: Path) -> None:
    """A press/release pair is published as two readings stamped at the edges; an operator switches the
    active-low relay (pin low), a viewer may not, and shutdown switches it off (pin high) before releasing it."""
    factory = SimFactory()
    ctx = context_with_emulators(data_dir=str(tmp_path))
    ctx.resources["gpio-factory"] = factory
    cfg = parse_config(
        {
            "gateway": {"id": "gpio-test", "data_dir": str(tmp_path), "port": 0},
            "sensors": [
                {
                    "id": "door",
                    "driver": "button",
                    "interval_s": 60,
                    "pin": 17,
                    "bounce_time_s": 0.0,
                    "backend": "gpiozero",
                }
            ],
            "actuators": [
                {"id": "relay1", "driver": "relay", "pin": 26, "active_high": False, "backend": "gpiozero"}
            ],
        }
    )
    readings: list[Any] = []
    async with GatewayApp(cfg, ctx=ctx) as app:
        app.hub.add_sink(lambda batch: readings.extend(Reading(*r) for r in batch))
        relay_pin = factory.pin(26)
        assert relay_pin.state == 1.0  # claimed in the safe state: off
        await _until(lambda: any(r.sensor == "door" for r in readings))  # the first periodic state
        pin = factory.pin(17)
        t_press = time.time_ns()
        pin.drive_low()
        t_release = time.time_ns()
        pin.drive_high()
        await _until(lambda: len([r for r in readings if r.sensor == "door"]) >= 3)
        door = [r for r in readings if r.sensor == "door"]
        assert [dict(r.values) for r in door] == [
            {"active": False, "held": False, "activations": 0},
            {"active": True, "held": False, "activations": 1},
            {"active": False, "held": False, "activations": 1},
        ]
        assert t_press <= door[1].ts_ns <= t_release <= door[2].ts_ns <= time.time_ns()
        denied = await app.commands.execute("relay1", True, role="viewer", origin="test")
        assert (denied.ok, relay_pin.state) == (False, 1.0)
        result = await app.commands.execute("relay1", "on", role="operator", origin="test")
        assert (result.ok, result.value, relay_pin.state) == (True, True, 0.0)
        await _until(lambda: any(r.sensor == "relay1" and r.values == {"value": True} for r in readings))
    # Shutdown applied the safe value (high = off), then released the pin (MockPWMPin.close() zeroes its state;
    # a real pin becomes a floating input and the relay board's own pull-up keeps it off).
    assert [st.state for st in relay_pin.states[-3:]] == [0.0, 1.0, 0.0]
    assert relay_pin.function == "input"
