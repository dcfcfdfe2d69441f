"""Local rules: a pure state machine per rule, driven by readings and a clock passed in (no I/O, no clock reads).

A rule watches one field of one sensor. Its condition is one of:

- ``above`` / ``below``: the value is beyond ``threshold``; it clears once back past ``threshold`` by
  ``hysteresis`` (``value <= threshold - hysteresis`` for ``above``);
- ``outside``: the value leaves ``[low, high]``; it clears once back inside by ``hysteresis`` on both sides;
- ``rate``: the value changes faster than ``threshold`` units per second (either way, measured between two
  consecutive readings' timestamps); it clears once the rate is ``<= threshold - hysteresis``;
- ``stale``: no reading carrying the field for ``threshold`` seconds (the sensor is offline or failing); it
  clears with the next reading.

Every rule goes ``inactive -> pending -> active -> clearing -> inactive``. It fires (``pending -> active``) once
its condition has held on every reading for ``for_s`` seconds, and clears (``clearing -> inactive``) once its
clear condition has held for ``clear_for_s`` seconds. A reading in the dead band between the two conditions
keeps the state it finds (no flapping under noise smaller than the hysteresis). Only the two public transitions
(fired: state ``active``; cleared: state ``inactive``) produce a :class:`RuleEvent`.

A threshold rule is decided on readings only: a sensor that stops reporting never fires (or clears) a threshold
rule on its last value; a ``stale`` rule on the same field says so instead (:meth:`RuleEngine.on_tick`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from gateway.protocol.model import SENSOR, TS_NS, VALUES, ReadingTuple

INACTIVE: Final = "inactive"
PENDING: Final = "pending"
ACTIVE: Final = "active"
CLEARING: Final = "clearing"

KINDS: Final = ("above", "below", "outside", "rate", "stale")
SEVERITIES: Final = ("info", "warning", "critical")


@dataclass(frozen=True, slots=True)
class RuleAction:
    """Set ``output`` to ``on_fire`` when the rule fires and to ``on_clear`` (if not None) when it clears."""

    output: str
    on_fire: Any
    on_clear: Any = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated rule (see the module docstring for what each kind means).

    Attributes:
        id: rule id, unique in the config.
        sensor: sensor id.
        field: field name of that sensor.
        kind: one of :data:`KINDS`.
        threshold: the level (``above``/``below``), units per second (``rate``), or seconds (``stale``).
        low: lower bound (``outside``).
        high: upper bound (``outside``).
        hysteresis: how far back past the threshold the value must come to clear (field units).
        for_s: how long the condition must hold before the rule fires.
        clear_for_s: how long the clear condition must hold before the rule clears.
        severity: one of :data:`SEVERITIES`.
        action: optional output to drive.
        key: where it came from in the config (``rules[3]``), for error messages.
    """

    id: str
    sensor: str
    field: str
    kind: str
    threshold: float = 0.0
    low: float = 0.0
    high: float = 0.0
    hysteresis: float = 0.0
    for_s: float = 0.0
    clear_for_s: float = 0.0
    severity: str = "warning"
    action: RuleAction | None = None
    key: str = ""

    @property
    def limit(self) -> float | list[float]:
        """What the event reports as its threshold: ``[low, high]`` for ``outside``, else ``threshold``."""
        return [self.low, self.high] if self.kind == "outside" else self.threshold


@dataclass(frozen=True, slots=True)
class RuleEvent:
    """A rule fired (``state == "active"``) or cleared (``"inactive"``), or an active one was acknowledged.

    ``value`` is the reading that decided (for ``rate``: the rate per second; for ``stale``: the seconds since
    the last reading, None if none ever came).
    """

    rule: str
    sensor: str
    field: str
    state: str
    value: float | None
    threshold: float | list[float]
    severity: str
    ts_ns: int
    acked_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``event`` message body (docs/protocol.md), also the MQTT event payload."""
        return {
            "rule": self.rule,
            "sensor": self.sensor,
            "field": self.field,
            "state": self.state,
            "value": self.value,
            "threshold": self.threshold,
            "severity": self.severity,
            "ts": self.ts_ns,
            "acked_by": self.acked_by,
        }


def _finite(value: Any) -> float | None:
    """``value`` (a number: it compared with floats) as a finite float, bools as 0/1; None for NaN/inf."""
    f = float(value)
    return f if math.isfinite(f) else None


class RuleTracker:
    """The state of one rule (the engine keeps one per rule)."""

    __slots__ = (
        "event",
        "field",
        "last_seen_s",
        "last_ts_ns",
        "last_value",
        "quiet_hi",
        "quiet_lo",
        "rule",
        "since_s",
        "stale_quiet",
        "state",
    )

    def __init__(self, rule: Rule, now_s: float) -> None:
        self.rule = rule
        self.state: str = INACTIVE
        self.since_s = now_s
        """When the current pending/clearing phase began."""
        self.last_value: float | None = None
        self.last_ts_ns = 0
        self.last_seen_s = now_s
        """When a reading with the field last came (``stale``); the engine's start until the first one."""
        self.event: RuleEvent | None = None
        """The event that fired the rule while it is active or clearing (None when inactive)."""
        self.field = rule.field
        self.quiet_lo = self.quiet_hi = 0.0
        self.stale_quiet = False
        self._update_band()

    def _update_band(self) -> None:
        """Set the quiet band: values strictly inside ``(quiet_lo, quiet_hi)`` change nothing in the current
        state, so :meth:`RuleEngine.on_readings` skips them with two comparisons (the common case: a value on
        the right side of its threshold). Empty (inf, -inf) where every reading matters (pending, clearing,
        rate, an active outside rule). ``stale_quiet``: an inactive stale rule, for which a reading only
        refreshes ``last_seen_s``."""
        rule, state, kind = self.rule, self.state, self.rule.kind
        lo, hi = math.inf, -math.inf
        if state == INACTIVE:
            if kind == "above":
                lo, hi = -math.inf, rule.threshold
            elif kind == "below":
                lo, hi = rule.threshold, math.inf
            elif kind == "outside":
                lo, hi = rule.low, rule.high
        elif state == ACTIVE:
            if kind == "above":
                lo, hi = rule.threshold - rule.hysteresis, math.inf
            elif kind == "below":
                lo, hi = -math.inf, rule.threshold + rule.hysteresis
        self.quiet_lo, self.quiet_hi = lo, hi
        self.stale_quiet = kind == "stale" and state == INACTIVE

    def _step(self, fire: bool, clear: bool, now_s: float) -> str | None:
        """Advance the state machine; return ACTIVE when it fires, INACTIVE when it clears, else None."""
        rule = self.rule
        if self.state == INACTIVE:
            if not fire:
                return None
            self.state, self.since_s = PENDING, now_s
        if self.state == PENDING:
            if not fire:
                self.state = INACTIVE
                return None
            if now_s - self.since_s >= rule.for_s:
                self.state = ACTIVE
                return ACTIVE
            return None
        if self.state == ACTIVE:
            if not clear:
                return None
            self.state, self.since_s = CLEARING, now_s
        if not clear:  # CLEARING, and the value came back into the dead band or beyond
            self.state = ACTIVE
            return None
        if now_s - self.since_s >= rule.clear_for_s:
            self.state = INACTIVE
            return INACTIVE
        return None

    def on_value(self, value: float, now_s: float, ts_ns: int) -> RuleEvent | None:
        """Feed one reading's value of the watched field."""
        rule = self.rule
        kind = rule.kind
        shown: float | None = value
        if kind == "above":
            fire, clear = value > rule.threshold, value <= rule.threshold - rule.hysteresis
        elif kind == "below":
            fire, clear = value < rule.threshold, value >= rule.threshold + rule.hysteresis
        elif kind == "outside":
            h = rule.hysteresis
            fire = value < rule.low or value > rule.high
            clear = rule.low + h <= value <= rule.high - h
        elif kind == "rate":
            prev, prev_ts = self.last_value, self.last_ts_ns
            self.last_value, self.last_ts_ns = value, ts_ns
            if (
                prev is None or ts_ns <= prev_ts
            ):  # first reading, or the wall clock stepped back: a new baseline
                return None
            shown = abs(value - prev) * 1e9 / (ts_ns - prev_ts)
            fire, clear = shown > rule.threshold, shown <= rule.threshold - rule.hysteresis
        else:  # stale: a reading is the clear condition
            self.last_seen_s = now_s
            fire, clear = False, True
            shown = None
        if not fire and self.state == INACTIVE:  # the common case (a quiet rate rule): nothing changes
            return None
        before = self.state
        change = self._step(fire, clear, now_s)
        if self.state != before:
            self._update_band()
        return self._event(change, shown, ts_ns)

    def on_tick(self, now_s: float, ts_ns: int) -> RuleEvent | None:
        """Let time pass for a ``stale`` rule (the caller ticks only those)."""
        age = now_s - self.last_seen_s
        fire = age >= self.rule.threshold
        change = self._step(fire, not fire, now_s)
        self._update_band()
        return self._event(change, age, ts_ns)

    def _event(self, change: str | None, value: float | None, ts_ns: int) -> RuleEvent | None:
        if change is None:
            return None
        rule = self.rule
        event = RuleEvent(rule.id, rule.sensor, rule.field, change, value, rule.limit, rule.severity, ts_ns)
        self.event = event if change == ACTIVE else None
        return event


class RuleEngine:
    """All rules, indexed by sensor id so that a reading of a sensor without rules costs one dict lookup.

    Args:
        rules: the validated rules.
        now_s: the monotonic clock at start (a ``stale`` rule counts from here until the first reading).
    """

    def __init__(self, rules: Iterable[Rule], now_s: float) -> None:
        self.trackers: dict[str, RuleTracker] = {}
        by_sensor: dict[str, list[RuleTracker]] = {}
        for rule in rules:
            tracker = self.trackers[rule.id] = RuleTracker(rule, now_s)
            by_sensor.setdefault(rule.sensor, []).append(tracker)
        self.by_sensor: dict[str, tuple[RuleTracker, ...]] = {k: tuple(v) for k, v in by_sensor.items()}
        """Sensor id -> its rules; the hub's sink looks a reading's sensor up here and skips it when absent."""
        self._stale = tuple(t for t in self.trackers.values() if t.rule.kind == "stale")

    def on_readings(self, readings: Iterable[ReadingTuple], now_s: float) -> list[RuleEvent]:
        """Feed a batch of readings (all of them at ``now_s``); returns the events, in order.

        A reading of a sensor without rules costs one dict lookup; with rules, a value in a rule's quiet band
        costs a ``get`` and two comparisons for that rule. A field that is absent, text or not finite is no
        reading for that rule."""
        by_sensor = self.by_sensor
        events: list[RuleEvent] = []
        for r in readings:
            trackers = by_sensor.get(r[SENSOR])
            if trackers is None:
                continue
            values = r[VALUES]
            for tracker in trackers:
                value = values.get(tracker.field)
                try:
                    if tracker.quiet_lo < value < tracker.quiet_hi:  # type: ignore[operator]
                        continue
                except TypeError:  # None or text: no reading for this rule
                    continue
                if tracker.stale_quiet and tracker.last_seen_s == now_s:  # seen in this batch already
                    continue
                # x - x == 0 only for a finite float: the common case without a call
                number = value if type(value) is float and value - value == 0.0 else _finite(value)
                if number is None:
                    continue
                if tracker.stale_quiet:
                    tracker.last_seen_s = now_s
                    continue
                event = tracker.on_value(number, now_s, r[TS_NS])
                if event is not None:
                    events.append(event)
        return events

    def on_reading(self, sensor: str, values: Mapping[str, Any], now_s: float, ts_ns: int) -> list[RuleEvent]:
        """Feed one reading of ``sensor`` (see :meth:`on_readings`)."""
        return self.on_readings([(0, 0, ts_ns, sensor, values, 0)], now_s)

    def on_tick(self, now_s: float, ts_ns: int) -> list[RuleEvent]:
        """Let time pass for the ``stale`` rules; returns their events."""
        events = []
        for tracker in self._stale:
            event = tracker.on_tick(now_s, ts_ns)
            if event is not None:
                events.append(event)
        return events

    def active(self) -> list[RuleEvent]:
        """The events of the rules active now (state active or clearing), in config order."""
        return [t.event for t in self.trackers.values() if t.event is not None]

    def state(self, rule_id: str) -> str:
        """The state of rule ``rule_id`` (KeyError for an unknown id)."""
        return self.trackers[rule_id].state

    def acknowledge(self, rule_id: str, by: str) -> RuleEvent | None:
        """Mark rule ``rule_id``'s active event acknowledged by ``by``; returns it, or None when the rule is
        unknown, not active, or already acknowledged (nothing to tell anyone)."""
        tracker = self.trackers.get(rule_id)
        if tracker is None or tracker.event is None or tracker.event.acked_by is not None:
            return None
        tracker.event = replace(tracker.event, acked_by=by)
        return tracker.event
