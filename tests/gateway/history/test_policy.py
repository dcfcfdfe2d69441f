"""Tiers, per-sensor defaults, tier choice and pruning order (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.history.policy import (
    DEFAULT_RETENTION_S,
    EVENT_TIER,
    NS_PER_S,
    PRUNE_ORDER,
    TIER_PERIOD_NS,
    TIERS,
    TierChoice,
    TierSpan,
    age_cutoffs,
    choose_tier,
    default_policy,
    size_cutoff,
    tier_chain,
)

H = 3600 * NS_PER_S
DAY = 24 * H


def test_default_policy_by_poll_rate() -> None:
    """Sensors polled at <= 1 Hz are stored raw; faster ones and push sources as 1 s rollups."""
    assert [default_policy(s) for s in (86400, 5, 1.0, 0.999, 0.2, 0.01, 0)] == [
        "raw",
        "raw",
        "raw",
        "1s",
        "1s",
        "1s",
        "1s",
    ]


def test_tier_chains() -> None:
    """Every stored sensor also gets the 1 m and 1 h rollups; off stores nothing."""
    assert [tier_chain(p) for p in ("raw", "1s", "10s", "1m", "off")] == [
        ("raw", "1m", "1h"),
        ("1s", "1m", "1h"),
        ("10s", "1m", "1h"),
        ("1m", "1h"),
        (),
    ]


def test_choose_tier_coarsest_fine_enough() -> None:
    """About 1000 points over 24 h of a raw sensor: the 1 m rollup (1440 buckets >= 1000), re-bucketed."""
    oldest = {"raw": 0, "1m": 0, "1h": 0}
    assert choose_tier(0, DAY, 1000, oldest, ("raw", "1m", "1h")) == TierChoice("1m", 86_400_000_000)
    assert choose_tier(0, H, 1000, oldest, ("raw", "1m", "1h")) == TierChoice("raw", 3_600_000_000)
    assert choose_tier(0, 30 * DAY, 100, oldest, ("raw", "1m", "1h")) == TierChoice("1h", 30 * DAY // 100)
    # A period query: the coarsest tier no coarser than the period, whatever the span.
    period = 60 * NS_PER_S
    assert choose_tier(0, 30 * NS_PER_S, 1, oldest, ("raw", "1m", "1h"), target_ns=period) == TierChoice(
        "1m", period
    )


def test_choose_tier_falls_back_when_fine_tiers_were_pruned() -> None:
    """When raw no longer reaches back to the start, the finest tier that does answers."""
    chain = ("raw", "1m", "1h")
    ten_min = 600 * NS_PER_S
    assert choose_tier(0, H, 1000, {"raw": ten_min, "1m": 0, "1h": 0}, chain) == TierChoice(
        "1m", 60 * NS_PER_S
    )
    # Raw starting 10 ns after the minute's stamp is not pruned: its first reading is the minute's first.
    assert choose_tier(0, H, 1000, {"raw": 10, "1m": 0, "1h": 0}, chain) == TierChoice("raw", 3_600_000_000)
    # Raw pruned to start 10 minutes after the minutes: the minutes reach further back.
    assert choose_tier(0, H, 1000, {"raw": 600 * NS_PER_S, "1m": 5, "1h": 7}, chain) == TierChoice(
        "1m", 60 * NS_PER_S
    )
    assert choose_tier(0, H, 1000, {"raw": 10, "1m": None}, chain) == TierChoice("raw", 3_600_000_000)
    assert choose_tier(0, H, 1000, {}, chain) is None


def test_choose_tier_before_the_data_ignores_bucket_alignment() -> None:
    """A range starting before the first reading (a new sensor, "the last minute" two seconds after start):
    the 1 m rollup's first row is stamped at the minute, before the first 1 s bucket, but holds the same
    readings - a 1 s period query still reads the 1 s tier (it read the minutes once one had closed, and gave
    one row where the test asked for three: CI, 2026-12-05)."""
    chain = ("1s", "1m", "1h")
    minute = 1_796_493_960 * NS_PER_S
    oldest = {"1s": minute + 58 * NS_PER_S, "1m": minute, "1h": minute - 6 * 60 * NS_PER_S}
    start = minute - 60 * NS_PER_S
    assert choose_tier(start, minute + H, 1, oldest, chain, target_ns=NS_PER_S) == TierChoice("1s", NS_PER_S)
    assert choose_tier(start, minute + H, 100, oldest, chain) == TierChoice("1s", (H + 60 * NS_PER_S) // 100)
    assert choose_tier(start, minute + DAY, 100, oldest, chain) == TierChoice(
        "1m", (DAY + 60 * NS_PER_S) // 100
    )


@given(
    first=st.integers(0, 400 * DAY),
    before=st.integers(1, 400 * DAY),
    kept=st.sets(st.sampled_from(TIERS), min_size=1),
    target=st.integers(1, 2 * DAY),
)
def test_choose_tier_before_the_data_as_from_its_start(
    first: int, before: int, kept: set[str], target: int
) -> None:
    """Nothing pruned (each tier's oldest row is the start of the period holding the first reading): a query
    starting before the data chooses as one starting at the first reading."""
    oldest: dict[str, int | None] = {
        t: first - first % TIER_PERIOD_NS[t] if TIER_PERIOD_NS[t] else first for t in kept
    }
    chain = tuple(t for t in TIERS if t in kept)
    end = first + DAY
    early = choose_tier(first - before, end, 1, oldest, chain, target_ns=target)
    assert early == choose_tier(first, end, 1, oldest, chain, target_ns=target)


@given(
    span=st.integers(1, 400 * DAY),
    points=st.integers(1, 100_000),
    oldest=st.dictionaries(st.sampled_from(PRUNE_ORDER), st.one_of(st.none(), st.integers(-DAY, DAY))),
)
def test_choose_tier_properties(span: int, points: int, oldest: dict[str, int | None]) -> None:
    """The choice is a stored tier, its bucket is never finer than the tier, and a covering tier that is fine
    enough gives at least ``points`` buckets."""
    choice = choose_tier(0, span, points, oldest, TIERS)
    stored = [t for t in TIERS if oldest.get(t) is not None]
    if not stored:
        assert choice is None
        return
    assert choice is not None
    assert choice.tier in stored
    assert choice.bucket_ns >= TIER_PERIOD_NS[choice.tier]
    target = -(-span // points)
    covering_fine = [t for t in stored if (oldest[t] or 0) <= 0 and TIER_PERIOD_NS[t] <= target]
    if covering_fine:
        # The coarsest fine-enough tier reaching back to the start, or a coarser fine-enough one reaching back
        # to the data's first readings when those are after the start.
        assert TIERS.index(choice.tier) >= TIERS.index(covering_fine[-1])
        assert TIER_PERIOD_NS[choice.tier] <= target
        assert -(-span // choice.bucket_ns) <= points


def test_age_cutoffs_in_prune_order() -> None:
    """Each tier holding rows older than its retention gets a cutoff at now - retention, raw first."""
    now = 4000 * DAY
    spans = {"1h": TierSpan(0, now), "raw": TierSpan(now - 20 * DAY, now), "1m": TierSpan(now - DAY, now)}
    assert age_cutoffs(spans, now, DEFAULT_RETENTION_S) == [
        ("raw", now - 14 * DAY),
        ("1h", now - 3650 * DAY),
    ]


def test_size_cutoff_order_and_step() -> None:
    """Over the cap the oldest tenth of raw goes first, then the next tiers, the hourly rollup last."""
    spans = {"1h": TierSpan(0, 100), "raw": TierSpan(50, 150), "1s": TierSpan(0, 5)}
    assert size_cutoff(spans, 10, 10) is None
    assert size_cutoff(spans, 11, 10) == ("raw", 60)
    assert size_cutoff({"1s": TierSpan(0, 5), "1h": TierSpan(0, 100)}, 11, 10) == ("1s", 1)
    assert size_cutoff({"1h": TierSpan(7, 7)}, 11, 10) == ("1h", 8)
    assert size_cutoff({}, 11, 10) is None


@given(
    st.dictionaries(st.sampled_from(PRUNE_ORDER), st.tuples(st.integers(0, 10**18), st.integers(0, 10**18)))
)
def test_size_cutoff_always_removes_the_first_tier_oldest(raw: dict[str, tuple[int, int]]) -> None:
    """The size step picks the first non-empty tier in PRUNE_ORDER and a cutoff past its oldest row."""
    spans = {t: TierSpan(min(a, b), max(a, b)) for t, (a, b) in raw.items()}
    step = size_cutoff(spans, 2, 1)
    if not spans:
        assert step is None
        return
    first = next(t for t in PRUNE_ORDER if t in spans)
    assert step is not None and step[0] == first
    assert spans[first].oldest_ns < step[1] <= max(spans[first].newest_ns, spans[first].oldest_ns + 1)


def test_events_follow_the_minute_rollups_retention_and_go_before_the_hourly_ones() -> None:
    """Rule events older than the 1 m retention are cut at now - that retention; under the size cap they go
    after the 1 m rollups and before the 1 h ones."""
    now = 4000 * DAY
    spans = {EVENT_TIER: TierSpan(now - 500 * DAY, now), "1h": TierSpan(now - DAY, now)}
    assert age_cutoffs(spans, now, DEFAULT_RETENTION_S) == [(EVENT_TIER, now - 400 * DAY)]
    assert size_cutoff({**spans, "1m": TierSpan(now - DAY, now)}, 11, 10) == ("1m", now - DAY + DAY // 10)
    assert size_cutoff(spans, 11, 10) == (EVENT_TIER, now - 500 * DAY + 50 * DAY)
