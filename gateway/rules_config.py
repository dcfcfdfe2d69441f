"""The ``[[rules]]`` array of the config: TOML tables -> validated :class:`~gateway.protocol.rules.Rule` objects.

Called from :func:`gateway.config.parse_config` (ids of sensors and outputs) and, once the drivers are built,
:func:`rule_build_errors` checks fields and action values against what the drivers declare. Every mistake is
reported (never only the first), each with its key path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.protocol.rules import KINDS, SEVERITIES, Rule, RuleAction
from sensors.errors import ConfigError
from sensors.spec import did_you_mean

MAX_RULES = 256
"""Rules in one config: each costs a few hundred bytes and a bounded step per reading of its sensor; the
benchmark runs 50 (docs/benchmarks.md). More than this is a mistake, not a deployment."""
MAX_DURATION_S = 7 * 86400.0
"""Longest ``for_s``, ``clear_for_s`` and stale ``after_s``: a week; longer belongs in a dashboard alert."""
RULE_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""Rule ids travel in MQTT topics and Prometheus labels: the same alphabet as device ids."""

LEVEL_KEY = {"above": "threshold", "below": "threshold", "rate": "rate_per_s", "stale": "after_s"}
"""The key that holds each kind's limit (``outside`` has ``low`` and ``high``)."""
COMMON_KEYS = {"id", "sensor", "field", "when", "severity", "for_s", "clear_for_s", "hysteresis", "action"}
ACTION_KEYS = {"output", "on_fire", "on_clear"}


def _number(
    t: Mapping[str, Any],
    key: str,
    where: str,
    errors: list[ConfigError],
    *,
    lo: float = -math.inf,
    hi: float = math.inf,
    default: float | None = None,
) -> float | None:
    """``t[key]`` as a float in ``lo..hi``; records an error and returns None when absent (no default) or bad."""
    value = t.get(key, default)
    if value is None:
        errors.append(ConfigError(f"{where}.{key}", "expected a number (required for this kind of rule)"))
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        errors.append(ConfigError(f"{where}.{key}", f"expected a number, got {value!r}"))
        return None
    if not lo <= value <= hi:
        span = f"{lo:g}..{hi:g}" if math.isfinite(hi) else f">= {lo:g}"
        errors.append(ConfigError(f"{where}.{key}", f"expected a number {span}, got {value!r}"))
        return None
    return float(value)


def _reference(
    value: Any, key: str, known: Iterable[str], what: str, errors: list[ConfigError]
) -> str | None:
    names = sorted(known)
    if not isinstance(value, str):
        errors.append(ConfigError(key, f"expected the id of a configured {what}, got {value!r}"))
        return None
    if value not in names:
        listing = ", ".join(names) if names else f"(no {what}s configured)"
        errors.append(
            ConfigError(key, f"unknown {what} {value!r}{did_you_mean(value, names)}; known: {listing}")
        )
        return None
    return value


def _action(raw: Any, where: str, outputs: Iterable[str], errors: list[ConfigError]) -> RuleAction | None:
    if not isinstance(raw, Mapping):
        errors.append(ConfigError(where, "expected a table {output, on_fire, on_clear}"))
        return None
    for key in raw:
        if key not in ACTION_KEYS:
            errors.append(
                ConfigError(
                    f"{where}.{key}",
                    f"unknown key{did_you_mean(key, ACTION_KEYS)}; known keys: {', '.join(sorted(ACTION_KEYS))}",
                )
            )
    output = _reference(raw.get("output"), f"{where}.output", outputs, "output", errors)
    if "on_fire" not in raw:
        errors.append(ConfigError(f"{where}.on_fire", "expected the value to set when the rule fires"))
        return None
    return None if output is None else RuleAction(output, raw["on_fire"], raw.get("on_clear"))


def _rule(
    t: Any, where: str, sensors: Iterable[str], outputs: Iterable[str], errors: list[ConfigError]
) -> tuple[Rule | None, bool]:
    """The rule at ``where`` and whether it is valid. A rule with mistakes is still returned when its sensor
    and field are usable (the rest as parsed or defaulted), so the build check can name a wrong field in the
    same report; None when there is nothing to check."""
    if not isinstance(t, Mapping):
        errors.append(ConfigError(where, "expected a table"))
        return None, False
    before = len(errors)
    rule_id = t.get("id")
    if not isinstance(rule_id, str) or not RULE_ID_RE.fullmatch(rule_id):
        errors.append(
            ConfigError(f"{where}.id", f"expected an id of [a-z0-9_-], 1..64 chars, got {rule_id!r}")
        )
    kind = t.get("when")
    if kind not in KINDS:
        errors.append(ConfigError(f"{where}.when", f"expected one of {', '.join(KINDS)}, got {kind!r}"))
        known = COMMON_KEYS | set(LEVEL_KEY.values()) | {"low", "high"}
    else:
        known = COMMON_KEYS | ({"low", "high"} if kind == "outside" else {LEVEL_KEY[kind]})
    for key in t:
        if key not in known:
            errors.append(
                ConfigError(
                    f"{where}.{key}",
                    f"unknown key{did_you_mean(key, known)}; known keys for this rule: {', '.join(sorted(known))}",
                )
            )
    sensor = _reference(t.get("sensor"), f"{where}.sensor", sensors, "sensor", errors)
    fld = t.get("field")
    if not isinstance(fld, str) or not fld:
        errors.append(ConfigError(f"{where}.field", f"expected a field name of the sensor, got {fld!r}"))
    severity = t.get("severity", "warning")
    if severity not in SEVERITIES:
        errors.append(
            ConfigError(f"{where}.severity", f"expected one of {', '.join(SEVERITIES)}, got {severity!r}")
        )
    for_s = _number(t, "for_s", where, errors, lo=0, hi=MAX_DURATION_S, default=0.0)
    clear_for_s = _number(t, "clear_for_s", where, errors, lo=0, hi=MAX_DURATION_S, default=0.0)
    hysteresis = _number(t, "hysteresis", where, errors, lo=0, default=0.0)
    level = low = high = 0.0
    if kind == "outside":
        low = _number(t, "low", where, errors) or 0.0
        high = _number(t, "high", where, errors) or 0.0
        if low >= high:
            errors.append(
                ConfigError(f"{where}.high", f"expected a number above low ({low:g}), got {high:g}")
            )
    elif kind in LEVEL_KEY:
        lo, hi = {"rate": (0.0, math.inf), "stale": (0.001, MAX_DURATION_S)}.get(
            str(kind), (-math.inf, math.inf)
        )
        level = _number(t, LEVEL_KEY[str(kind)], where, errors, lo=lo, hi=hi) or 0.0
    action = _action(t["action"], f"{where}.action", outputs, errors) if "action" in t else None
    valid = len(errors) == before
    if not valid and (sensor is None or not isinstance(fld, str) or not fld):
        return None, False
    rule = Rule(
        str(rule_id),
        str(sensor),
        str(fld),
        str(kind),
        threshold=level,
        low=low,
        high=high,
        hysteresis=hysteresis or 0.0,
        for_s=for_s or 0.0,
        clear_for_s=clear_for_s or 0.0,
        severity=str(severity),
        action=action,
        key=where,
    )
    return rule, valid


def parse_rules(
    raw: Any,
    sensors: Iterable[str],
    outputs: Iterable[str],
    errors: list[ConfigError],
    checkable: list[Rule] | None = None,
) -> tuple[Rule, ...]:
    """Validate the ``rules`` array against the configured sensor and output ids.

    Args:
        raw: the decoded ``rules`` value (None when absent).
        sensors: configured sensor ids.
        outputs: configured actuator (output) ids.
        errors: every mistake is appended here (key paths ``rules[i].key``).
        checkable: when given, every rule whose sensor and field can be checked against the built drivers is
            appended here in config order, those with mistakes too (a partial config carries them, so
            check-config reports a wrong field in the same run as a misspelt key of the same rule).
    """
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.append(ConfigError("rules", "expected an array of tables ([[rules]])"))
        return ()
    if len(raw) > MAX_RULES:
        errors.append(ConfigError("rules", f"expected at most {MAX_RULES} rules, got {len(raw)}"))
        return ()
    sensors, outputs = set(sensors), set(outputs)
    out: list[Rule] = []
    seen: set[str] = set()
    for i, t in enumerate(raw):
        rule, valid = _rule(t, f"rules[{i}]", sensors, outputs, errors)
        if rule is not None and checkable is not None:
            checkable.append(rule)
        if rule is None or not valid:
            continue
        if rule.id in seen:
            errors.append(ConfigError(f"rules[{i}].id", f"duplicate rule id {rule.id!r}"))
            continue
        seen.add(rule.id)
        out.append(rule)
    return tuple(out)


def rule_build_errors(
    rules: Iterable[Rule], fields: Mapping[str, Iterable[str] | None], outputs: Mapping[str, Any]
) -> list[ConfigError]:
    """Check what only built drivers know: each rule's field exists on its sensor, and its action values are
    valid for its output (kind and range, as a command would be checked).

    Args:
        rules: the parsed rules.
        fields: sensor id -> its field names (None when the driver is deferred: hardware absent, not checked).
        outputs: output id -> its :class:`sensors.base.ActuatorInfo`.
    """
    from gateway.commands import validate_value

    errors: list[ConfigError] = []
    for rule in rules:
        names = fields.get(rule.sensor)
        if names is not None:
            names = sorted(names)
            if rule.field not in names:
                errors.append(
                    ConfigError(
                        f"{rule.key}.field",
                        f"sensor {rule.sensor!r} has no field {rule.field!r}{did_you_mean(rule.field, names)};"
                        f" its fields: {', '.join(names)}",
                    )
                )
        act = rule.action
        info = outputs.get(act.output) if act is not None else None
        if act is None or info is None:
            continue
        for key, value in (("on_fire", act.on_fire), ("on_clear", act.on_clear)):
            if value is None:
                continue
            try:
                validate_value(info.kind, info.min, info.max, value)
            except ValueError as exc:
                errors.append(
                    ConfigError(f"{rule.key}.action.{key}", f"{exc} for output {act.output!r}, got {value!r}")
                )
    return errors
