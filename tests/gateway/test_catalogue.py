"""gateway.catalogue: registered sensors and actuators, their states and values, and the hello lists."""

from __future__ import annotations

import logging

import pytest

from gateway.catalogue import Catalogue
from gateway.metrics import Metrics
from sensors.base import ActuatorInfo, FieldSpec, SensorInfo


def test_catalogue_fields_carry_a_human_label() -> None:
    """Each catalogue field has its id, a human label (the unit suffix dropped), unit, kind, device class and
    series, so every client shows the same names."""
    cat = Catalogue(Metrics())
    fields = (FieldSpec("cpu_temp_c", "°C", "float", "temperature"), FieldSpec("net_rx_bytes", "B", "int"))
    cat.register_sensor(
        SensorInfo(id="sys", driver="system", model="host", fields=fields, interval_s=1.0, simulated=False)
    )
    assert cat.entries()["sensors"][0]["fields"] == [
        {
            "name": "cpu_temp_c",
            "label": "CPU temp",
            "unit": "°C",
            "kind": "float",
            "device_class": "temperature",
            "series": "gauge",
        },
        {
            "name": "net_rx_bytes",
            "label": "Net RX",
            "unit": "B",
            "kind": "int",
            "device_class": None,
            "series": "gauge",
        },
    ]


def sensor(sid: str, simulated: bool = False) -> SensorInfo:
    return SensorInfo(id=sid, driver="t", fields=(), interval_s=2.0, simulated=simulated)


def test_states_start_as_starting_and_follow_set_state() -> None:
    """A registered sensor is 'starting'; set_state records state and error, counts up, and tells the sinks."""
    metrics = Metrics()
    cat = Catalogue(metrics)
    seen: list[tuple[str, str, str | None]] = []
    cat.add_status_sink(lambda *a: seen.append(a))
    cat.register_sensor(sensor("a"))
    assert (cat.state("a"), cat.state("never"), cat.states()) == (
        ("starting", None),
        ("starting", None),
        {"a": "starting"},
    )
    cat.set_state("a", "failing", "EIO")
    cat.set_state("a", "ok")
    assert seen == [("a", "failing", "EIO"), ("a", "ok", None)]
    assert (cat.states(), metrics.get("sensorcast_sensor_up", sensor="a")) == ({"a": "ok"}, 1.0)
    assert [e["state"] for e in cat.entries()["sensors"]] == ["ok"]


def test_a_failing_status_sink_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    """An exception in one status sink (a bug) is logged and counted; the next sink still hears the change."""
    metrics = Metrics()
    cat = Catalogue(metrics)

    def broken(*_: object) -> None:
        raise RuntimeError("sink bug")

    seen: list[str] = []
    cat.add_status_sink(broken)
    cat.add_status_sink(lambda sid, state, err: seen.append(state))
    with caplog.at_level(logging.ERROR, logger="gateway.hub"):
        cat.set_state("a", "ok")
    assert (seen, metrics.get("sensorcast_sink_errors_total")) == (["ok"], 1.0)
    assert caplog.text.count("status sink failed") == 1


def test_info_listeners_hear_registrations_and_updates() -> None:
    """Registering or replacing a sensor's entry calls every info listener with its id."""
    cat = Catalogue(Metrics())
    heard: list[str] = []
    cat.add_info_listener(heard.append)
    cat.register_sensor(sensor("a", simulated=True))
    placeholder = sensor("b")
    cat.register_sensor(placeholder)
    replacement = sensor("b", simulated=True)
    cat.update_info(replacement)
    assert heard == ["a", "b", "b"]
    assert (cat.sensor("b") is replacement, cat.sensor("zz"), cat.simulated("a"), cat.simulated("zz")) == (
        True,
        None,
        True,
        False,
    )


def test_actuator_values_start_unknown_and_follow_what_was_applied() -> None:
    """An actuator's value is None until one is applied; the hello list carries the latest."""
    cat = Catalogue(Metrics())
    cat.register_actuator(ActuatorInfo(id="relay1", driver="relay", kind="switch", simulated=True))
    assert (cat.actuator_value("relay1"), cat.actuator_values()) == (None, {"relay1": None})
    cat.set_actuator_value("relay1", True)
    entry = cat.entries()["actuators"][0]
    assert (cat.actuator_value("relay1"), entry["id"], entry["sim"], entry["value"]) == (
        True,
        "relay1",
        True,
        True,
    )
