"""Unit tests of sensors.registry: driver tables resolve, families are consistent and light, unknown names."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigErrors, parse_config
from gateway.devices import build_devices
from sensors import registry
from sensors.sim.emulators import context_with_emulators

TARGET_RE = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+:[a-z_][a-z0-9_]*$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def families() -> list[tuple[str, Any]]:
    return [(name, importlib.import_module(name)) for name in registry.FAMILIES]


def all_targets() -> list[tuple[str, str, str, str]]:
    """(family, table attribute, driver name, target) for every entry of every family."""
    out = []
    for fam, mod in families():
        for attr in ("SENSOR_DRIVERS", "ACTUATOR_DRIVERS"):
            for driver, target in getattr(mod, attr, {}).items():
                out.append((fam, attr, driver, target))
    return out


TARGETS = all_targets()


def test_every_family_is_importable_and_has_sensor_drivers() -> None:
    for fam, mod in families():
        assert isinstance(getattr(mod, "SENSOR_DRIVERS", None), dict), fam
        assert mod.SENSOR_DRIVERS, f"{fam} registers no sensor driver"


@pytest.mark.parametrize(("family", "attr", "driver", "target"), TARGETS, ids=[t[2] for t in TARGETS])
def test_target_is_a_module_function_inside_its_family_and_resolves_to_a_callable(
    family: str, attr: str, driver: str, target: str
) -> None:
    assert TARGET_RE.match(target), target
    module, _, func = target.partition(":")
    assert module.startswith(family + "."), f"{driver}: {module} is outside {family}"
    factory = (
        registry.sensor_factory(driver) if attr == "SENSOR_DRIVERS" else registry.actuator_factory(driver)
    )
    assert factory is not None and callable(factory)
    assert factory is getattr(importlib.import_module(module), func)
    params = list(inspect.signature(factory).parameters)
    assert len(params) == 2, f"{target} must be build(spec, ctx), has {params}"


def test_tables_merge_every_family() -> None:
    sensors = registry.sensor_drivers()
    actuators = registry.actuator_drivers()
    assert len(sensors) == sum(1 for t in TARGETS if t[1] == "SENSOR_DRIVERS")
    assert len(actuators) == sum(1 for t in TARGETS if t[1] == "ACTUATOR_DRIVERS")
    assert {"synthetic", "system", "bme280", "button", "nmea_gps", "ds18b20"} <= set(sensors)
    assert {"led", "relay", "pwm_led", "servo"} <= set(actuators)


def test_no_driver_name_is_claimed_by_two_families() -> None:
    """The merged table is a dict update: a duplicate would silently shadow another family's driver."""
    for attr in ("SENSOR_DRIVERS", "ACTUATOR_DRIVERS"):
        seen: dict[str, str] = {}
        for fam, mod in families():
            for driver in getattr(mod, attr, {}):
                assert driver not in seen, f"{attr} {driver!r} in both {seen[driver]} and {fam}"
                seen[driver] = fam


@pytest.mark.parametrize("name", ["", "nope", "BME280", "bme280 ", "sensors.i2c.bme280:build"])
def test_unknown_names_give_none(name: str) -> None:
    assert registry.sensor_factory(name) is None
    assert registry.actuator_factory(name) is None


def test_sensor_and_actuator_names_are_looked_up_in_their_own_table() -> None:
    assert registry.sensor_factory("relay") is None
    assert registry.actuator_factory("bme280") is None


# -- the demo ------------------------------------------------------------------------------------------------


def test_demo_tables_are_consistent_with_the_driver_tables() -> None:
    sensor_drivers = registry.sensor_drivers()
    actuator_drivers = registry.actuator_drivers()
    sensors, actuators = registry.demo_tables()
    assert sensors and actuators
    for table in sensors:
        assert table["driver"] in sensor_drivers, table
    for table in actuators:
        assert table["driver"] in actuator_drivers, table
    ids = [t["id"] for t in sensors + actuators]
    assert len(ids) == len(set(ids)), "demo ids must be unique across sensors and actuators"
    for table in sensors + actuators:
        assert ID_RE.match(table["id"]), table["id"]
        assert table.get("simulate") is True, f"demo entry {table['id']} must be simulated"


def test_each_family_demo_uses_its_own_drivers() -> None:
    for fam, mod in families():
        for table in getattr(mod, "DEMO", []):
            assert table["driver"] in mod.SENSOR_DRIVERS, (fam, table["id"])
        for table in getattr(mod, "DEMO_ACTUATORS", []):
            assert table["driver"] in mod.ACTUATOR_DRIVERS, (fam, table["id"])


def test_demo_tables_follow_family_order_and_are_fresh_lists() -> None:
    expected = [t["id"] for _, mod in families() for t in getattr(mod, "DEMO", [])]
    sensors, _ = registry.demo_tables()
    assert [t["id"] for t in sensors] == expected
    sensors.clear()
    assert registry.demo_tables()[0], "mutating the returned list must not empty the registry"


def test_demo_tables_parse_as_a_config() -> None:
    sensors, actuators = registry.demo_tables()
    cfg = parse_config({"gateway": {"id": "demo"}, "sensors": sensors, "actuators": actuators})
    assert [s.id for s in cfg.sensors] == [t["id"] for t in sensors]
    assert [a.driver for a in cfg.actuators] == [t["driver"] for t in actuators]


# -- unknown drivers in a config ----------------------------------------------------------------------------


def test_unknown_sensor_driver_is_a_config_error_listing_the_known_ones() -> None:
    cfg = parse_config(
        {
            "gateway": {"id": "t"},
            "sensors": [{"id": "a", "driver": "synthetic"}, {"id": "b", "driver": "bme208"}],
        },
        file="site.toml",
    )
    with pytest.raises(ConfigErrors) as info:
        build_devices(cfg, context_with_emulators(simulate=True))
    (err,) = info.value.errors
    assert err.key == "sensors[1].driver"
    assert err.file == "site.toml"
    known = ", ".join(sorted(registry.sensor_drivers()))
    assert err.message == f"unknown sensor driver 'bme208'; known: {known}"
    assert "bme280" in err.message


def test_unknown_actuator_driver_is_a_config_error_listing_the_known_ones() -> None:
    cfg = parse_config({"gateway": {"id": "t"}, "actuators": [{"id": "r", "driver": "relais"}]})
    with pytest.raises(ConfigErrors) as info:
        build_devices(cfg, context_with_emulators(simulate=True))
    (err,) = info.value.errors
    assert err.key == "actuators[0].driver"
    assert (
        err.message
        == f"unknown actuator driver 'relais'; known: {', '.join(sorted(registry.actuator_drivers()))}"
    )


def test_every_unknown_driver_is_reported_at_once() -> None:
    cfg = parse_config(
        {
            "gateway": {"id": "t"},
            "sensors": [{"id": "a", "driver": "x1"}, {"id": "b", "driver": "x2"}],
            "actuators": [{"id": "c", "driver": "x3"}],
        }
    )
    with pytest.raises(ConfigErrors) as info:
        build_devices(cfg, context_with_emulators(simulate=True))
    assert [e.key for e in info.value.errors] == [
        "sensors[0].driver",
        "sensors[1].driver",
        "actuators[0].driver",
    ]


# -- family loading -----------------------------------------------------------------------------------------


def write_family(root: Path, name: str, init: str, modules: dict[str, str] | None = None) -> None:
    pkg = root / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(init))
    for mod, text in (modules or {}).items():
        (pkg / f"{mod}.py").write_text(textwrap.dedent(text))


def test_an_extra_family_is_merged_and_loaded_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_family(
        tmp_path,
        "fam_extra",
        """
        SENSOR_DRIVERS = {"thing": "fam_extra.drv:build"}
        ACTUATOR_DRIVERS = {"bell": "fam_extra.drv:build_bell"}
        DEMO = [{"id": "thing1", "driver": "thing", "simulate": True}]
        DEMO_ACTUATORS = [{"id": "bell1", "driver": "bell", "simulate": True}]
        """,
        {
            "drv": "def build(spec, ctx):\n    return 'thing'\n\ndef build_bell(spec, ctx):\n    return 'bell'\n"
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "FAMILIES", (*registry.FAMILIES, "fam_extra"))
    monkeypatch.delitem(sys.modules, "fam_extra.drv", raising=False)
    assert registry.sensor_drivers()["thing"] == "fam_extra.drv:build"
    assert "fam_extra.drv" not in sys.modules, "listing drivers must not import them"
    factory = registry.sensor_factory("thing")
    assert factory is not None and factory(None, None) == "thing"  # type: ignore[arg-type]
    afactory = registry.actuator_factory("bell")
    assert afactory is not None and afactory(None, None) == "bell"  # type: ignore[arg-type]
    sensors, actuators = registry.demo_tables()
    assert sensors[-1]["id"] == "thing1" and actuators[-1]["id"] == "bell1"


def test_a_missing_family_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "FAMILIES", ("sensors.no_such_family", *registry.FAMILIES))
    assert "bme280" in registry.sensor_drivers()


def test_a_broken_family_is_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_family(tmp_path, "fam_broken", "import no_such_dependency_xyz\nSENSOR_DRIVERS = {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "FAMILIES", (*registry.FAMILIES, "fam_broken"))
    with pytest.raises(ModuleNotFoundError) as info:
        registry.sensor_drivers()
    assert info.value.name == "no_such_dependency_xyz"


def test_listing_drivers_imports_no_driver_module_or_hardware_library() -> None:
    """`sensorcast run` imports only the drivers its config uses: the family packages must stay light."""
    code = textwrap.dedent(
        """
        import sys
        from sensors import registry
        registry.sensor_drivers(); registry.actuator_drivers(); registry.demo_tables()
        families = set(registry.FAMILIES)
        heavy = sorted(
            m for m in sys.modules
            if m.split(".")[0] in ("smbus2", "serial", "gpiozero", "Jetson", "RPi", "lgpio", "spidev")
            or (m.startswith("sensors.") and m.count(".") >= 2 and m.rsplit(".", 1)[0] in families)
        )
        print(",".join(heavy))
        """
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
