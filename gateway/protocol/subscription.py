"""Subscription sets and path matching. Pure.

A set is an ordered tuple of :class:`SubscribeEntry`. For each sensor, the fields delivered are the union of the
field patterns of every entry whose sensor pattern matches; the policy, periods and aggregation of the *first*
matching entry apply (so a reading matched twice is still delivered once).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from gateway.protocol.control import Policy, SubscribeEntry
from gateway.protocol.model import VALUES, ReadingTuple, with_values

EVERYTHING = SubscribeEntry("*")


def split_path(path: str) -> tuple[str, str]:
    """Split ``sensor.field`` into its two patterns; a bare ``sensor`` means all its fields."""
    sensor, dot, field = path.partition(".")
    return sensor, (field if dot else "*")


@dataclass(frozen=True, slots=True)
class Route:
    """How one sensor's readings are delivered under a subscription set.

    Attributes:
        policy: ``instant``, ``ideal`` or ``fixed``.
        period_ns: policy / aggregation period; None for plain ``instant``.
        min_period_ns: minimum spacing of ``instant``/``ideal`` deliveries (0: none).
        agg: requested aggregates; non-empty means the sensor yields ``agg`` entries instead of readings.
        fields: field patterns to keep; None keeps every field.
    """

    policy: Policy
    period_ns: int | None
    min_period_ns: int
    agg: tuple[str, ...]
    fields: tuple[str, ...] | None

    @property
    def passthrough(self) -> bool:
        """True when readings go out as they come (no timing state needed)."""
        return self.policy == "instant" and self.min_period_ns == 0 and not self.agg

    def project(self, reading: ReadingTuple) -> ReadingTuple:
        """Return ``reading`` with only the selected fields (the same object when nothing is removed)."""
        if self.fields is None:
            return reading
        pats = self.fields
        all_values = reading[VALUES]
        values = {k: v for k, v in all_values.items() if any(fnmatchcase(k, p) for p in pats)}
        return reading if len(values) == len(all_values) else with_values(reading, values)


class SubscriptionSet:
    """An immutable, hashable set of entries with a per-sensor route cache."""

    __slots__ = ("_routes", "entries")

    def __init__(self, entries: Iterable[SubscribeEntry] = ()) -> None:
        self.entries: tuple[SubscribeEntry, ...] = tuple(entries)
        self._routes: dict[str, Route | None] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SubscriptionSet) and other.entries == self.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __repr__(self) -> str:
        return f"SubscriptionSet({[e.path for e in self.entries]})"

    @property
    def empty(self) -> bool:
        """True when nothing is subscribed."""
        return not self.entries

    def add(self, entries: Sequence[SubscribeEntry], *, replace: bool = False) -> SubscriptionSet:
        """Return a set with ``entries`` appended (or instead of the current ones), without exact duplicates."""
        out = [] if replace else list(self.entries)
        for e in entries:
            if e not in out:
                out.append(e)
        return SubscriptionSet(out)

    def remove(self, paths: Iterable[str]) -> SubscriptionSet:
        """Return a set without entries whose path is in ``paths``; ``*`` removes all."""
        drop = set(paths)
        if "*" in drop:
            return SubscriptionSet()
        return SubscriptionSet(e for e in self.entries if e.path not in drop)

    def route(self, sensor: str) -> Route | None:
        """Return how ``sensor`` is delivered, or None when the set does not match it."""
        try:
            return self._routes[sensor]
        except KeyError:
            pass
        first: SubscribeEntry | None = None
        fields: list[str] = []
        all_fields = False
        for e in self.entries:
            s_pat, f_pat = split_path(e.path)
            if not fnmatchcase(sensor, s_pat):
                continue
            first = first or e
            all_fields = all_fields or f_pat == "*"
            if f_pat not in fields:
                fields.append(f_pat)
        route = None
        if first is not None:
            route = Route(
                policy=first.policy,
                period_ns=None if first.period_ms is None else first.period_ms * 1_000_000,
                min_period_ns=first.min_period_ms * 1_000_000,
                agg=first.agg,
                fields=None if all_fields else tuple(fields),
            )
        self._routes[sensor] = route
        return route


FULL = SubscriptionSet([EVERYTHING])
"""What a client gets when it connects without a query: everything, at full rate."""
NONE = SubscriptionSet()
