"""The emulated GPIO board behind demo mode: plausible input scripts, the demo tables, clean shutdown."""

from __future__ import annotations

import itertools
import random
import threading
from typing import Any

import pytest

from sensors.gpio import DEMO, DEMO_ACTUATORS
from sensors.gpio.edges import EdgeFilter
from sensors.registry import actuator_factory, sensor_factory
from sensors.sim.emulators import context_with_emulators
from sensors.sim.gpio import script_for, shared_sim
from sensors.spec import DeviceSpec
from tests.sensors.gpio.helpers import Recorder, build_sensor, wait_for


def _levels(kind: str, n: int, seed: int = 1) -> list[tuple[float, bool]]:
    return list(itertools.islice(script_for(kind, random.Random(seed)), n))


def test_door_script_bounces_but_debounces_to_clean_alternating_edges() -> None:
    """The door contact chatters on every edge; a 20 ms debounce turns it into open/close pairs."""
    steps = _levels("digital_input", 400)
    assert steps[0] == (0.0, False)
    t_ns, raw_changes = 0, 0
    f = EdgeFilter(False, bounce_ns=20_000_000)
    edges = []
    previous = False
    for delay_s, level in steps[1:]:
        t_ns += int(delay_s * 1e9)
        raw_changes += level != previous
        previous = level
        edges += f.on_raw(level, t_ns)
    edges += f.on_time(t_ns + 10**9)
    states = [e.active for e in edges]
    assert states[:4] == [True, False, True, False]
    assert all(a != b for a, b in itertools.pairwise(states))
    assert raw_changes > 3 * len(edges)  # the chatter really is there, and really is filtered


def test_pir_script_has_datasheet_like_timing() -> None:
    """PIR output: high 2-6 s (the module's hold time), low 4-20 s, no chatter."""
    steps = _levels("motion", 41)[1:]
    highs = [d for (d, lv), (_, _) in zip(steps[1::2], steps[::2], strict=False) if not lv]
    lows = [d for d, lv in steps if lv]
    assert all(2.0 <= d <= 6.0 for d in highs) and all(4.0 <= d <= 20.0 for d in lows)
    assert [lv for _, lv in steps[:6]] == [True, False, True, False, True, False]


def test_anemometer_script_stays_between_1_and_13_hz() -> None:
    """The wind pulses' frequency varies with gusts but stays within the anemometer's plausible range."""
    steps = _levels("pulse_counter", 1000)
    periods = [a[0] + b[0] for a, b in zip(steps[::2], steps[1::2], strict=False)]
    assert all(1 / 13.0 <= p <= 1.0 for p in periods)
    assert max(periods) / min(periods) > 2.0


def test_simulated_line_sensor_pushes_edges_from_the_sim_thread() -> None:
    """simulate = true: the sim thread toggles the pin and edges arrive through emit within seconds."""
    ctx = context_with_emulators(simulate=True)
    line = build_sensor(ctx, "line", simulate=True, pin=21)
    rec = Recorder()
    line.attach(rec)
    line.open()
    assert line.info.simulated
    assert wait_for(lambda: len(rec.events) >= 2, timeout_s=8.0)
    assert all(ts is not None for _, ts in rec.events)
    sim = shared_sim(ctx)
    line.close()
    ctx.close()
    assert sim._thread is not None and not sim._thread.is_alive()


def _table_spec(table: dict[str, Any], key: str) -> DeviceSpec:
    t = dict(table)
    dev_id, driver, simulate = t.pop("id"), t.pop("driver"), t.pop("simulate")
    return DeviceSpec(dev_id, driver, key, float(t.pop("interval_s", 1.0)), simulate, t)


def test_demo_tables_build_read_and_shut_down_cleanly() -> None:
    """Every demo sensor reads and every demo output applies on the emulated board; closing stops all threads."""
    assert {"door", "motion"} <= {t["id"] for t in DEMO}
    assert {"relay1", "led1"} <= {t["id"] for t in DEMO_ACTUATORS}
    threads_before = set(threading.enumerate())
    ctx = context_with_emulators(simulate=True)
    sensors = []
    for i, table in enumerate(DEMO):
        factory = sensor_factory(table["driver"])
        assert factory is not None
        sensors.append(factory(_table_spec(table, f"sensors[{i}]"), ctx))
    for s in sensors:
        s.attach(Recorder())
        s.open()
    assert wait_for(lambda: all(s.read() for s in sensors), timeout_s=3.0)
    readings: dict[str, dict[str, Any]] = {s.info.id: dict(s.read()) for s in sensors}
    assert set(readings["door"]) == {"active", "held", "activations"}
    assert 0.0 <= float(readings["spi_adc"]["soil_v"]) <= 3.3
    assert 0.0 < float(readings["tank_level"]["distance_m"]) <= 2.0
    applied = {}
    for i, table in enumerate(DEMO_ACTUATORS):
        afactory = actuator_factory(table["driver"])
        assert afactory is not None
        act = afactory(_table_spec(table, f"actuators[{i}]"), ctx)
        act.open()
        applied[act.info.id] = (
            act.apply(act.info.safe_value),
            act.apply(act.info.max if act.info.kind == "number" else True),
        )
        act.close()
    assert applied == {"relay1": (False, True), "led1": (0.0, 1.0), "servo1": (0.0, 90.0)}
    for s in sensors:
        s.close()
    ctx.close()
    assert wait_for(lambda: set(threading.enumerate()) <= threads_before, timeout_s=2.0)


@pytest.mark.parametrize("kind", ["button", "line", "motion", "digital_input", "pulse_counter"])
def test_scripts_are_deterministic_per_seed(kind: str) -> None:
    """The same sensor id and seed give the same demo sequence (reproducible screenshots and bug reports)."""
    assert _levels(kind, 30, seed=7) == _levels(kind, 30, seed=7)
