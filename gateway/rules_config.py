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

_SECONDS_TEXT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)")
"""A duration written as text with its unit (``"5s"``), where the config wants the bare number of seconds."""
SECONDS_KEYS = frozenset(("for_s", "clear_for_s", "after_s"))
"""The keys that hold a duration in seconds (``rate_per_s`` is a rate)."""
SHOW_CHARS = 40
"""Characters of a wrong value quoted back in an error message: enough to recognise it, never a whole blob."""

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
    """``t[key]`` as a float in ``lo..hi``; records an error and returns None when absent (no default) or bad.
    A duration key (:data:`SECONDS_KEYS`) given as text such as ``"5s"`` is answered with the bare number."""
    value = t.get(key, default)
    if value is None:
        errors.append(ConfigError(f"{where}.{key}", "expected a number (required for this kind of rule)"))
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        seconds = key in SECONDS_KEYS
        hint = ""
        if seconds and isinstance(value, str) and (m := _SECONDS_TEXT.fullmatch(value.strip())):
            hint = f" (write {key} = {m[1]}: a bare number of seconds)"
        what = "a number of seconds" if seconds else "a number"
        errors.append(ConfigError(f"{where}.{key}", f"expected {what}, got {_show(value)}{hint}"))
        return None
    if not lo <= value <= hi:
        span = f"{lo:g}..{hi:g}" if math.isfinite(hi) else f">= {lo:g}"
        errors.append(ConfigError(f"{where}.{key}", f"expected a number {span}, got {value!r}"))
        return None
    return float(value)


def _show(value: Any) -> str:
    """``value`` for an error message, its repr capped at :data:`SHOW_CHARS` characters."""
    text = (
        repr(value) if isinstance(value, str | int | float | bool) or value is None else type(value).__name__
    )
    return text if len(text) <= SHOW_CHARS else text[: SHOW_CHARS - 3] + "..."


def _choice(value: Any, key: str, choices: tuple[str, ...], errors: list[ConfigError]) -> None:
    """Record an error at ``key`` unless ``value`` is one of ``choices`` (a misspelling gets a suggestion)."""
    if value not in choices:
        near = did_you_mean(value, choices) if isinstance(value, str) else ""
        errors.append(ConfigError(key, f"expected one of {', '.join(choices)}, got {_show(value)}{near}"))


def _reference(
    value: Any, key: str, known: Iterable[str], what: str, errors: list[ConfigError]
) -> str | None:
    names = sorted(known)
    if not isinstance(value, str):
        errors.append(ConfigError(key, f"expected the id of a configured {what}, got {_show(value)}"))
        return None
    if value not in names:
        listing = ", ".join(names) if names else f"(no {what}s configured)"
        errors.append(
            ConfigError(key, f"unknown {what} {_show(value)}{did_you_mean(value, names)}; known: {listing}")
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
            ConfigError(f"{where}.id", f"expected an id of [a-z0-9_-], 1..64 chars, got {_show(rule_id)}")
        )
    kind = t.get("when")
    if kind not in KINDS:
        _choice(kind, f"{where}.when", KINDS, errors)
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
        errors.append(ConfigError(f"{where}.field", f"expected a field name of the sensor, got {_show(fld)}"))
    severity = t.get("severity", "warning")
    _choice(severity, f"{where}.severity", SEVERITIES, errors)
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
        elif hysteresis is not None and 2 * hysteresis > high - low:
            errors.append(
                ConfigError(
                    f"{where}.hysteresis",
                    f"expected at most half the range low..high ({(high - low) / 2:g}), got {hysteresis:g}:"
                    " no value could ever clear the rule",
                )
            )
    elif kind in LEVEL_KEY:
        lo, hi = {"rate": (0.0, math.inf), "stale": (0.001, MAX_DURATION_S)}.get(
            str(kind), (-math.inf, math.inf)
        )
        level = _number(t, LEVEL_KEY[str(kind)], where, errors, lo=lo, hi=hi) or 0.0
        if kind == "rate" and hysteresis is not None and hysteresis > level:
            errors.append(
                ConfigError(
                    f"{where}.hysteresis",
                    f"expected at most rate_per_s ({level:g}), got {hysteresis:g}: no rate could ever clear the rule",
                )
            )
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
    if len(raw) > MAX_RULES:  # reported, and every rule still checked: all mistakes in one run
        errors.append(ConfigError("rules", f"expected at most {MAX_RULES} rules, got {len(raw)}"))
    sensors, outputs = set(sensors), set(outputs)
    out: list[Rule] = []
    seen: dict[str, int] = {}
    for i, t in enumerate(raw):
        rule, valid = _rule(t, f"rules[{i}]", sensors, outputs, errors)
        if rule is not None and checkable is not None:
            checkable.append(rule)
        rule_id = t.get("id") if isinstance(t, Mapping) else None
        if isinstance(rule_id, str) and RULE_ID_RE.fullmatch(rule_id):  # whatever else is wrong with either
            if rule_id in seen:
                errors.append(
                    ConfigError(
                        f"rules[{i}].id", f"duplicate rule id {rule_id!r} (also rules[{seen[rule_id]}])"
                    )
                )
                continue
            seen[rule_id] = i
        if rule is not None and valid:
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
                        f"sensor {rule.sensor!r} has no field {_show(rule.field)}{did_you_mean(rule.field, names)};"
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
                    ConfigError(
                        f"{rule.key}.action.{key}", f"{exc} for output {act.output!r}, got {_show(value)}"
                    )
                )
    return errors
