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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import itemgetter, sub
from typing import Any, Final

from gateway.protocol.model import SENSOR, TS_NS, VALUES, ReadingTuple

INACTIVE: Final = "inactive"
PENDING: Final = "pending"
ACTIVE: Final = "active"
CLEARING: Final = "clearing"

KINDS: Final = ("above", "below", "outside", "rate", "stale")
SEVERITIES: Final = ("info", "warning", "critical")

# When the batch decision pays: a cost model per sensor, in ns on the 2-core machine of docs/benchmarks.md, fitted
# from benchmarks/rules_engine.py (batches of 2-50 of the five kinds, steady and noisy values). Only the ratios
# matter; the model errs only near the break-even, where both paths cost about the same.
FEED_READING_NS: Final = 70
"""Reading by reading: a reading of a sensor with rules, before its rules (the loop, the sensor lookup)."""
FEED_RULE_NS: Final = 50
"""Reading by reading: an above/below/outside/stale rule on a reading (a get and two comparisons)."""
FEED_RATE_NS: Final = 325
"""Reading by reading: a rate rule on a reading (a rate is computed for every reading)."""
BATCH_NS: Final = 1100
"""Batch decision: its fixed cost for one sensor's group (grouping, extracting the values mappings)."""
BATCH_FIELD_NS: Final = 850
"""Batch decision: the fixed cost of one watched field (its FieldStats, its rules' decisions)."""
BATCH_RATE_NS: Final = 800
"""Batch decision: the fixed cost of one rate rule's decision (first and last step)."""
BATCH_READING_NS: Final = 20
"""Batch decision: a reading (its sensor id into the set, its values mapping into the list)."""
BATCH_FIELD_READING_NS: Final = 30
"""Batch decision: a reading's value of one watched field (itemgetter, sum, sort)."""
BATCH_RATE_READING_NS: Final = 60
"""Batch decision: a reading's timestamp gap for one rate rule (when the batch's values differ)."""


def batch_min_readings(rules: Sequence[Rule]) -> int:
    """The fewest readings of one sensor in a batch for which deciding ``rules`` (all of that sensor) from the
    batch's stats costs less than feeding the readings one by one, per the cost model above: 10-11 with a rate
    rule (the bench's five kinds: 11), 28 for one threshold rule, 34 for threshold rules on three fields (a rule
    costs more per reading one by one than its field in a batch, so some batch size always pays)."""
    rates = sum(1 for rule in rules if rule.kind == "rate")
    fields = len({rule.field for rule in rules})
    fixed = BATCH_NS + BATCH_FIELD_NS * fields + BATCH_RATE_NS * rates
    batch = BATCH_READING_NS + BATCH_FIELD_READING_NS * fields + BATCH_RATE_READING_NS * rates
    feed = FEED_READING_NS + FEED_RULE_NS * (len(rules) - rates) + FEED_RATE_NS * rates
    return fixed // (feed - batch) + 1


_NUMBERS: Final = frozenset((float, int, bool))
"""Value types that are a reading when finite (they compare with floats)."""
_NOT_NUMBERS: Final = frozenset((type(None), str, bytes))
"""Value types that are no reading for any rule (absent, text)."""
_SENSOR, _TS_NS, _VALUES = itemgetter(SENSOR), itemgetter(TS_NS), itemgetter(VALUES)


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


class FieldStats:
    """One field of one sensor's readings in a batch, for :meth:`RuleTracker.skip_batch`: how many carry a
    finite number, their least and greatest (as floats), and for ``rate`` rules (computed on first use) the
    time gaps and value steps between consecutive ones.

    Use :meth:`of`, which returns None when a value has a type whose comparisons are not known here (the
    readings then go one by one)."""

    __slots__ = ("_gaps", "_steps", "count", "hi", "lo", "numbers", "rows")

    def __init__(self, numbers: list[Any], rows: Sequence[ReadingTuple], lo: float, hi: float) -> None:
        self.numbers = numbers
        """The finite numbers, in reading order."""
        self.rows = rows
        """Their readings (aligned with ``numbers``)."""
        self.count = len(numbers)
        self.lo = lo
        """The least value as a float (float() is monotonic: the least of the values converted); inf if none."""
        self.hi = hi
        """The greatest value as a float; -inf if none."""
        self._gaps: tuple[int, int] | None = None
        self._steps: tuple[float, float] | None = None

    @classmethod
    def of(
        cls,
        readings: Sequence[ReadingTuple],
        values: Sequence[Mapping[str, Any]],
        field: str,
        getter: Callable[[Mapping[str, Any]], Any] | None = None,
    ) -> FieldStats | None:
        """The stats of ``field`` over ``readings`` (all of one sensor; ``values``: their values mappings), or
        None (see the class; also for an integer beyond the float range, which the one-by-one path may skip in
        a quiet band; ``getter``: ``itemgetter(field)``, made once by the caller). One frame: on the hot path a
        call costs as much as a reading's share of the work."""
        try:
            numbers: list[Any] = list(map(getter or itemgetter(field), values))
        except KeyError:
            numbers = [d.get(field) for d in values]
        rows = readings
        try:
            total = sum(numbers)  # a TypeError unless all are numbers (values are decoded msgpack/JSON)
        except (TypeError, OverflowError):  # OverflowError: an integer beyond the float range among floats
            total = math.nan
        # NaN unless the sum is finite: a value is no finite number (or the sum overflowed): filter
        if total - total != 0:
            if not set(map(type, numbers)) <= _NUMBERS | _NOT_NUMBERS:
                return None
            keep = [type(v) in _NUMBERS and v - v == 0 for v in numbers]
            numbers = [v for v, k in zip(numbers, keep, strict=True) if k]
            rows = [r for r, k in zip(readings, keep, strict=True) if k]
            if not numbers:
                return cls(numbers, rows, math.inf, -math.inf)
        # sorted() compares floats (and ints below 2**30) with a typed compare: about half the cost of min() and
        # max() on 50 readings, and n - 1 compares on a steady value (docs/benchmarks.md, rules_engine.py)
        ordered = sorted(numbers)
        try:
            return cls(numbers, rows, float(ordered[0]), float(ordered[-1]))
        except OverflowError:
            return None

    def gaps(self) -> tuple[int, int]:
        """The least and greatest ``ts_b - ts_a`` between consecutive readings (``count >= 2``)."""
        if self._gaps is None:
            ts = list(map(_TS_NS, self.rows))
            gaps = sorted(map(sub, ts[1:], ts))
            self._gaps = gaps[0], gaps[-1]
        return self._gaps

    def steps(self) -> tuple[float, float]:
        """The least and greatest ``abs(b - a)`` (on floats, as the tracker computes it) between consecutive
        readings (``count >= 2``)."""
        if self._steps is None:
            floats = list(map(float, self.numbers))
            steps = sorted(map(abs, map(sub, floats[1:], floats)))
            self._steps = steps[0], steps[-1]
        return self._steps


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
        state, so :meth:`RuleEngine.per_reading` skips them with two comparisons (the common case: a value on
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

    def skip_batch(self, stats: FieldStats, now_s: float) -> bool:
        """True when feeding this batch's readings (``stats`` of the rule's field, all at ``now_s``) one by one
        could change neither the state nor its timers nor make an event; the batch's other effects (a stale
        rule's last sighting, a rate rule's last value) are then applied here. False (nothing touched): the
        readings must go one by one through :meth:`on_value`.

        Decided from the batch's least and greatest value only: an inactive rule stays so when no value fires,
        an active one when no value clears, a pending (clearing) one when every value fires (clears) and its
        timer has not run out at ``now_s`` (one clock for the whole batch). A ``rate`` rule bounds its rates
        by the greatest step over the least gap (and the least step over the greatest gap): float rounding is
        monotonic, so the bounds hold for every rate :meth:`on_value` would compute."""
        if stats.count == 0:
            return True  # no reading for this rule in the batch
        rule, state, kind = self.rule, self.state, self.rule.kind
        if kind == "stale":
            if state != INACTIVE:
                return False  # a reading clears or cancels it
            self.last_seen_s = now_s
            return True
        if kind == "rate":
            return self._skip_rate(stats)
        lo, hi = stats.lo, stats.hi
        if kind == "above":
            level, back = rule.threshold, rule.threshold - rule.hysteresis
            none_fire, all_fire, none_clear, all_clear = hi <= level, lo > level, lo > back, hi <= back
        elif kind == "below":
            level, back = rule.threshold, rule.threshold + rule.hysteresis
            none_fire, all_fire, none_clear, all_clear = lo >= level, hi < level, hi < back, lo >= back
        else:  # outside
            low, high, h = rule.low, rule.high, rule.hysteresis
            none_fire = lo >= low and hi <= high
            all_fire = hi < low or lo > high
            none_clear = hi < low + h or lo > high - h
            all_clear = low + h <= lo and hi <= high - h
        if state == INACTIVE:
            return none_fire
        if state == PENDING:
            return all_fire and not now_s - self.since_s >= rule.for_s
        if state == ACTIVE:
            return none_clear
        return all_clear and not now_s - self.since_s >= rule.clear_for_s

    def _skip_rate(self, stats: FieldStats) -> bool:
        """:meth:`skip_batch` for a ``rate`` rule: inactive with no rate above the threshold, or active with
        none at or below the clear level; a clock step back inside the batch (a new baseline) goes one by one,
        unless the batch's values are all equal.

        A batch whose values are all equal (``hi == lo``) has every step 0.0, so every rate it makes is 0.0
        whatever the gaps (and a clock step back only moves the baseline): no gap is computed. Otherwise an
        inactive rule first bounds every step by the batch's range ``hi - lo`` (O(1)); only if that bound could
        fire does it take the batch's greatest step. (The range over the batch's whole time span bounds nothing:
        one step can carry the whole range in the least gap.)"""
        state, rule = self.state, self.rule
        if state in (PENDING, CLEARING):
            return False
        low, high = math.inf, -math.inf
        span = stats.hi - stats.lo
        if stats.count > 1 and span == 0.0:
            low = high = 0.0
        elif stats.count > 1:
            min_dt, max_dt = stats.gaps()
            if min_dt <= 0:
                return False
            if state == INACTIVE:
                high = span * 1e9 / min_dt
                if high > rule.threshold:
                    high = stats.steps()[1] * 1e9 / min_dt
            else:
                low = stats.steps()[0] * 1e9 / max_dt
        prev, first_ts = self.last_value, stats.rows[0][TS_NS]
        if prev is not None and first_ts > self.last_ts_ns:  # the step from the previous batch, exactly
            first = abs(float(stats.numbers[0]) - prev) * 1e9 / (first_ts - self.last_ts_ns)
            low = first if first < low else low
            high = first if first > high else high
        # inactive: no rate fires; active: none clears
        quiet = not high > rule.threshold if state == INACTIVE else low > rule.threshold - rule.hysteresis
        if quiet:
            self.last_value, self.last_ts_ns = float(stats.numbers[-1]), stats.rows[-1][TS_NS]
        return quiet

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
        self._fields: dict[str, tuple[tuple[tuple[str, Any], ...], tuple[tuple[RuleTracker, int], ...]]] = {}
        """Sensor id -> its watched fields (with their getters) and, per rule in config order, the index of its
        field there."""
        for sensor, trackers in self.by_sensor.items():
            names = list(dict.fromkeys(t.field for t in trackers))
            fields = tuple((name, itemgetter(name)) for name in names)
            self._fields[sensor] = fields, tuple((t, names.index(t.field)) for t in trackers)
        self._batch_min = {
            sensor: batch_min_readings([t.rule for t in ts]) for sensor, ts in self.by_sensor.items()
        }
        """Sensor id -> its readings in a batch from which :meth:`on_readings` tries its batch decision."""
        self.batch_min: int | None = None
        """When set, the readings from which every sensor tries the batch decision (tests, benchmarks)."""

    def on_readings(self, readings: Sequence[ReadingTuple], now_s: float) -> list[RuleEvent]:
        """Feed a batch of readings (all of them at ``now_s``); returns the events, in order.

        A batch costs one set of its sensor ids, and when it mixes sensors with and without rules, a dict
        lookup per reading to group them; readings of a sensor without rules cost nothing more. For a sensor
        with at least :func:`batch_min_readings` readings in the batch (where that is cheaper), each watched
        field's values are extracted once and every rule first checks whether any of them can matter: a rule
        whose quiet band holds the batch's min and max is done, the others ask :meth:`RuleTracker.skip_batch`.
        Only the rules for which a reading could matter take the readings one by one (:meth:`per_reading`), in
        batch order, so states and events are exactly those of the per-reading path."""
        by_sensor = self.by_sensor
        sensors = set(map(_SENSOR, readings))
        groups: Mapping[str, Sequence[ReadingTuple]]
        if len(sensors) == 1:
            if readings[0][SENSOR] not in by_sensor:
                return []
            groups = {readings[0][SENSOR]: readings}
        else:
            ruled = [sensor for sensor in sensors if sensor in by_sensor]
            if not ruled:
                return []
            lists: dict[str, list[ReadingTuple]] = {sensor: [] for sensor in ruled}
            for r in readings:
                into = lists.get(r[SENSOR])
                if into is not None:
                    into.append(r)
            groups = lists
        slow: dict[str, tuple[RuleTracker, ...]] = {}
        batch_min = self.batch_min
        for sensor, group in groups.items():
            trackers = by_sensor[sensor]
            if len(group) < (self._batch_min[sensor] if batch_min is None else batch_min):
                slow[sensor] = trackers
                continue
            fields, plan = self._fields[sensor]
            dicts = list(map(_VALUES, group))
            stats = [FieldStats.of(group, dicts, field, getter) for field, getter in fields]
            keep = []
            for tracker, i in plan:
                field_stats = stats[i]
                if field_stats is None:
                    keep.append(tracker)
                elif tracker.quiet_lo < field_stats.lo and field_stats.hi < tracker.quiet_hi:
                    continue  # every value in the quiet band, where _feed skips each: no call
                elif not tracker.skip_batch(field_stats, now_s):
                    keep.append(tracker)
            if keep:
                slow[sensor] = tuple(keep)
        return self._feed(readings, slow, now_s) if slow else []

    def per_reading(self, readings: Iterable[ReadingTuple], now_s: float) -> list[RuleEvent]:
        """Feed a batch reading by reading, every rule of each reading's sensor (the reference semantics of
        :meth:`on_readings`, which gives the same states and events faster)."""
        return self._feed(readings, self.by_sensor, now_s)

    def _feed(
        self, readings: Iterable[ReadingTuple], by_sensor: Mapping[str, tuple[RuleTracker, ...]], now_s: float
    ) -> list[RuleEvent]:
        """Feed each reading to the trackers ``by_sensor`` lists for its sensor.

        With rules, a value in a rule's quiet band costs a ``get`` and two comparisons for that rule. A field
        that is absent, text or not finite is no reading for that rule."""
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
