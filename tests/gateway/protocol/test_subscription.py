"""Subscription sets: path wildcards, field unions, first-entry policy, add/replace/remove, route cache."""

from __future__ import annotations

import pytest

from gateway.protocol.control import Subscribe, SubscribeEntry, Unsubscribe, parse_control
from gateway.protocol.errors import ProtocolError
from gateway.protocol.model import FLAG_CLOCK_SYNCED, Reading
from gateway.protocol.pattern import Glob
from gateway.protocol.stream import Stream
from gateway.protocol.subscription import (
    EVERYTHING,
    FULL,
    MAX_SUBSCRIPTIONS,
    NONE,
    Route,
    SubscriptionSet,
    split_path,
)

MS = 1_000_000
ENV = Reading(
    7,
    3,
    1_700_000_000_000_000_000,
    "env",
    {"temperature_c": 21.5, "humidity_pct": 40.0, "pressure_pa": 100_653.27},
    FLAG_CLOCK_SYNCED,
)


def entries(*paths: str) -> list[SubscribeEntry]:
    """Plain instant entries for ``paths``."""
    return [SubscribeEntry(p) for p in paths]


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("env", ("env", "*")),
        ("env.temperature_c", ("env", "temperature_c")),
        ("*", ("*", "*")),
        ("*.temperature_c", ("*", "temperature_c")),
        ("a.b.c", ("a", "b.c")),
        ("env.", ("env", "")),
    ],
)
def test_split_path_separates_sensor_and_field_patterns(path: str, parts: tuple[str, str]) -> None:
    """split_path splits at the first dot; a bare sensor means all of its fields."""
    assert split_path(path) == parts


@pytest.mark.parametrize(
    ("path", "matched"),
    [
        ("*", ["env", "env2", "imu", "gps", "relay1"]),
        ("env", ["env"]),
        ("env*", ["env", "env2"]),
        ("env?", ["env2"]),
        ("?mu", ["imu"]),
        ("*1", ["relay1"]),
        ("*.value", ["env", "env2", "imu", "gps", "relay1"]),
        ("ENV", []),
        ("nothing", []),
    ],
)
def test_sensor_wildcards_select_sensors(path: str, matched: list[str]) -> None:
    """Sensor patterns use case-sensitive * and ? wildcards."""
    subs = SubscriptionSet(entries(path))
    sensors = ["env", "env2", "imu", "gps", "relay1"]
    assert [s for s in sensors if subs.route(s) is not None] == matched


def test_field_patterns_union_over_matching_entries() -> None:
    """A sensor's fields are the union (entry order, no repeats) of every matching entry's field pattern."""
    subs = SubscriptionSet(
        entries("env.temperature_c", "imu.ax", "*.humidity_*", "env.temperature_c", "e?v.x")
    )
    route = subs.route("env")
    assert route is not None
    assert route.fields == ("temperature_c", "humidity_*", "x")
    assert route.project(ENV) == ENV._replace(values={"temperature_c": 21.5, "humidity_pct": 40.0})
    imu = subs.route("imu")
    assert imu is not None
    assert imu.fields == ("ax", "humidity_*")


def test_any_whole_sensor_entry_keeps_every_field() -> None:
    """If one matching entry selects all fields, the route keeps all fields and projection is the identity."""
    subs = SubscriptionSet(entries("env.temperature_c", "e*"))
    route = subs.route("env")
    assert route is not None
    assert route.fields is None
    assert route.project(ENV) is ENV


def test_projection_returns_same_object_when_every_field_matches_and_empty_map_when_none() -> None:
    """Projection keeps the same object if nothing is removed and yields an empty map if nothing matches."""
    all_fields = Route("instant", None, 0, (), ("*_*",))
    assert all_fields.project(ENV) is ENV
    nothing = Route("instant", None, 0, (), ("speed_mps",))
    assert nothing.project(ENV) == Reading(7, 3, 1_700_000_000_000_000_000, "env", {}, FLAG_CLOCK_SYNCED)


def test_first_matching_entry_sets_policy_periods_and_agg() -> None:
    """The first entry whose sensor pattern matches decides policy, period, minPeriod and agg (in ns)."""
    subs = SubscriptionSet(
        [
            SubscribeEntry("imu", "instant", 500, 0, ("max",)),
            SubscribeEntry("env.temperature_c", "fixed", 1000, 0, ()),
            SubscribeEntry("*", "ideal", 2000, 50, ()),
        ]
    )
    assert subs.route("env") == Route("fixed", 1000 * MS, 0, (), None)
    assert subs.route("imu") == Route("instant", 500 * MS, 0, ("max",), None)
    assert subs.route("gps") == Route("ideal", 2000 * MS, 50 * MS, (), None)


@pytest.mark.parametrize(
    ("route", "passthrough"),
    [
        (Route("instant", None, 0, (), None), True),
        (Route("instant", 1000 * MS, 0, (), None), True),
        (Route("instant", None, 10 * MS, (), None), False),
        (Route("instant", 1000 * MS, 0, ("min",), None), False),
        (Route("ideal", 1000 * MS, 0, (), None), False),
        (Route("fixed", 1000 * MS, 0, (), None), False),
    ],
)
def test_passthrough_only_for_plain_instant(route: Route, passthrough: bool) -> None:
    """Only instant without minPeriod and without agg is passthrough."""
    assert route.passthrough is passthrough


def test_add_appends_without_duplicates_and_replace_starts_over() -> None:
    """add() appends new entries only; replace=True drops the current ones first; sets are immutable."""
    base = SubscriptionSet(entries("env", "imu"))
    added = base.add(
        [
            SubscribeEntry("imu"),
            SubscribeEntry("imu", "fixed", 100),
            SubscribeEntry("gps"),
            SubscribeEntry("gps"),
        ]
    )
    assert added.entries == (
        SubscribeEntry("env"),
        SubscribeEntry("imu"),
        SubscribeEntry("imu", "fixed", 100),
        SubscribeEntry("gps"),
    )
    assert base.entries == (SubscribeEntry("env"), SubscribeEntry("imu"))
    assert base.add(entries("gps", "gps"), replace=True).entries == (SubscribeEntry("gps"),)


def test_remove_drops_exact_paths_and_star_drops_everything() -> None:
    """remove() drops entries whose path is listed exactly (all policies of it); '*' empties the set."""
    subs = SubscriptionSet(
        [
            SubscribeEntry("env"),
            SubscribeEntry("env.*"),
            SubscribeEntry("imu", "fixed", 100),
            SubscribeEntry("imu"),
        ]
    )
    assert subs.remove(["imu", "env.x"]).entries == (SubscribeEntry("env"), SubscribeEntry("env.*"))
    assert subs.remove(["env*"]) == subs
    assert subs.remove(["imu", "*"]) == NONE
    assert subs.remove(["*"]).empty


def test_subscribe_and_unsubscribe_messages_drive_the_set() -> None:
    """Parsed subscribe/unsubscribe messages applied in order give the expected routes."""
    subs = NONE
    for text in (
        '{"t": "subscribe", "subscribe": [{"path": "env.temperature_c"}]}',
        '{"t": "subscribe", "subscribe": [{"path": "imu", "policy": "fixed", "period": 100}]}',
        '{"t": "unsubscribe", "unsubscribe": [{"path": "env.temperature_c"}]}',
        '{"t": "subscribe", "subscribe": [{"path": "*.humidity_pct"}]}',
    ):
        msg = parse_control(text)
        if isinstance(msg, Subscribe):
            subs = subs.add(msg.entries, replace=msg.replace)
        else:
            assert isinstance(msg, Unsubscribe)
            subs = subs.remove(msg.paths)
    assert subs.entries == (SubscribeEntry("imu", "fixed", 100), SubscribeEntry("*.humidity_pct"))
    assert subs.route("env") == Route("instant", None, 0, (), ("humidity_pct",))
    assert subs.route("imu") == Route("fixed", 100 * MS, 0, (), None)
    replaced = parse_control('{"t": "subscribe", "replace": true, "subscribe": [{"path": "gps"}]}')
    assert isinstance(replaced, Subscribe)
    assert subs.add(replaced.entries, replace=replaced.replace).entries == (SubscribeEntry("gps"),)


def test_route_cache_returns_the_computed_route_for_each_sensor() -> None:
    """route() computes once per sensor (matches and misses) and then answers from the cache."""
    subs = SubscriptionSet(entries("env*"))
    first = subs.route("env")
    assert first is not None
    assert subs.route("env") is first
    assert (subs.route("imu"), subs.route("imu"), subs.route("env")) == (None, None, first)


def test_sets_compare_hash_and_print_by_entries() -> None:
    """Sets with equal entries are equal and hash alike (one stream per distinct set); repr lists paths."""
    a = SubscriptionSet(entries("env", "imu"))
    b = SubscriptionSet(entries("env", "imu"))
    a.route("env")
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b, SubscriptionSet(entries("imu", "env"))}) == 2
    assert a != entries("env", "imu")
    assert repr(a) == "SubscriptionSet(['env', 'imu'])"


def test_full_and_none_defaults() -> None:
    """FULL matches every sensor with every field at full rate; NONE matches nothing."""
    assert FULL.entries == (EVERYTHING,)
    assert FULL.route("anything") == Route("instant", None, 0, (), None)
    assert not FULL.empty
    assert NONE.empty
    assert NONE.route("anything") is None


def test_subscription_entries_are_capped_per_connection_and_a_refused_add_changes_nothing() -> None:
    """Adding past MAX_SUBSCRIPTIONS raises too_many_subscriptions; duplicates and replace stay within it."""
    full = SubscriptionSet().add(entries(*(f"env.f{n}" for n in range(MAX_SUBSCRIPTIONS))))
    assert len(full) == MAX_SUBSCRIPTIONS
    assert full.add(entries("env.f0", "env.f255")) == full
    with pytest.raises(ProtocolError) as info:
        full.add(entries("env.f0", "env.extra"))
    assert (info.value.code, info.value.ref) == ("too_many_subscriptions", None)
    assert info.value.msg == (
        "at most 256 subscription entries per connection: unsubscribe some, or subscribe with replace: true"
    )
    assert len(full) == MAX_SUBSCRIPTIONS
    assert full.add(entries("gps"), replace=True).entries == (SubscribeEntry("gps"),)
    assert len(full.remove(["env.f0"]).add(entries("env.extra"))) == MAX_SUBSCRIPTIONS


def test_sets_built_by_add_and_remove_equal_sets_built_at_once() -> None:
    """add/remove keep order and equality with a set built directly from the same entries."""
    subs = SubscriptionSet(entries("a", "b")).add(entries("c", "a")).remove(["b"])
    assert subs == SubscriptionSet(entries("a", "c"))
    assert hash(subs) == hash(SubscriptionSet(entries("a", "c")))
    assert subs.route("c") == Route("instant", None, 0, (), None)


class Counter:
    """Counts Glob.match and pattern compilations while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.matches = 0
        self.compiled = 0
        match, init = Glob.match, Glob.__init__

        def counted_match(glob: Glob, name: str) -> bool:
            self.matches += 1
            return match(glob, name)

        def counted_init(glob: Glob, pattern: str) -> None:
            self.compiled += 1
            init(glob, pattern)

        monkeypatch.setattr(Glob, "match", counted_match)
        monkeypatch.setattr(Glob, "__init__", counted_init)


SENSORS = [f"s{n}" for n in range(9)] + ["env"]
FLOOD_MESSAGES = 18 * 8


@pytest.mark.parametrize("replace", [False, True], ids=["growing", "replacing"])
def test_a_subscription_flood_costs_what_each_message_adds(
    monkeypatch: pytest.MonkeyPatch, replace: bool
) -> None:
    """18 msgs/s x 8 s of 256 new paths: a message's cost is bounded by the cap, not by what came before."""
    counter = Counter(monkeypatch)
    subs = SubscriptionSet()
    refused = 0
    per_message = []
    for m in range(FLOOD_MESSAGES):
        before = (counter.matches, counter.compiled)
        try:
            subs = subs.add(entries(*(f"env.f{m * 256 + n}" for n in range(256))), replace=replace)
        except ProtocolError:
            refused += 1
        stream = Stream(subs)  # a new set gets a new stream and a cold route cache, as in the fan-out
        for sensor in SENSORS:
            stream.on_readings([Reading(1, 0, 0, sensor, {"f1": 1.0, "x": 2.0}, 0)], 0)
        per_message.append((counter.matches - before[0], counter.compiled - before[1]))
    assert len(subs) == MAX_SUBSCRIPTIONS
    assert refused == (0 if replace else FLOOD_MESSAGES - 1)
    # Matching: each entry's sensor pattern once per sensor, and each field pattern once per field name seen.
    assert max(m for m, _ in per_message) <= MAX_SUBSCRIPTIONS * (len(SENSORS) + 2)
    # Compiling: the sensor and field patterns of each entry when it is added, never again.
    assert max(c for _, c in per_message) <= 2 * MAX_SUBSCRIPTIONS
