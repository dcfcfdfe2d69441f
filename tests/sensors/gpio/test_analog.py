"""MCP3008/MCP3208 through gpiozero's SPI on a bit-level emulator, and the HC-SR04 on an echo emulation."""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Iterator

import pytest

from sensors.base import BuildContext
from sensors.errors import SensorError
from sensors.sim.emulators import context_with_emulators
from sensors.sim.gpio import Mcp3xxxEmulator, SimFactory, attach_echo
from tests.conftest import scaled
from tests.sensors.gpio.helpers import build_sensor


@pytest.fixture
def factory() -> SimFactory:
    return SimFactory()


@pytest.fixture
def ctx(factory: SimFactory) -> Iterator[BuildContext]:
    c = context_with_emulators()
    c.resources["gpio-factory"] = factory
    yield c
    c.close()


def test_mcp3008_reads_each_channel_bit_by_bit(factory: SimFactory, ctx: BuildContext) -> None:
    """1.65 V, 3.3 V and 0.5 V at VREF 3.3 V are codes 512, 1023, 155 and the matching volts."""
    chip = Mcp3xxxEmulator(factory, 8, bits=10, vref_v=3.3)
    chip.voltages[:4] = [1.65, 0.0, 3.3, 0.5]
    adc = build_sensor(ctx, "mcp3008", channels=[0, 2, {"channel": 3, "name": "battery"}], backend="gpiozero")
    assert adc.bus_id == "spi-0.0"
    adc.open()
    assert adc.read() == {
        "ch0_raw": 512,
        "ch0_v": round(512 * 3.3 / 1023, 4),
        "ch2_raw": 1023,
        "ch2_v": 3.3,
        "battery_raw": 155,
        "battery_v": round(155 * 3.3 / 1023, 4),
    }
    assert chip.conversions == 3
    chip.voltages[0] = 0.0
    assert dict(adc.read())["ch0_raw"] == 0
    adc.close()


def test_mcp3208_is_twelve_bit_on_chip_select_one(factory: SimFactory, ctx: BuildContext) -> None:
    """An MCP3208 on CE1 with VREF 5 V: 1.0 V is code 819; its bus id is spi-0.1."""
    chip = Mcp3xxxEmulator(factory, 7, bits=12, vref_v=5.0)
    chip.voltages[5] = 1.0
    adc = build_sensor(ctx, "mcp3208", channels=[5], device=1, vref_v=5.0, backend="gpiozero")
    assert adc.bus_id == "spi-0.1"
    adc.open()
    assert adc.read() == {"ch5_raw": 819, "ch5_v": round(819 * 5.0 / 4095, 4)}
    adc.close()


def test_mcp3008_pseudo_differential_pair(factory: SimFactory, ctx: BuildContext) -> None:
    """Differential channel 0 (IN+ CH0 2.0 V, IN- CH1 0.5 V) converts 1.5 V: code 465."""
    chip = Mcp3xxxEmulator(factory, 8)
    chip.voltages[:2] = [2.0, 0.5]
    adc = build_sensor(ctx, "mcp3008", channels=[0], differential=True, backend="gpiozero")
    adc.open()
    assert dict(adc.read())["ch0_raw"] == 465
    adc.close()


def test_adc_channel_options_are_validated(ctx: BuildContext) -> None:
    """Channel 8, a bad name and duplicate names are config errors naming the list item."""
    from sensors.errors import ConfigError

    with pytest.raises(ConfigError, match=r"channels\[1\]: expected a channel 0\.\.7"):
        build_sensor(ctx, "mcp3008", channels=[0, 8])
    with pytest.raises(ConfigError, match=r"channels\[0\]\.name: expected a lowercase name"):
        build_sensor(ctx, "mcp3008", channels=[{"channel": 1, "name": "Soil Moisture"}])
    with pytest.raises(ConfigError, match="must be unique"):
        build_sensor(ctx, "mcp3008", channels=[1, {"channel": 2, "name": "ch1"}])


@pytest.mark.filterwarnings("ignore::gpiozero.DistanceSensorNoEcho")
def test_hcsr04_measures_the_emulated_echo(factory: SimFactory, ctx: BuildContext) -> None:
    """0.5 m away (2.9 ms echo) reads 0.5 m within 5 cm; once echoes stop, reads fail instead of going stale."""
    distance_m = [0.5]
    trigger = attach_echo(factory, 23, 24, lambda: distance_m[0])
    sonar = build_sensor(
        ctx,
        "hcsr04",
        echo_pin=24,
        trigger_pin=23,
        max_distance_m=2.0,
        no_echo_timeout_s=0.5,
        backend="gpiozero",
    )
    with pytest.raises(SensorError, match="not open"):
        sonar.read()
    sonar.open()
    deadline = time.monotonic() + scaled(3.0)
    values: dict[str, object] = {}
    while not values and time.monotonic() < deadline:
        time.sleep(0.1)
        values = dict(sonar.read())
    assert values["distance_m"] == pytest.approx(0.5, abs=0.05)
    assert sonar.info.fields[0].max == 2.0
    trigger.connected = False  # unplugged: gpiozero would keep reporting the last median
    deadline = time.monotonic() + scaled(3.0)
    with pytest.raises(SensorError, match=r"no echo for 0\.5 s"):
        while time.monotonic() < deadline:
            sonar.read()
            time.sleep(0.05)
    sonar.close()


def test_hcsr04_closes_without_a_thread_traceback(
    factory: SimFactory, ctx: BuildContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing right after opening, again and again, never lets gpiozero's sampling thread ping a trigger pin
    that is already gone (an AttributeError traceback on a quick Ctrl-C, seen in the fresh-Debian check)."""
    crashed: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: crashed.append(repr(args.exc_value)))
    attach_echo(factory, 23, 24, lambda: 3.0)  # beyond max_distance: each ping waits for its echo's timeout
    sonar = build_sensor(ctx, "hcsr04", echo_pin=24, trigger_pin=23, max_distance_m=1.0, backend="gpiozero")
    for i in range(40):
        sonar.open()
        time.sleep(0.003 * (i % 25))  # close at different moments of the thread's ping
        sonar.close()
    assert crashed == []


def test_hcsr04_pins_must_differ(ctx: BuildContext) -> None:
    """Echo and trigger on one pin is a config error."""
    from sensors.errors import ConfigError

    with pytest.raises(ConfigError, match="trigger_pin: must differ"):
        build_sensor(ctx, "hcsr04", echo_pin=24, trigger_pin=24)


def test_emulated_pins_keep_a_bounded_history(factory: SimFactory, ctx: BuildContext) -> None:
    """1000 MCP3008 reads (~100 000 pin changes) leave every pin's history within 2x PIN_STATE_HISTORY, newest
    last, and the heap grows by less than 300 kB (gpiozero alone keeps every change: ~6 MB here)."""
    import tracemalloc

    from sensors.sim.gpio import PIN_STATE_HISTORY

    Mcp3xxxEmulator(factory, 8).voltages[:2] = [1.65, 3.3]
    adc = build_sensor(ctx, "mcp3008", channels=[0, 1], backend="gpiozero")
    adc.open()
    for _ in range(200):  # warm up: the histories fill to their bound
        adc.read()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(1000):
            assert adc.read() == {
                "ch0_raw": 512,
                "ch0_v": round(512 * 3.3 / 1023, 4),
                "ch1_raw": 1023,
                "ch1_v": 3.3,
            }
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(d.size_diff for d in after.compare_to(before, "filename"))
    lengths = {str(pin.info.name): len(pin.states) for pin in factory.pins.values()}
    clock = factory.pin(11)
    adc.close()
    assert max(lengths.values()) < 2 * PIN_STATE_HISTORY, lengths
    assert len(clock.states) >= PIN_STATE_HISTORY  # still a real history, newest change last
    assert clock.states[-1].state == clock.state
    assert growth < 300_000, growth


def test_emulated_echo_pins_keep_a_bounded_history(factory: SimFactory) -> None:
    """3000 emulated HC-SR04 echoes leave the echo and trigger pins' histories bounded."""
    from sensors.sim.gpio import PIN_STATE_HISTORY

    trigger = attach_echo(factory, 23, 24, lambda: 0.01)
    echo = factory.pin(24)
    for i in range(3000):
        echo.drive_at(True, float(2 * i))
        echo.drive_at(False, float(2 * i + 1))
        trigger.states.append(trigger.states[-1])
    assert len(echo.states) < 2 * PIN_STATE_HISTORY
    assert len(trigger.states) < 2 * PIN_STATE_HISTORY
    assert [s.state for s in echo.states[-2:]] == [True, False]


def test_hcsr04_without_echo_reports_through_its_read_not_a_python_warning(
    factory: SimFactory, ctx: BuildContext
) -> None:
    """An unplugged HC-SR04 (emulated pins: triggers get no echo): gpiozero's DistanceSensorNoEcho warning never
    reaches the warnings machinery's output; the read fails with a SensorError counting the unanswered pings and
    naming the pins. A warning of any other kind still shows: no blanket filter."""
    trigger = attach_echo(factory, 23, 24, lambda: 0.5)
    trigger.connected = False
    sonar = build_sensor(
        ctx, "hcsr04", echo_pin=24, trigger_pin=23, no_echo_timeout_s=0.5, backend="gpiozero"
    )
    error: SensorError | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sonar.open()
        deadline = time.monotonic() + scaled(5.0)
        while error is None and time.monotonic() < deadline:
            try:
                assert sonar.read() == {}
            except SensorError as exc:
                error = exc
            time.sleep(0.05)
        pings = getattr(sonar.device, "missed_pings", 0)
        sonar.close()
        warnings.warn("another library's warning", UserWarning, stacklevel=1)
    assert [(w.category.__name__, str(w.message)) for w in caught] == [
        ("UserWarning", "another library's warning")
    ]
    assert pings >= 2 and error is not None
    assert re.fullmatch(
        r"HC-SR04: no echo for 0\.5 s \((\d+) pings unanswered; check ECHO on GPIO24, its divider, and TRIG on"
        r" GPIO23\)",
        error.strerror or "",
    )
