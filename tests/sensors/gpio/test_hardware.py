"""On a Raspberry Pi or Jetson with one jumper wire between two free pins (pytest --run-hardware).

Set ``SENSORCAST_GPIO_LOOPBACK="OUT,IN"`` (BCM numbers, e.g. ``"20,21"`` = physical pins 38 and 40) after
wiring OUT to IN through a 1 kΩ resistor (it protects both pins if one is mis-configured). On a Jetson the OUT
pin must have hardware PWM enabled for the PWM test (BCM 13 = board pin 33 on a Nano).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from sensors.base import BuildContext
from sensors.sim.emulators import context_with_emulators
from tests.sensors.gpio.helpers import Recorder, build_actuator, build_sensor, wait_for

pytestmark = pytest.mark.hardware


@pytest.fixture
def loop_pins() -> tuple[int, int]:
    value = os.environ.get("SENSORCAST_GPIO_LOOPBACK", "")
    try:
        out_pin, in_pin = (int(p) for p in value.split(","))
    except ValueError:
        pytest.skip('set SENSORCAST_GPIO_LOOPBACK="OUT,IN" (BCM) after wiring OUT to IN through 1 kOhm')
    return out_pin, in_pin


@pytest.fixture
def ctx() -> Iterator[BuildContext]:
    c = context_with_emulators()
    yield c
    c.close()


def test_output_edges_arrive_on_the_input_in_order_and_on_time(
    ctx: BuildContext, loop_pins: tuple[int, int]
) -> None:
    """Switching the output on/off three times gives six alternating edges, each within 20 ms of the switch."""
    out_pin, in_pin = loop_pins
    led = build_actuator(ctx, "led", pin=out_pin)
    led.open()
    sensor = build_sensor(ctx, "digital_input", pin=in_pin, pull="none")
    rec = Recorder()
    sensor.attach(rec)
    sensor.open()
    switched = []
    for value in (True, False) * 3:
        switched.append(time.time_ns())
        assert led.apply(value) is value
        time.sleep(0.05)
    assert wait_for(lambda: len(rec.events) == 6)
    assert [v["active"] for v, _ in rec.events] == [True, False] * 3
    lags_ms = [((ts or 0) - t) / 1e6 for (_, ts), t in zip(rec.events, switched, strict=True)]
    assert all(-1.0 <= lag <= 20.0 for lag in lags_ms), lags_ms
    sensor.close()
    led.close()


def test_pwm_at_100_hz_is_counted_at_100_hz(ctx: BuildContext, loop_pins: tuple[int, int]) -> None:
    """A 50 % PWM at 100 Hz on OUT reads 100 Hz +/- 10 % on the pulse counter over 2 s."""
    out_pin, in_pin = loop_pins
    pwm = build_actuator(ctx, "pwm_led", pin=out_pin, frequency_hz=100)
    counter = build_sensor(
        ctx, "pulse_counter", pin=in_pin, pull="none", active_high=True, bounce_time_s=0.0, window_s=2.0
    )
    counter.open()
    pwm.open()
    pwm.apply(0.5)
    time.sleep(2.2)
    rate_hz = float(counter.read()["rate_hz"] or 0.0)
    pwm.close()
    counter.close()
    assert rate_hz == pytest.approx(100.0, rel=0.1)
