"""gateway/commands.py: validate_value per actuator kind, and CommandRouter on the demo's real GPIO outputs."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from gateway.buses import BusWorker
from gateway.catalogue import Catalogue
from gateway.commands import CommandRouter, validate_value
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.protocol.seam import CommandResult
from sensors.base import Actuator, ActuatorInfo, BuildContext
from sensors.gpio import DEMO_ACTUATORS
from sensors.gpio.outputs import GpioSwitch
from sensors.registry import actuator_factory
from sensors.sim.emulators import context_with_emulators
from sensors.spec import DeviceSpec

# Reading positions (its wire order [seq, prev, ts_ns, sensor, values, flags]).
SEQ, PREV, SENSOR, VALUES = 0, 1, 3, 4

# -- validate_value -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("on", True),
        ("off", False),
        ("ON", True),
        ("Off", False),
        ("true", True),
        ("false", False),
        ("TRUE", True),
        ("False", False),
    ],
)
def test_switch_accepts_booleans_zero_one_and_words(value: Any, expected: bool) -> None:
    assert validate_value("switch", 0.0, 1.0, value) is expected


@pytest.mark.parametrize("value", [2, -1, 1.0, 0.0, 0.5, "yes", "1", "", " on", None, [], {"v": 1}])
def test_switch_rejects_everything_else(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^expected true/false \(or on/off\)$"):
        validate_value("switch", 0.0, 1.0, value)


@pytest.mark.parametrize(
    ("lo", "hi", "value", "expected"),
    [
        (0.0, 1.0, 0, 0.0),
        (0.0, 1.0, 1, 1.0),
        (0.0, 1.0, 0.25, 0.25),
        (-90.0, 90.0, -90, -90.0),
        (-90.0, 90.0, 90.0, 90.0),
        (-90.0, 90.0, 12.5, 12.5),
        (-90.0, 90.0, -0.0, 0.0),
    ],
)
def test_number_accepts_int_and_float_inside_the_inclusive_range(
    lo: float, hi: float, value: float, expected: float
) -> None:
    out = validate_value("number", lo, hi, value)
    assert out == expected and type(out) is float


@pytest.mark.parametrize(
    ("lo", "hi", "value", "message"),
    [
        (0.0, 1.0, 1.0001, "expected a number in 0..1"),
        (0.0, 1.0, -0.0001, "expected a number in 0..1"),
        (0.0, 1.0, 2, "expected a number in 0..1"),
        (-90.0, 90.0, 90.5, "expected a number in -90..90"),
        (-90.0, 90.0, -180, "expected a number in -90..90"),
        (0.0, 180.0, 1e300, "expected a number in 0..180"),
        (0.0, 1.0, math.nan, "expected a number in 0..1"),
        (0.0, 1.0, math.inf, "expected a number in 0..1"),
        (-1e9, 1e9, -math.inf, "expected a number in -1e+09..1e+09"),
        (0.0, 1.0, True, "expected a number in 0..1"),
        (0.0, 1.0, False, "expected a number in 0..1"),
        (0.0, 1.0, "0.5", "expected a number in 0..1"),
        (0.0, 1.0, None, "expected a number in 0..1"),
        (0.0, 1.0, [0.5], "expected a number in 0..1"),
        (0.0, 0.5, 0.75, "expected a number in 0..0.5"),
    ],
)
def test_number_rejects_out_of_range_non_finite_and_non_numbers(
    lo: float, hi: float, value: Any, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        validate_value("number", lo, hi, value)
    assert str(info.value) == message


def test_a_switch_ignores_the_numeric_range() -> None:
    assert validate_value("switch", 5.0, 9.0, True) is True


# -- CommandRouter on the demo's outputs (relay1, led1, servo1) -----------------------------------------------


@dataclass
class Rig:
    router: CommandRouter
    hub: Hub
    catalogue: Catalogue
    factory: MockFactory
    actuators: dict[str, Actuator]
    worker: BusWorker
    readings: list[Any]

    def pin_state(self, target: str) -> float:
        pin = next(t["pin"] for t in DEMO_ACTUATORS if t["id"] == target)
        return float(self.factory.pin(pin).state)


def _build(table: dict[str, Any], ctx: BuildContext) -> Actuator:
    """Build a DEMO_ACTUATORS entry through the registry, on the injected MockFactory (so pins can be read)."""
    options = {k: v for k, v in table.items() if k not in ("id", "driver", "simulate")}
    spec = DeviceSpec(
        table["id"], table["driver"], "actuators[0]", 1.0, False, {**options, "backend": "gpiozero"}
    )
    factory = actuator_factory(table["driver"])
    assert factory is not None
    return factory(spec, ctx)


@pytest.fixture
def ctx() -> Iterator[BuildContext]:
    c = context_with_emulators()
    c.resources["gpio-factory"] = MockFactory(pin_class=MockPWMPin)
    yield c
    c.close()


@pytest.fixture
async def rig(ctx: BuildContext) -> AsyncIterator[Rig]:
    actuators = {t["id"]: _build(t, ctx) for t in DEMO_ACTUATORS}
    assert set(actuators) == {"relay1", "led1", "servo1"}
    assert {a.bus_id for a in actuators.values()} == {"gpio"}
    metrics = Metrics()
    catalogue = Catalogue(metrics)
    hub = Hub("test", "boot", flush_interval_ms=0, metrics=metrics, catalogue=catalogue)
    readings: list[Any] = []
    hub.add_sink(readings.extend)
    for act in actuators.values():
        catalogue.register_actuator(act.info)
        act.open()
    worker = BusWorker("gpio")
    router = CommandRouter(
        actuators, {"gpio": worker}, hub, catalogue=catalogue, metrics=metrics, timeout_s=5.0
    )
    yield Rig(router, hub, catalogue, ctx.resources["gpio-factory"], actuators, worker, readings)
    for act in actuators.values():
        act.close()
    worker.shutdown()


async def test_operator_switches_the_active_low_relay_and_the_state_is_published(rig: Rig) -> None:
    assert rig.pin_state("relay1") == 1.0  # active low: off = high
    result = await rig.router.execute("relay1", "on", role="operator", origin="ws 127.0.0.1")
    assert result == CommandResult(True, "relay1", value=True)
    assert rig.pin_state("relay1") == 0.0
    assert [(r[SENSOR], dict(r[VALUES])) for r in rig.readings] == [("relay1", {"value": True})]
    assert rig.catalogue.actuator_value("relay1") is True
    assert rig.router.metrics.get("sensorcast_commands_total", target="relay1") == 1.0
    relay = next(a for a in rig.hub.catalogue()["actuators"] if a["id"] == "relay1")
    assert relay["value"] is True

    result = await rig.router.execute("relay1", 0, role="operator", origin="mqtt")
    assert result == CommandResult(True, "relay1", value=False)
    assert rig.pin_state("relay1") == 1.0
    assert [dict(r[VALUES]) for r in rig.readings] == [{"value": True}, {"value": False}]
    assert rig.readings[1][PREV] == rig.readings[0][SEQ]
    assert rig.router.metrics.get("sensorcast_commands_total", target="relay1") == 2.0


async def test_the_published_value_is_the_state_read_back_not_the_request(rig: Rig) -> None:
    """A PWM LED reports its duty cycle rounded as the driver reads it back; a servo reports its angle."""
    led = await rig.router.execute("led1", 1 / 3, role="operator", origin="t")
    assert (led.ok, led.value) == (True, 0.3333)
    assert rig.pin_state("led1") == pytest.approx(1 / 3)
    servo = await rig.router.execute("servo1", 45, role="operator", origin="t")
    assert (servo.ok, servo.value) == (True, 45.0)
    assert rig.pin_state("servo1") == pytest.approx(0.0875)  # 1.75 ms in a 20 ms frame
    assert [(r[SENSOR], dict(r[VALUES])) for r in rig.readings] == [
        ("led1", {"value": 0.3333}),
        ("servo1", {"value": 45.0}),
    ]
    assert rig.catalogue.actuator_value("led1") == 0.3333


@pytest.mark.parametrize("role", ["viewer", "", "Operator", "admin"])
async def test_only_the_operator_role_may_command(rig: Rig, role: str) -> None:
    result = await rig.router.execute("relay1", True, role=role, origin="t")
    assert result == CommandResult(False, "relay1", error="operator role required")
    assert rig.pin_state("relay1") == 1.0 and rig.readings == []
    assert rig.router.metrics.get("sensorcast_commands_total", target="relay1") == 0.0


async def test_the_role_is_checked_before_the_target_is_looked_up(rig: Rig) -> None:
    """A viewer learns nothing about which targets exist."""
    result = await rig.router.execute("nope", True, role="viewer", origin="t")
    assert result.error == "operator role required"


@pytest.mark.parametrize("target", ["nope", "", "RELAY1", "relay1 "])
async def test_unknown_targets_are_refused(rig: Rig, target: str) -> None:
    result = await rig.router.execute(target, True, role="operator", origin="t")
    assert result == CommandResult(False, target, error="unknown target")
    assert rig.readings == []


@pytest.mark.parametrize(
    ("target", "value", "error"),
    [
        ("relay1", "maybe", "expected true/false (or on/off)"),
        ("relay1", 2, "expected true/false (or on/off)"),
        ("led1", 1.5, "expected a number in 0..1"),
        ("led1", True, "expected a number in 0..1"),
        ("led1", "0.5", "expected a number in 0..1"),
        ("servo1", 91, "expected a number in -90..90"),
        ("servo1", math.nan, "expected a number in -90..90"),
    ],
)
async def test_invalid_values_are_refused_before_touching_the_output(
    rig: Rig, target: str, value: Any, error: str
) -> None:
    before = rig.pin_state(target)
    result = await rig.router.execute(target, value, role="operator", origin="t")
    assert result == CommandResult(False, target, error=error)
    assert rig.pin_state(target) == before
    assert rig.readings == [] and rig.catalogue.actuator_value(target) is None


async def test_an_output_that_fails_is_a_result_not_an_exception(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """apply raising (here: the pin was released) gives ok=false with a generic reason; nothing is published."""
    rig.actuators["relay1"].close()
    with caplog.at_level(logging.ERROR, logger="gateway.commands"):
        result = await rig.router.execute("relay1", True, role="operator", origin="ws 10.0.0.9")
    assert result == CommandResult(False, "relay1", error="output did not respond")
    assert "not open" not in (result.error or "")  # the driver's text stays in the log
    assert rig.readings == [] and rig.catalogue.actuator_value("relay1") is None
    assert rig.router.metrics.get("sensorcast_command_errors_total", target="relay1") == 1.0
    assert rig.router.metrics.get("sensorcast_commands_total", target="relay1") == 0.0
    (record,) = caplog.records
    assert "relay1" in record.getMessage() and "ws 10.0.0.9" in record.getMessage()
    assert record.exc_info is not None
    # The other outputs are unaffected.
    assert (await rig.router.execute("led1", 0.5, role="operator", origin="t")).ok


async def test_an_output_that_hangs_times_out_as_a_result(rig: Rig) -> None:
    """A bus thread stuck in another call makes apply time out: ok=false, and the bus gets a fresh thread."""
    release = threading.Event()
    started = threading.Event()

    def stuck() -> None:
        started.set()
        release.wait(30)

    rig.router.timeout_s = 0.05
    blocker = asyncio.create_task(rig.worker.call(stuck))
    try:
        assert await asyncio.to_thread(started.wait, 5)
        result = await rig.router.execute("led1", 0.5, role="operator", origin="t")
        assert result == CommandResult(False, "led1", error="output did not respond")
        assert rig.worker.abandoned_threads == 1
        assert rig.readings == []
        assert rig.router.metrics.get("sensorcast_command_errors_total", target="led1") == 1.0
    finally:
        release.set()
        await asyncio.wait_for(blocker, 5)
    rig.router.timeout_s = 5.0
    assert (await rig.router.execute("led1", 0.5, role="operator", origin="t")).ok


# -- apply_safe -----------------------------------------------------------------------------------------------


async def test_apply_safe_on_disconnect_only_touches_outputs_that_asked_for_it(rig: Rig) -> None:
    for target, value in (("relay1", True), ("led1", 0.8), ("servo1", 60)):
        assert (await rig.router.execute(target, value, role="operator", origin="t")).ok
    rig.readings.clear()
    await rig.router.apply_safe(only_on_disconnect=True)
    assert [(r[SENSOR], dict(r[VALUES])) for r in rig.readings] == [("relay1", {"value": False})]
    assert rig.pin_state("relay1") == 1.0
    assert rig.pin_state("led1") == pytest.approx(0.8)
    assert rig.catalogue.actuator_values() == {"relay1": False, "led1": 0.8, "servo1": 60.0}


async def test_apply_safe_drives_every_output_to_its_safe_value(rig: Rig) -> None:
    for target, value in (("relay1", True), ("led1", 0.8), ("servo1", 60)):
        assert (await rig.router.execute(target, value, role="operator", origin="t")).ok
    rig.readings.clear()
    await rig.router.apply_safe()
    assert {r[SENSOR]: dict(r[VALUES]) for r in rig.readings} == {
        "relay1": {"value": False},
        "led1": {"value": 0.0},
        "servo1": {"value": 0.0},
    }
    assert (rig.pin_state("relay1"), rig.pin_state("led1")) == (1.0, 0.0)
    assert rig.pin_state("servo1") == pytest.approx(0.075)  # mid-range: 1.5 ms
    assert rig.catalogue.actuator_values() == {"relay1": False, "led1": 0.0, "servo1": 0.0}


async def test_apply_safe_skips_a_failing_output_and_outputs_without_a_safe_value(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    relay = rig.actuators["relay1"]
    assert isinstance(relay, GpioSwitch)
    no_safe = GpioSwitch(
        ActuatorInfo("bell", "relay", "switch", safe_value=None, safe_on_disconnect=True), relay.backend, 5
    )
    no_safe.open()
    no_safe.apply(True)
    rig.actuators["bell"] = no_safe
    rig.actuators["led1"].close()  # fails to apply its safe value
    with caplog.at_level(logging.ERROR, logger="gateway.commands"):
        await rig.router.apply_safe()
    assert sorted(r[SENSOR] for r in rig.readings) == ["relay1", "servo1"]
    assert rig.factory.pin(5).state == 1.0  # left as it was
    assert any("led1" in r.getMessage() for r in caplog.records)
    no_safe.close()


# -- minimum interval between changes ------------------------------------------------------------------------


def _limit(rig: Rig, target: str, min_interval_s: float) -> list[float]:
    """Give ``target`` a minimum interval and the router a clock the test moves; returns that clock's cell."""
    act = rig.actuators[target]
    act.info = replace(act.info, min_interval_s=min_interval_s)
    now = [100.0]
    rig.router.clock = lambda: now[0]
    return now


async def test_a_change_sooner_than_the_outputs_interval_is_refused_with_the_wait(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """relay1 at 0.5 s: on (ok), off 0.2 s later (refused, 0.3 s to wait, pin untouched), off 0.3 s later (ok)."""
    now = _limit(rig, "relay1", 0.5)
    results = []
    with caplog.at_level(logging.INFO, logger="gateway.commands"):
        for dt, value in ((0.0, True), (0.2, False), (0.3, False)):
            now[0] += dt
            results.append(await rig.router.execute("relay1", value, role="operator", origin="ws 10.0.0.7"))
            if len(results) == 2:
                assert rig.pin_state("relay1") == 0.0  # still on: the refused command never reached the pin
    assert [(r.ok, r.value, r.error) for r in results] == [
        (True, True, None),
        (False, None, "too soon: relay1 accepts one change per 0.5 s; retry in 0.300 s"),
        (True, False, None),
    ]
    assert results[1].retry_after_s == pytest.approx(0.3)
    assert [dict(r[VALUES]) for r in rig.readings] == [{"value": True}, {"value": False}]
    assert rig.router.metrics.get("sensorcast_commands_refused_total", target="relay1") == 1.0
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        "actuator relay1: 1 command(s) refused, less than its min_interval_s 0.5 s after a change "
        "(latest from ws 10.0.0.7)"
    ]


async def test_a_flood_of_refusals_is_logged_once_per_interval_with_a_count(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """59 refused toggles in a second give one log line; the next line, 10 s on, counts the 59 since."""
    now = _limit(rig, "relay1", 3600)
    assert (await rig.router.execute("relay1", True, role="operator", origin="t")).ok
    with caplog.at_level(logging.WARNING, logger="gateway.commands"):
        for _ in range(59):
            now[0] += 1 / 59
            assert not (await rig.router.execute("relay1", False, role="operator", origin="t")).ok
        now[0] += 10
        assert not (await rig.router.execute("relay1", False, role="operator", origin="t")).ok
    assert [r.getMessage().split(",")[0] for r in caplog.records] == [
        "actuator relay1: 1 command(s) refused",
        "actuator relay1: 59 command(s) refused",
    ]
    assert rig.router.metrics.get("sensorcast_commands_refused_total", target="relay1") == 60.0


async def test_safe_values_are_never_refused_and_the_next_command_waits_from_them(rig: Rig) -> None:
    """A command, then apply_safe 0.1 s later (applied), then a command 0.1 s after that (refused, 0.4 s)."""
    now = _limit(rig, "relay1", 0.5)
    assert (await rig.router.execute("relay1", True, role="operator", origin="t")).ok
    now[0] += 0.1
    await rig.router.apply_safe(only_on_disconnect=True)
    assert rig.pin_state("relay1") == 1.0  # off (active low): the safe value went through
    now[0] += 0.1
    res = await rig.router.execute("relay1", True, role="operator", origin="t")
    assert (res.ok, res.retry_after_s) == (False, pytest.approx(0.4))
    assert [dict(r[VALUES]) for r in rig.readings] == [{"value": True}, {"value": False}]


async def test_concurrent_commands_cannot_both_pass_the_interval(rig: Rig) -> None:
    """Ten operators toggling relay1 at the same instant: exactly one change is applied."""
    _limit(rig, "relay1", 0.5)
    results = await asyncio.gather(
        *(rig.router.execute("relay1", i % 2 == 0, role="operator", origin=f"ws {i}") for i in range(10))
    )
    assert [r.ok for r in results] == [True] + [False] * 9
    assert len(rig.readings) == 1


def test_the_app_sets_each_outputs_interval_from_config_or_the_drivers_default() -> None:
    """Demo outputs: relay1 0.5 s, led1 (pwm_led) 0.02 s, servo1 0.02 s; a configured value wins; hello shows it."""
    from gateway.config import demo_config, parse_config
    from gateway.devices import build_devices

    _, acts = build_devices(demo_config(), context_with_emulators())
    assert {a.info.id: a.info.min_interval_s for a in acts} == {"relay1": 0.5, "led1": 0.02, "servo1": 0.02}
    cfg = parse_config(
        {"actuators": [{"id": "r", "driver": "relay", "simulate": True, "pin": 5, "min_interval_s": 2}]}
    )
    _, acts = build_devices(cfg, context_with_emulators())
    catalogue = Catalogue(Metrics())
    catalogue.register_actuator(acts[0].info)
    assert [a["min_interval_s"] for a in catalogue.entries()["actuators"]] == [2.0]


async def test_a_safe_value_that_moves_nothing_does_not_delay_the_first_command(rig: Rig) -> None:
    """apply_safe at start (no state known yet) then a command at once: accepted."""
    _limit(rig, "relay1", 0.5)
    await rig.router.apply_safe()
    res = await rig.router.execute("relay1", True, role="operator", origin="t")
    assert (res.ok, res.value) == (True, True)


async def test_no_command_is_accepted_once_the_gateway_is_stopping(rig: Rig) -> None:
    """After a clean stop began (safe values about to be applied), commands are refused and nothing moves."""
    rig.router.stopping = True
    res = await rig.router.execute("relay1", True, role="operator", origin="t")
    assert res == CommandResult(False, "relay1", error="gateway is stopping")
    assert rig.readings == [] and rig.pin_state("relay1") == 1.0
