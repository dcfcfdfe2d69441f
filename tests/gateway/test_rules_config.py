"""[[rules]] in the config: every kind parses, every mistake is reported at once with its key path, references to
sensors, fields and outputs are checked (fields and action values once the drivers are built)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import check_config
from gateway.config import ConfigErrors, parse_config
from gateway.devices import build_devices
from gateway.protocol.rules import Rule, RuleAction
from gateway.rules_config import MAX_RULES, parse_rules
from sensors.sim.emulators import context_with_emulators

SENSORS = [{"id": "env", "driver": "bme280", "simulate": True, "bus": 1, "address": 0x76}]
ACTUATORS = [{"id": "buzzer", "driver": "relay", "simulate": True, "pin": 26}]


def cfg(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"sensors": SENSORS, "actuators": ACTUATORS, "rules": list(rules)}


def errors_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigErrors) as info:
        parse_config(data, file="r.toml")
    assert all(e.file == "r.toml" for e in info.value.errors)
    return [(e.key, e.message) for e in info.value.errors]


def test_every_kind_parses_with_defaults_and_an_action() -> None:
    """above/below/outside/rate/stale map to Rule objects; hysteresis, for_s, clear_for_s default to 0 and
    severity to warning; an action table becomes a RuleAction."""
    c = parse_config(
        cfg(
            {"id": "hot", "sensor": "env", "field": "temperature_c", "when": "above", "threshold": 30,
             "hysteresis": 1, "for_s": 5, "clear_for_s": 2, "severity": "critical",
             "action": {"output": "buzzer", "on_fire": True, "on_clear": False}},
            {"id": "cold", "sensor": "env", "field": "temperature_c", "when": "below", "threshold": 5},
            {"id": "band", "sensor": "env", "field": "humidity_pct", "when": "outside", "low": 20, "high": 80},
            {"id": "jump", "sensor": "env", "field": "pressure_pa", "when": "rate", "rate_per_s": 50},
            {"id": "off", "sensor": "env", "field": "temperature_c", "when": "stale", "after_s": 30,
             "severity": "info"},
        )
    )  # fmt: skip
    assert c.rules == (
        Rule("hot", "env", "temperature_c", "above", 30, hysteresis=1, for_s=5, clear_for_s=2,
             severity="critical", action=RuleAction("buzzer", True, False), key="rules[0]"),
        Rule("cold", "env", "temperature_c", "below", 5, key="rules[1]"),
        Rule("band", "env", "humidity_pct", "outside", low=20, high=80, key="rules[2]"),
        Rule("jump", "env", "pressure_pa", "rate", 50, key="rules[3]"),
        Rule("off", "env", "temperature_c", "stale", 30, severity="info", key="rules[4]"),
    )  # fmt: skip
    assert parse_config({"sensors": SENSORS}).rules == ()


def test_every_mistake_is_reported_at_once_with_its_key() -> None:
    """Bad ids, kinds, unknown keys (with a suggestion), unknown sensors/outputs (with the known ones), bad
    numbers, a reversed range, a missing limit and on_fire, duplicate ids: all in one report."""
    assert errors_of(
        cfg(
            {"id": "Bad Id", "sensor": "env", "field": "t", "when": "above", "threshold": 1},
            {"id": "a", "sensor": "evn", "field": "", "when": "abov", "treshold": 1},
            {"id": "b", "sensor": "env", "field": "t", "when": "above", "threshhold": 1, "severity": "fatal"},
            {"id": "c", "sensor": "env", "field": "t", "when": "outside", "low": 5, "high": 1, "for_s": -1},
            {"id": "d", "sensor": "env", "field": "t", "when": "stale", "after_s": 0, "hysteresis": "x"},
            {"id": "e", "sensor": "env", "field": "t", "when": "rate", "rate_per_s": True,
             "action": {"output": "buzer", "on_fire": 1, "colour": 2}},
            {"id": "f", "sensor": "env", "field": "t", "when": "below", "threshold": 1, "action": {"output": "buzzer"}},
            {"id": "g", "sensor": "env", "field": "t", "when": "below", "threshold": 1, "action": 3},
            "nope",
            {"id": "h", "sensor": "env", "field": "t", "when": "below", "threshold": 1},
            {"id": "h", "sensor": "env", "field": "t", "when": "below", "threshold": float("inf")},
            {"id": "i", "sensor": "env", "field": "t", "when": "below", "threshold": 2},
            {"id": "i", "sensor": "env", "field": "t", "when": "below", "threshold": 2},
        )
    ) == [
        ("rules[0].id", "expected an id of [a-z0-9_-], 1..64 chars, got 'Bad Id'"),
        ("rules[1].when", "expected one of above, below, outside, rate, stale, got 'abov' (did you mean 'above'?)"),
        ("rules[1].treshold", "unknown key (did you mean 'threshold'?); known keys for this rule: action, "
         "after_s, clear_for_s, field, for_s, high, hysteresis, id, low, rate_per_s, sensor, severity, threshold, "
         "when"),
        ("rules[1].sensor", "unknown sensor 'evn' (did you mean 'env'?); known: env"),
        ("rules[1].field", "expected a field name of the sensor, got ''"),
        ("rules[2].threshhold", "unknown key (did you mean 'threshold'?); known keys for this rule: action, "
         "clear_for_s, field, for_s, hysteresis, id, sensor, severity, threshold, when"),
        ("rules[2].severity", "expected one of info, warning, critical, got 'fatal'"),
        ("rules[2].threshold", "expected a number (required for this kind of rule)"),
        ("rules[3].for_s", "expected a number 0..604800, got -1"),
        ("rules[3].high", "expected a number above low (5), got 1"),
        ("rules[4].hysteresis", "expected a number, got 'x'"),
        ("rules[4].after_s", "expected a number 0.001..604800, got 0"),
        ("rules[5].rate_per_s", "expected a number, got True"),
        ("rules[5].action.colour", "unknown key; known keys: on_clear, on_fire, output"),
        ("rules[5].action.output", "unknown output 'buzer' (did you mean 'buzzer'?); known: buzzer"),
        ("rules[6].action.on_fire", "expected the value to set when the rule fires"),
        ("rules[7].action", "expected a table {output, on_fire, on_clear}"),
        ("rules[8]", "expected a table"),
        ("rules[10].threshold", "expected a number, got inf"),
        ("rules[10].id", "duplicate rule id 'h' (also rules[9])"),
        ("rules[12].id", "duplicate rule id 'i' (also rules[11])"),
    ]  # fmt: skip


def test_the_array_itself_and_its_size_are_checked() -> None:
    """rules must be an array of tables, of at most MAX_RULES; without outputs an action names that none exist."""
    assert errors_of({"sensors": SENSORS, "rules": {"id": "x"}}) == [
        ("rules", "expected an array of tables ([[rules]])")
    ]
    many = [
        {"id": f"r{i}", "sensor": "env", "field": "t", "when": "above", "threshold": 1}
        for i in range(MAX_RULES + 1)
    ]
    many[3]["when"] = "abov"
    assert errors_of({"sensors": SENSORS, "rules": many}) == [
        ("rules", f"expected at most {MAX_RULES} rules, got {MAX_RULES + 1}"),
        (
            "rules[3].when",
            "expected one of above, below, outside, rate, stale, got 'abov' (did you mean 'above'?)",
        ),
    ]  # the rules are still checked: every mistake in one run
    errors: list[Any] = []
    rule = {"id": "a", "sensor": "env", "field": "t", "when": "above", "threshold": 1,
            "action": {"output": 3, "on_fire": 1}}  # fmt: skip
    assert parse_rules([rule, dict(rule, id="b", action={"output": "x", "on_fire": 1})], [], [], errors) == ()
    assert [(e.key, e.message) for e in errors] == [
        ("rules[0].sensor", "unknown sensor 'env'; known: (no sensors configured)"),
        ("rules[0].action.output", "expected the id of a configured output, got 3"),
        ("rules[1].sensor", "unknown sensor 'env'; known: (no sensors configured)"),
        ("rules[1].action.output", "unknown output 'x'; known: (no outputs configured)"),
    ]


def test_fields_and_action_values_are_checked_against_the_built_drivers() -> None:
    """Once built, an unknown field is named with the sensor's fields, and an action value the output would
    refuse is an error, both under the rule's key; valid ones build."""
    data = cfg(
        {"id": "hot", "sensor": "env", "field": "temperature", "when": "above", "threshold": 30,
         "action": {"output": "buzzer", "on_fire": 5, "on_clear": False}},
        {"id": "ok", "sensor": "env", "field": "humidity_pct", "when": "above", "threshold": 90,
         "action": {"output": "buzzer", "on_fire": "on", "on_clear": "off"}},
    )  # fmt: skip
    c = parse_config(data, file="r.toml")
    ctx = context_with_emulators(simulate=True)
    try:
        with pytest.raises(ConfigErrors) as info:
            build_devices(c, ctx)
    finally:
        ctx.close()
    assert [(e.file, e.key, e.message) for e in info.value.errors] == [
        ("r.toml", "rules[0].field", "sensor 'env' has no field 'temperature' (did you mean 'temperature_c'?); "
         "its fields: humidity_pct, pressure_pa, temperature_c"),
        ("r.toml", "rules[0].action.on_fire", "expected true/false (or on/off) for output 'buzzer', got 5"),
    ]  # fmt: skip
    ok = parse_config(dict(data, rules=data["rules"][1:]), file="r.toml")
    ctx = context_with_emulators(simulate=True)
    try:
        sensors, actuators = build_devices(ok, ctx)
        assert ([s.info.id for s in sensors], [a.info.id for a in actuators]) == (["env"], ["buzzer"])
    finally:
        ctx.close()


def test_check_config_reports_a_wrong_field_with_the_other_mistakes_of_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config on deploy/examples/rules.toml with one rule's field and a key of it both misspelt (and a
    bad severity in another rule) lists all three in one run, in config order; the valid rules add nothing."""
    text = (Path(__file__).parents[2] / "deploy/examples/rules.toml").read_text()
    text = text.replace('field = "temperature_c"\nwhen = "above"', 'field = "temperature"\nwhen = "above"', 1)
    text = text.replace("hysteresis = 2.0\nfor_s = 120", "hysterisis = 2.0\nfor_s = 120", 1)
    text = text.replace('severity = "info"', 'severity = "notice"', 1)
    path = tmp_path / "rules.toml"
    path.write_text(text)
    assert check_config.main(argparse.Namespace(file=str(path), schema=False)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}: 3 error(s)",
        "  rules[0].hysterisis: unknown key (did you mean 'hysteresis'?); known keys for this rule: action, "
        "clear_for_s, field, for_s, hysteresis, id, sensor, severity, threshold, when",
        "  rules[1].severity: expected one of info, warning, critical, got 'notice'",
        "  rules[0].field: sensor 'freezer' has no field 'temperature' (did you mean 'temperature_c'?); its "
        "fields: humidity_pct, pressure_pa, temperature_c",
    ]


def test_mistakes_a_new_user_makes_are_named_with_what_was_expected() -> None:
    """A hysteresis no value could clear (wider than half an outside range, above a rate), a duration written
    "5s", a misspelt severity, a duplicate id on a rule with other mistakes, a long wrong value: each named with
    its key and what was expected, the wrong value quoted at most SHOW_CHARS characters."""
    assert errors_of(
        cfg(
            {"id": "wide", "sensor": "env", "field": "t", "when": "outside", "low": 10, "high": 20, "hysteresis": 6},
            {"id": "edge", "sensor": "env", "field": "t", "when": "outside", "low": 10, "high": 20, "hysteresis": 5},
            {"id": "fast", "sensor": "env", "field": "t", "when": "rate", "rate_per_s": 0.05, "hysteresis": 0.1},
            {"id": "same", "sensor": "env", "field": "t", "when": "rate", "rate_per_s": 0.05, "hysteresis": 0.05},
            {"id": "wait", "sensor": "env", "field": "t", "when": "above", "threshold": 1, "for_s": "5s",
             "clear_for_s": "soon", "severity": "critcal"},
            {"id": "wait", "sensor": "env", "field": "t", "when": "stale", "after_s": "1.5 seconds"},
            {"id": "blob", "sensor": "env", "field": "t", "when": "above", "threshold": "x" * 500,
             "severity": ["critical"]},
        )
    ) == [
        ("rules[0].hysteresis", "expected at most half the range low..high (5), got 6: no value could ever clear "
         "the rule"),
        ("rules[2].hysteresis", "expected at most rate_per_s (0.05), got 0.1: no rate could ever clear the rule"),
        ("rules[4].severity", "expected one of info, warning, critical, got 'critcal' (did you mean 'critical'?)"),
        ("rules[4].for_s", "expected a number of seconds, got '5s' (write for_s = 5: a bare number of seconds)"),
        ("rules[4].clear_for_s", "expected a number of seconds, got 'soon'"),
        ("rules[5].after_s", "expected a number of seconds, got '1.5 seconds' (write after_s = 1.5: a bare number "
         "of seconds)"),
        ("rules[5].id", "duplicate rule id 'wait' (also rules[4])"),
        ("rules[6].severity", "expected one of info, warning, critical, got list"),
        ("rules[6].threshold", "expected a number, got " + repr("x" * 500)[:37] + "..."),
    ]  # fmt: skip
