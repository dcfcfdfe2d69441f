"""gateway/reload_plan.py: what a reload applies in place, and what it leaves for a restart."""

from __future__ import annotations

from typing import Any

from gateway.config import Config, parse_config
from gateway.reload_plan import ReloadPlan, plan_reload

TOKEN_A = "A" * 20
TOKEN_B = "B" * 20


def cfg(*sensors: dict[str, Any], **sections: Any) -> Config:
    return parse_config({"sensors": list(sensors), **sections})


def s(sensor_id: str, interval_s: float = 1.0, **options: Any) -> dict[str, Any]:
    return {"id": sensor_id, "driver": "synthetic", "interval_s": interval_s, **options}


def test_the_same_config_is_an_empty_plan() -> None:
    """Reloading an unchanged config changes nothing, whatever the order of the sensor tables."""
    plan = plan_reload(cfg(s("a"), s("b")), cfg(s("b"), s("a")))
    assert (plan, plan.empty, plan.summary()) == (ReloadPlan(), True, "no change applied")


def test_sensors_added_removed_and_changed() -> None:
    """Added and changed sensors carry their new spec; removed ones their id; untouched ones are not listed."""
    plan = plan_reload(cfg(s("keep"), s("gone"), s("tune")), cfg(s("tune", 2.0), s("keep"), s("new")))
    assert ([x.id for x in plan.added], plan.removed, [(x.id, x.interval_s) for x in plan.changed]) == (
        ["new"],
        ("gone",),
        [("tune", 2.0)],
    )
    assert (plan.empty, plan.summary()) == (False, "added new; removed gone; rebuilt tune")


def test_tokens_rotate_in_place_and_other_security_keys_need_a_restart() -> None:
    """A new token list is applied; an allowlist change is named as needing a restart."""
    old = cfg(security={"tokens": [{"token": TOKEN_A}]})
    new = cfg(security={"tokens": [{"token": TOKEN_B}], "allowed_hosts": ["gw.lan"]})
    plan = plan_reload(old, new)
    assert (plan.tokens_changed, plan.restart_needed) == (True, ("security.allowed_hosts",))
    assert plan.summary() == "tokens rotated; restart needed for security.allowed_hosts (not applied)"


def test_every_other_section_is_named_for_a_restart() -> None:
    """Changed [gateway]/[limits] keys are named one by one; actuators, mqtt (added) and rules as sections."""
    old = cfg(s("a"), actuators=[{"id": "r", "driver": "relay", "pin": 5}])
    new = cfg(
        s("a"),
        gateway={"port": 9000, "batch_size": 10},
        limits={"max_clients": 3},
        actuators=[{"id": "r", "driver": "relay", "pin": 6}],
        mqtt={"host": "broker"},
        rules=[{"id": "hot", "sensor": "a", "field": "x", "when": "above", "threshold": 1}],
    )
    plan = plan_reload(old, new)
    assert plan.restart_needed == (
        "gateway.port",
        "gateway.batch_size",
        "limits.max_clients",
        "actuators",
        "mqtt",
        "rules",
    )
    assert plan.summary().startswith("no change applied; restart needed for gateway.port, ")


def test_moving_a_table_is_no_change() -> None:
    """An actuator or sensor that only moved (another key path, e.g. into a drop-in) is not rebuilt."""
    acts = [{"id": "r", "driver": "relay", "pin": 5}, {"id": "q", "driver": "relay", "pin": 6}]
    plan = plan_reload(cfg(s("a"), s("b"), actuators=acts), cfg(s("b"), s("a"), actuators=acts[::-1]))
    assert plan.empty


def test_a_changed_mqtt_table_names_its_keys() -> None:
    """Within a section both configs have, only the changed keys are named."""
    plan = plan_reload(cfg(mqtt={"host": "a"}), cfg(mqtt={"host": "b", "qos": 0}))
    assert plan.restart_needed == ("mqtt.host", "mqtt.qos")


def test_a_sensor_the_running_rules_watch_is_kept_until_a_restart() -> None:
    """Removing a sensor together with its rules keeps the sensor running (the rules change waits for a
    restart); a sensor no rule watches is removed as before."""
    rule = {"id": "hot", "sensor": "watched", "field": "value", "when": "above", "threshold": 1.0}
    old = cfg(s("watched"), s("plain"), s("stay"), rules=[rule])
    plan = plan_reload(old, cfg(s("stay")))
    assert (plan.removed, plan.kept, plan.restart_needed) == (("plain",), ("watched",), ("rules",))
    assert plan.summary() == (
        "removed plain; kept watched (the running rules watch it until a restart);"
        " restart needed for rules (not applied)"
    )
    assert not plan.empty
