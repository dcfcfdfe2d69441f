"""Outputs on gpiozero's MockFactory: pin levels and duty cycles, safe values, read-back states."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from sensors.base import ActuatorInfo, BuildContext
from sensors.errors import ConfigError
from sensors.gpio.outputs import servo_angle, servo_duty
from sensors.sim.emulators import context_with_emulators
from tests.sensors.gpio.helpers import build_actuator


@pytest.fixture
def factory() -> MockFactory:
    return MockFactory(pin_class=MockPWMPin)


@pytest.fixture
def ctx(factory: MockFactory) -> Iterator[BuildContext]:
    c = context_with_emulators()
    c.resources["gpio-factory"] = factory
    yield c
    c.close()


def test_active_low_relay_starts_off_and_drives_the_pin_inverted(
    factory: MockFactory, ctx: BuildContext
) -> None:
    """An active-low relay board: off = pin high from the first instant, on = pin low; apply returns the state."""
    relay = build_actuator(
        ctx, "relay", pin=26, active_high=False, safe_on_disconnect=True, backend="gpiozero"
    )
    assert relay.info == ActuatorInfo("dev", "relay", "switch", 0.0, 1.0, False, safe_on_disconnect=True)
    relay.open()
    pin = factory.pin(26)
    assert (pin.function, pin.state) == ("output", 1.0)
    assert [relay.apply(True), relay.apply(False), relay.apply(True)] == [True, False, True]
    assert [s.state for s in pin.states[-3:]] == [0.0, 1.0, 0.0]
    relay.close()
    assert pin.function == "input"


def test_led_is_active_high_and_can_default_on(factory: MockFactory, ctx: BuildContext) -> None:
    """An LED with safe_value true is lit as soon as it is claimed."""
    led = build_actuator(ctx, "led", pin=16, safe_value=True, backend="gpiozero")
    assert led.info.safe_value is True
    led.open()
    assert factory.pin(16).state == 1.0
    assert led.apply(False) is False and factory.pin(16).state == 0.0
    led.close()


def test_pwm_led_sets_the_duty_cycle_and_reports_it(factory: MockFactory, ctx: BuildContext) -> None:
    """Brightness 0.25 at 200 Hz is a 25 % duty cycle on the pin; the safe value 0 is applied at open."""
    led = build_actuator(ctx, "pwm_led", pin=18, frequency_hz=200, backend="gpiozero")
    assert (led.info.kind, led.info.min, led.info.max, led.info.safe_value) == ("number", 0.0, 1.0, 0.0)
    led.open()
    pin = factory.pin(18)
    assert (pin.frequency, pin.state) == (200, 0.0)
    assert [led.apply(0.25), led.apply(1.0), led.apply(0)] == [0.25, 1.0, 0.0]
    assert [s.state for s in pin.states[-3:]] == [0.25, 1.0, 0.0]
    led.close()


def test_servo_maps_degrees_to_pulse_widths_at_50_hz(factory: MockFactory, ctx: BuildContext) -> None:
    """-90/0/+90 degrees are 1.0/1.5/2.0 ms pulses in a 20 ms frame; the servo starts mid-range."""
    servo = build_actuator(ctx, "servo", pin=12, backend="gpiozero")
    assert (servo.info.min, servo.info.max, servo.info.safe_value, servo.info.unit) == (-90.0, 90.0, 0.0, "°")
    servo.open()
    pin = factory.pin(12)
    assert pin.frequency == pytest.approx(50.0)
    assert pin.state == pytest.approx(0.075)
    assert [servo.apply(-90.0), servo.apply(90.0), servo.apply(45.0)] == [-90.0, 90.0, 45.0]
    assert [round(s.state, 6) for s in pin.states[-3:]] == [0.05, 0.1, 0.0875]
    servo.close()


def test_servo_geometry_round_trips_and_clamps() -> None:
    """servo_angle inverts servo_duty; angles beyond the range are clamped to the end pulses."""
    geometry = (0.0, 180.0, 0.0005, 0.0025, 0.02)
    assert servo_duty(90.0, *geometry) == pytest.approx(0.075)
    assert servo_angle(servo_duty(33.0, *geometry), *geometry) == pytest.approx(33.0)
    assert servo_duty(200.0, *geometry) == pytest.approx(0.125)
    assert servo_duty(-5.0, *geometry) == pytest.approx(0.025)


def test_output_options_are_checked(ctx: BuildContext) -> None:
    """A safe value outside the range, an inverted range and a typo are ConfigErrors naming the key."""
    with pytest.raises(ConfigError, match=r"sensors\[0\]\.safe_value: expected a number in -90\.0\.\.90\.0"):
        build_actuator(ctx, "servo", pin=12, safe_value=120)
    with pytest.raises(ConfigError, match=r"max_angle_deg: must be greater"):
        build_actuator(ctx, "servo", pin=12, min_angle_deg=10, max_angle_deg=10)
    with pytest.raises(ConfigError, match=r"sensors\[0\]\.safe_value: expected true or false"):
        build_actuator(ctx, "relay", pin=5, safe_value=1)
    with pytest.raises(ConfigError, match=r"sensors\[0\]\.activ_high: unknown option"):
        build_actuator(ctx, "relay", pin=5, activ_high=False)


def test_output_on_a_machine_without_gpio_is_a_config_error() -> None:
    """No pin factory works in this container (no lgpio, RPi.GPIO or Pi): the error says why, per library."""
    ctx = context_with_emulators()
    with pytest.raises(
        ConfigError, match=r"sensors\[0\]\.driver: cannot drive GPIO on this machine: .*lgpio"
    ):
        build_actuator(ctx, "relay", pin=5, backend="gpiozero")
    ctx.close()
