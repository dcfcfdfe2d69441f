"""Subscription sets and path matching. Pure.

A set is an ordered tuple of :class:`SubscribeEntry`. For each sensor, the fields delivered are the union of the
field patterns of every entry whose sensor pattern matches; the policy, periods and aggregation of the *first*
matching entry apply (so a reading matched twice is still delivered once).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gateway.protocol.control import Policy, SubscribeEntry
from gateway.protocol.errors import ProtocolError
from gateway.protocol.model import VALUES, ReadingTuple, with_values
from gateway.protocol.pattern import Glob

EVERYTHING = SubscribeEntry("*")
MAX_SUBSCRIPTIONS = 256
"""Entries one connection may hold (``hello.limits.max_subscriptions``): every field of a large gateway, and a
bound on what one new subscription costs to route (entries x sensors pattern matches)."""


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
    globs: tuple[Glob, ...] | None = field(default=None, compare=False, repr=False)
    """``fields`` compiled (compiled here when not given)."""
    _keep: dict[str, bool] = field(default_factory=dict, init=False, compare=False, repr=False)
    """Field name -> kept, per route: field names come from the gateway's own catalogue, not from peers."""

    def __post_init__(self) -> None:
        if self.globs is None:
            object.__setattr__(self, "globs", tuple(Glob(p) for p in self.fields or ()))

    @property
    def passthrough(self) -> bool:
        """True when readings go out as they come (no timing state needed)."""
        return self.policy == "instant" and self.min_period_ns == 0 and not self.agg

    def project(self, reading: ReadingTuple) -> ReadingTuple:
        """Return ``reading`` with only the selected fields (the same object when nothing is removed)."""
        if self.fields is None:
            return reading
        keep = self._keep
        all_values = reading[VALUES]
        values = {}
        for k, v in all_values.items():
            kept = keep.get(k)
            if kept is None:
                kept = keep[k] = any(g.match(k) for g in self.globs or ())
            if kept:
                values[k] = v
        return reading if len(values) == len(all_values) else with_values(reading, values)


class SubscriptionSet:
    """An immutable, hashable set of entries with a per-sensor route cache.

    Entries are kept in an insertion-ordered dict with their compiled patterns, so :meth:`add` costs what is
    added (plus one C-level copy of at most :data:`MAX_SUBSCRIPTIONS` items), and the patterns live and die with
    the sets that use them.
    """

    __slots__ = ("_hash", "_index", "_routes", "entries")

    def __init__(self, entries: Iterable[SubscribeEntry] = ()) -> None:
        index: dict[SubscribeEntry, tuple[Glob, Glob]] = {}
        for e in entries:
            if e not in index:
                index[e] = _compile(e)
        self._init(index)

    def _init(self, index: dict[SubscribeEntry, tuple[Glob, Glob]]) -> None:
        self._index = index
        self.entries: tuple[SubscribeEntry, ...] = tuple(index)
        self._hash = hash(self.entries)
        self._routes: dict[str, Route | None] = {}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SubscriptionSet) and other._hash == self._hash and other.entries == self.entries
        )

    def __hash__(self) -> int:
        return self._hash

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"SubscriptionSet({[e.path for e in self.entries]})"

    @property
    def empty(self) -> bool:
        """True when nothing is subscribed."""
        return not self.entries

    def add(self, entries: Sequence[SubscribeEntry], *, replace: bool = False) -> SubscriptionSet:
        """Return a set with ``entries`` appended (or instead of the current ones), without exact duplicates.

        Raises:
            ProtocolError: ``too_many_subscriptions`` when the result would hold more than
                :data:`MAX_SUBSCRIPTIONS` entries (the set is left as it was).
        """
        index = {} if replace else dict(self._index)
        for e in entries:
            if e not in index:
                if len(index) >= MAX_SUBSCRIPTIONS:
                    raise ProtocolError(
                        "too_many_subscriptions",
                        f"at most {MAX_SUBSCRIPTIONS} subscription entries per connection: "
                        "unsubscribe some, or subscribe with replace: true",
                    )
                index[e] = self._index.get(e) or _compile(e)
        out = SubscriptionSet.__new__(SubscriptionSet)
        out._init(index)
        return out

    def remove(self, paths: Iterable[str]) -> SubscriptionSet:
        """Return a set without entries whose path is in ``paths``; ``*`` removes all."""
        drop = set(paths)
        if "*" in drop:
            return SubscriptionSet()
        out = SubscriptionSet.__new__(SubscriptionSet)
        out._init({e: c for e, c in self._index.items() if e.path not in drop})
        return out

    def route(self, sensor: str) -> Route | None:
        """Return how ``sensor`` is delivered, or None when the set does not match it.

        Cost: one pattern match per entry, once per sensor for the life of the set (cached).
        """
        try:
            return self._routes[sensor]
        except KeyError:
            pass
        first: SubscribeEntry | None = None
        fields: dict[str, Glob] = {}
        for e, (s_glob, f_glob) in self._index.items():
            if not s_glob.match(sensor):
                continue
            first = first or e
            fields.setdefault(f_glob.pattern, f_glob)
        route = None
        if first is not None:
            route = Route(
                policy=first.policy,
                period_ns=None if first.period_ms is None else first.period_ms * 1_000_000,
                min_period_ns=first.min_period_ms * 1_000_000,
                agg=first.agg,
                fields=None if "*" in fields else tuple(fields),
                globs=None if "*" in fields else tuple(fields.values()),
            )
        self._routes[sensor] = route
        return route


def _compile(e: SubscribeEntry) -> tuple[Glob, Glob]:
    s_pat, f_pat = split_path(e.path)
    return Glob(s_pat), Glob(f_pat)


FULL = SubscriptionSet([EVERYTHING])
"""What a client gets when it connects without a query: everything, at full rate."""
NONE = SubscriptionSet()
