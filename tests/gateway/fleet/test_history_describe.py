"""The fleet gives each remote sensor its history policy and units, and follows its meta when that comes late."""

from __future__ import annotations

from pathlib import Path

from bridges.mqtt.config import config_from_url
from gateway.fleet.app import FleetApp
from sensors.base import FieldSpec, SensorInfo
from tests.integration.helpers import make_config


def test_a_sensor_read_before_its_meta_takes_the_policy_and_units_of_the_meta(tmp_path: Path) -> None:
    """Listed from a reading (unknown rate, no units): a push source's policy; then its meta (1 Hz, units): raw
    with the meta's units; then a meta with a 100 Hz interval: 1 s rollups again."""
    cfg = make_config(gateway={"id": "fleet", "data_dir": str(tmp_path)})
    app = FleetApp(cfg, config_from_url("mqtt://127.0.0.1:1"))  # not started: no broker needed
    assert app.history is not None
    store = app.history.store
    seen: list[tuple[str, dict[str, str]]] = []
    name = "g1/env"
    app.catalogue.register_sensor(SensorInfo(name, "remote", (FieldSpec("t"),), 0.0))
    app._changed(True)
    seen.append((store.policies[name], dict(store.units[name])))
    for interval_s in (1.0, 0.01):
        app.catalogue.update_info(SensorInfo(name, "bme280", (FieldSpec("t", "°C"),), interval_s))
        app._changed(True)
        seen.append((store.policies[name], dict(store.units[name])))
    assert seen == [("1s", {"t": ""}), ("raw", {"t": "°C"}), ("1s", {"t": "°C"})]


def test_units_that_come_with_a_meta_of_an_unchanged_rate_are_described(tmp_path: Path) -> None:
    """A push source (interval 0) listed from a reading, then its meta (interval 0, units): the units follow."""
    cfg = make_config(gateway={"id": "fleet", "data_dir": str(tmp_path)})
    app = FleetApp(cfg, config_from_url("mqtt://127.0.0.1:1"))
    assert app.history is not None
    name = "g1/door"
    app.catalogue.register_sensor(SensorInfo(name, "remote", (FieldSpec("open"),), 0.0))
    app._changed(True)
    app.catalogue.update_info(SensorInfo(name, "gpio_input", (FieldSpec("open", "bool"),), 0.0))
    app._changed(True)
    assert (app.history.store.policies[name], app.history.store.units[name]) == ("1s", {"open": "bool"})
