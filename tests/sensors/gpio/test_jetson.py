"""The Jetson.GPIO backend against a fake Jetson.GPIO module, and how the backend is chosen."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sensors.base import BuildContext
from sensors.errors import ConfigError, SensorError
from sensors.gpio.choose import choose_backend, is_jetson, read_model
from sensors.gpio.jetson import JetsonBackend
from sensors.gpio.zero import ZeroBackend
from sensors.sim.emulators import context_with_emulators
from tests.sensors.gpio.fake_jetson import FakeJetsonGPIO
from tests.sensors.gpio.helpers import Recorder, build_actuator, build_sensor, spec, wait_for

NANO = "NVIDIA Jetson Nano Developer Kit"


def _board(root: Path, model: str) -> BuildContext:
    os.makedirs(root / "proc" / "device-tree", exist_ok=True)
    (root / "proc" / "device-tree" / "model").write_bytes(model.encode() + b"\0")
    return context_with_emulators(procfs_root=str(root / "proc"), sysfs_root=str(root / "sys"))


@pytest.fixture
def gpio() -> FakeJetsonGPIO:
    return FakeJetsonGPIO()


@pytest.fixture
def ctx(tmp_path: Path, gpio: FakeJetsonGPIO) -> Iterator[BuildContext]:
    c = _board(tmp_path, NANO)
    c.resources["jetson-gpio"] = gpio
    yield c
    c.close()


def test_model_detection_reads_the_device_tree(tmp_path: Path) -> None:
    """The NUL-terminated device-tree model is read; Jetsons are recognised, Pis and PCs are not."""
    c = _board(tmp_path, NANO)
    assert read_model(c.procfs_root, c.sysfs_root) == NANO
    assert read_model(str(tmp_path / "nothing"), str(tmp_path / "nothing")) == ""
    fw = tmp_path / "sys" / "firmware" / "devicetree" / "base"
    fw.mkdir(parents=True)
    (fw / "model").write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\0")
    assert read_model(str(tmp_path / "nothing"), str(tmp_path / "sys")) == "Raspberry Pi 5 Model B Rev 1.0"
    assert [is_jetson(m) for m in (NANO, "NVIDIA Jetson AGX Orin", "Raspberry Pi 4 Model B Rev 1.4", "")] == [
        True,
        True,
        False,
        False,
    ]


def test_auto_picks_jetson_on_a_jetson_and_gpiozero_elsewhere(tmp_path: Path, gpio: FakeJetsonGPIO) -> None:
    """backend = auto follows the model; an explicit backend overrides it; one backend per gateway."""
    c = _board(tmp_path / "a", NANO)
    c.resources["jetson-gpio"] = gpio
    backend = choose_backend(spec("button", pin=4), c)
    assert isinstance(backend, JetsonBackend) and gpio.mode == gpio.BCM
    assert choose_backend(spec("relay", pin=5), c) is backend
    pi = _board(tmp_path / "b", "Raspberry Pi 4 Model B Rev 1.4")
    pi.resources["gpio-factory"] = object()
    pi.resources["jetson-gpio"] = gpio
    assert isinstance(choose_backend(spec("button", pin=4), pi), ZeroBackend)
    assert isinstance(choose_backend(spec("button", pin=4, backend="jetson"), pi), JetsonBackend)


def test_jetson_without_the_library_is_a_sensor_error(tmp_path: Path) -> None:
    """Jetson.GPIO missing: an OSError the gateway retries, with the pip hint."""
    c = _board(tmp_path, NANO)
    with pytest.raises(SensorError, match=r"pip install Jetson\.GPIO"):
        choose_backend(spec("button", pin=4), c)


def test_button_edges_on_jetson_are_debounced_and_timestamped(
    gpio: FakeJetsonGPIO, ctx: BuildContext
) -> None:
    """Callbacks from Jetson.GPIO's thread give [pressed, released] through the same debouncer."""
    button = build_sensor(ctx, "button", pin=17, bounce_time_s=0.03, hold_time_s=0.0)
    rec = Recorder()
    button.attach(rec)
    button.open()
    assert (gpio.directions[17], gpio.pulls[17]) == (gpio.IN, gpio.PUD_UP)
    assert button.read() == {"active": False, "held": False, "activations": 0}
    for level in (0, 1, 0):
        gpio.drive(17, level)
    assert rec.states() == [(True, False, 1)]
    assert wait_for(lambda: button.read()["active"] is True)
    gpio.drive(17, 1)
    assert wait_for(lambda: len(rec.events) == 2)
    assert rec.states() == [(True, False, 1), (False, False, 1)]
    button.close()
    assert 17 not in gpio.callbacks and gpio.cleanups == [17]


def test_a_spike_shorter_than_the_callback_is_still_an_edge_pair(
    gpio: FakeJetsonGPIO, ctx: BuildContext
) -> None:
    """Jetson.GPIO reported an edge but the pin already reads its old level: a PIR spike is press + release."""
    pir = build_sensor(ctx, "motion", pin=4)
    rec = Recorder()
    pir.attach(rec)
    pir.open()
    gpio.glitch(4)
    assert rec.states() == [(True, False, 1), (False, False, 1)]
    assert pir.read() == {"active": False, "held": False, "activations": 1}
    pir.close()


def test_pulse_counter_on_jetson(gpio: FakeJetsonGPIO, ctx: BuildContext) -> None:
    """Falling edges on a Jetson pin are counted."""
    counter = build_sensor(ctx, "pulse_counter", pin=27, bounce_time_s=0.0)
    counter.open()
    for _ in range(7):
        gpio.drive(27, 0)
        gpio.drive(27, 1)
    assert dict(counter.read())["pulses"] == 7
    counter.close()


def test_jetson_relay_and_pwm(gpio: FakeJetsonGPIO, ctx: BuildContext) -> None:
    """An active-low relay is set up high (off) and toggles low/high; PWM on BCM 13 takes percent."""
    relay = build_actuator(ctx, "relay", pin=26, active_high=False)
    relay.open()
    assert [relay.apply(True), relay.apply(False)] == [True, False]
    assert gpio.history == [("setup", 26, 1), ("output", 26, 0), ("output", 26, 1)]
    led = build_actuator(ctx, "pwm_led", pin=13, frequency_hz=500)
    led.open()
    assert (gpio.pwms[13].frequency_hz, gpio.pwms[13].duty_pct) == (500, 0.0)
    assert led.apply(0.4) == 0.4 and gpio.pwms[13].duty_pct == pytest.approx(40.0)
    servo = build_actuator(ctx, "servo", pin=12)
    servo.open()
    assert gpio.pwms[12].frequency_hz == pytest.approx(50.0)
    assert gpio.pwms[12].duty_pct == pytest.approx(7.5)
    assert servo.apply(90.0) == 90.0 and gpio.pwms[12].duty_pct == pytest.approx(10.0)
    for out in (relay, led, servo):
        out.close()
    assert gpio.cleanups == [26, 13, 12] and gpio.pwms == {}


def test_pwm_on_a_pin_without_hardware_pwm_fails_at_open(gpio: FakeJetsonGPIO, ctx: BuildContext) -> None:
    """BCM 18 has no PWM on a Jetson Nano: open() says so and leaves the channel released."""
    led = build_actuator(ctx, "pwm_led", pin=18)
    with pytest.raises(SensorError, match="GPIO18 as PWM"):
        led.open()
    assert 18 not in gpio.directions


def test_gpiozero_only_drivers_refuse_the_jetson_backend(ctx: BuildContext) -> None:
    """HC-SR04 and MCP3xxx need gpiozero: on a Jetson that is a config error naming the driver."""
    with pytest.raises(ConfigError, match=r"driver 'hcsr04' needs gpiozero, which does not run on jetson"):
        build_sensor(ctx, "hcsr04", echo_pin=24, trigger_pin=23)
    with pytest.raises(ConfigError, match=r"driver 'mcp3008' needs gpiozero"):
        build_sensor(ctx, "mcp3008")


def test_a_different_numbering_mode_is_refused(gpio: FakeJetsonGPIO) -> None:
    """Someone else set BOARD mode in this process: the backend refuses rather than mis-numbering pins."""
    gpio.setmode(gpio.BOARD)
    with pytest.raises(SensorError, match="other than BCM"):
        JetsonBackend(gpio)
