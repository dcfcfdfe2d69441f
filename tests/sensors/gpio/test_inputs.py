"""Digital inputs and the pulse counter on gpiozero's MockFactory: edges, debounce, hold, timestamps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero import DigitalInputDevice
from gpiozero.pins.mock import MockFactory, MockPWMPin

from sensors.base import BuildContext, FieldSpec
from sensors.errors import ConfigError, SensorError
from sensors.sim.emulators import context_with_emulators
from tests.sensors.gpio.helpers import Recorder, build_sensor, wait_for


@pytest.fixture
def factory() -> MockFactory:
    return MockFactory(pin_class=MockPWMPin)


@pytest.fixture
def ctx(factory: MockFactory) -> Iterator[BuildContext]:
    c = context_with_emulators()
    c.resources["gpio-factory"] = factory
    yield c
    c.close()


def test_button_press_and_release_with_bounce_are_one_edge_each(
    factory: MockFactory, ctx: BuildContext
) -> None:
    """A bouncing press and a bouncing release give exactly [pressed, released], stamped at the first contact."""
    button = build_sensor(ctx, "button", pin=17, bounce_time_s=0.05, backend="gpiozero")
    rec = Recorder()
    button.attach(rec)
    button.open()
    pin = factory.pin(17)
    assert button.read() == {"active": False, "held": False, "activations": 0}  # pull-up: released reads high
    t0 = time.time_ns()
    for level in (0, 1, 0, 1, 0):
        pin.drive_low() if level == 0 else pin.drive_high()
    t1 = time.time_ns()
    time.sleep(0.08)
    for level in (1, 0, 1):
        pin.drive_low() if level == 0 else pin.drive_high()
    assert wait_for(lambda: len(rec.events) >= 2)
    time.sleep(0.08)
    assert rec.states() == [(True, False, 1), (False, False, 1)]
    press_ts = rec.events[0][1]
    assert press_ts is not None and t0 <= press_ts <= t1
    assert button.read() == {"active": False, "held": False, "activations": 1}
    button.close()


def test_a_glitch_inside_the_bounce_window_is_reported_as_press_and_release(
    factory: MockFactory, ctx: BuildContext
) -> None:
    """Press and release within 50 ms: both edges arrive, the release once the window has ended."""
    button = build_sensor(ctx, "button", pin=27, bounce_time_s=0.05, backend="gpiozero")
    rec = Recorder()
    button.attach(rec)
    button.open()
    pin = factory.pin(27)
    pin.drive_low()
    t_release = time.time_ns()
    pin.drive_high()
    assert rec.states() == [(True, False, 1)]
    assert wait_for(lambda: len(rec.events) == 2)
    assert rec.states() == [(True, False, 1), (False, False, 1)]
    release_ts = rec.events[1][1]
    assert release_ts is not None and release_ts >= t_release
    button.close()


def test_hold_emits_a_held_edge_after_hold_time(factory: MockFactory, ctx: BuildContext) -> None:
    """Held 0.25 s with hold_time_s 0.1: [pressed, held at press + 0.1 s, released]; read() shows held."""
    button = build_sensor(ctx, "button", pin=22, hold_time_s=0.1, bounce_time_s=0.0, backend="gpiozero")
    rec = Recorder()
    button.attach(rec)
    button.open()
    pin = factory.pin(22)
    pin.drive_low()
    assert wait_for(lambda: len(rec.events) == 2)
    assert button.read() == {"active": True, "held": True, "activations": 1}
    pin.drive_high()
    assert rec.states() == [(True, False, 1), (True, True, 1), (False, False, 1)]
    press_ts, held_ts = rec.events[0][1], rec.events[1][1]
    assert press_ts is not None and held_ts is not None
    assert abs((held_ts - press_ts) - 100_000_000) < 5_000_000
    button.close()


def test_motion_sensor_is_active_high_with_pull_down_and_a_motion_class(
    factory: MockFactory, ctx: BuildContext
) -> None:
    """A PIR's high output is motion; its field carries Home Assistant's 'motion' device class."""
    pir = build_sensor(ctx, "motion", pin=4, backend="gpiozero")
    rec = Recorder()
    pir.attach(rec)
    pir.open()
    pin = factory.pin(4)
    assert pin.pull == "down"
    pin.drive_high()
    pin.drive_low()
    pin.drive_high()
    assert rec.states() == [(True, False, 1), (False, False, 1), (True, False, 2)]
    assert pir.info.fields[0] == FieldSpec("active", "", "bool", "motion")
    pir.close()


def test_door_contact_with_pull_up_reports_open_as_active(factory: MockFactory, ctx: BuildContext) -> None:
    """digital_input with pull up and active_high: the idle-high (open) door reads active at once."""
    door = build_sensor(
        ctx, "digital_input", pin=5, pull="up", active_high=True, device_class="door", backend="gpiozero"
    )
    door.attach(Recorder())
    door.open()
    assert door.read() == {"active": True, "held": False, "activations": 0}
    factory.pin(5).drive_low()
    assert door.read() == {"active": False, "held": False, "activations": 0}
    assert door.info.fields[0].device_class == "door"
    door.close()


def test_line_sensor_without_pull_and_reopen_keeps_the_count(factory: MockFactory, ctx: BuildContext) -> None:
    """A re-open after a failure keeps the activation count and releases the pin in between."""
    line = build_sensor(ctx, "line", pin=6, backend="gpiozero")
    line.attach(Recorder())
    line.open()
    assert factory.pin(6).pull == "floating"
    factory.pin(6).drive_high()
    factory.pin(6).drive_low()
    line.close()
    DigitalInputDevice(6, pin_factory=factory).close()  # the pin is free again
    line.open()
    factory.pin(6).drive_high()
    assert line.read() == {"active": True, "held": False, "activations": 2}
    line.close()
    line.close()


def test_a_pin_in_use_fails_open_and_read_before_open_fails(factory: MockFactory, ctx: BuildContext) -> None:
    """Claiming a busy pin is a SensorError naming the pin; read() before open() is one too."""
    holder = DigitalInputDevice(13, pin_factory=factory)
    sensor = build_sensor(ctx, "digital_input", pin=13, backend="gpiozero")
    with pytest.raises(SensorError, match="GPIO13"):
        sensor.open()
    with pytest.raises(SensorError, match="not open"):
        sensor.read()
    holder.close()


def test_option_errors_name_the_key(ctx: BuildContext) -> None:
    """Typos and out-of-range pins are ConfigErrors with the key path."""
    with pytest.raises(ConfigError, match=r"sensors\[0\]\.pin: expected an integer in 0\.\.27"):
        build_sensor(ctx, "button", pin=40)
    with pytest.raises(ConfigError, match=r"sensors\[0\]\.bounce: unknown option"):
        build_sensor(ctx, "button", pin=4, bounce=0.1)
    with pytest.raises(ConfigError, match=r"sensors\[0\]\.pull: expected one of"):
        build_sensor(ctx, "button", pin=4, pull="sideways")


def test_pulse_counter_counts_falling_edges_and_rates_over_the_window(
    factory: MockFactory, ctx: BuildContext
) -> None:
    """Ten switch closures: 10 pulses, rain total 2.794 mm, a rate of 10 per elapsed time, 0 after the window."""
    rain = build_sensor(
        ctx,
        "pulse_counter",
        pin=19,
        window_s=0.5,
        bounce_time_s=0.0,
        total_field="rain_mm",
        total_factor=0.2794,
        total_unit="mm",
        rate_field="rain_rate_mm_s",
        rate_factor=0.2794,
        backend="gpiozero",
    )
    rain.open()
    t_open = time.monotonic()
    pin = factory.pin(19)
    for _ in range(10):
        pin.drive_low()
        pin.drive_high()
    values: dict[str, Any] = dict(rain.read())
    elapsed_s = time.monotonic() - t_open
    assert values["pulses"] == 10 and values["rain_mm"] == pytest.approx(2.794)
    assert 10 / (elapsed_s + 0.05) <= float(values["rate_hz"]) <= 10 / 0.0001
    assert float(values["rain_rate_mm_s"]) == pytest.approx(float(values["rate_hz"]) * 0.2794, rel=1e-3)
    time.sleep(0.55)
    assert rain.read() == {"pulses": 10, "rate_hz": 0.0, "rain_rate_mm_s": 0.0, "rain_mm": 2.794}
    assert [f.name for f in rain.info.fields] == ["pulses", "rate_hz", "rain_rate_mm_s", "rain_mm"]
    rain.close()


def test_pulse_counter_debounces_reed_switch_chatter(factory: MockFactory, ctx: BuildContext) -> None:
    """Each closure chattering three times still counts once. The chatter is driven in real time through
    gpiozero (< 1 ms on a Pi, but tens of ms on a test machine busy with other work - a fresh-Debian check run
    once counted a closure twice with a 40 ms window), so the window is 300 ms here and the closures 600 ms apart;
    the filter's timing itself is tested on a virtual clock in test_edges.py."""
    wind = build_sensor(ctx, "pulse_counter", pin=20, bounce_time_s=0.3, backend="gpiozero")
    wind.open()
    pin = factory.pin(20)
    for _ in range(5):
        for _ in range(3):
            pin.drive_low()
            pin.drive_high()
        time.sleep(0.6)
    assert dict(wind.read())["pulses"] == 5
    wind.close()
    with pytest.raises(SensorError, match="not open"):
        wind.read()
