"""Storage tiers, per-sensor policy defaults, tier choice for a query, and the pruning order. Pure.

A sensor's *policy* names the finest tier it is stored in: ``raw`` (every reading), ``1s``/``10s``/``1m``
(one min/max/mean/last/count row per period), or ``off``. Every stored sensor also gets the ``1m`` and ``1h``
rollups, which are kept much longer than the fine tiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

NS_PER_S = 1_000_000_000
TIER_PERIOD_NS: dict[str, int] = {
    "raw": 0,
    "1s": NS_PER_S,
    "10s": 10 * NS_PER_S,
    "1m": 60 * NS_PER_S,
    "1h": 3600 * NS_PER_S,
}
"""Every tier, finest first, with its bucket length (0: one row per reading)."""
TIERS: tuple[str, ...] = tuple(TIER_PERIOD_NS)
POLICIES: tuple[str, ...] = ("raw", "1s", "10s", "1m", "off")
"""What ``history = ...`` accepts in a ``[[sensors]]`` table."""
ROLLUP_TIERS: tuple[str, ...] = ("1m", "1h")
"""Rollups every stored sensor gets, on top of its policy's tier."""
EVENT_TIER = "event"
"""Where rule events (fired, cleared, acknowledged) are kept: chunks of one sensor's events, beside its tiers."""
RETENTION_OF: dict[str, str] = {EVENT_TIER: "1m"}
"""Stored kinds that follow another tier's age retention: events are kept as long as the minute rollups they
explain (``retention_days."1m"``)."""
PRUNE_ORDER: tuple[str, ...] = ("raw", "1s", "10s", "1m", EVENT_TIER, "1h")
"""Under the size cap the oldest data of the finest tier goes first, then the events, the hourly rollups last."""
PRUNE_FRACTION = 10
"""Under the size cap, one pruning step removes about 1/PRUNE_FRACTION of a tier's time span: coarse enough
that a large store gets under its cap in a few steps, fine enough not to throw away much more than needed."""
RAW_MAX_RATE_HZ = 1.0
"""Sensors polled at most this often are stored raw by default; faster ones (and push sources, whose rate is
unknown) as per-second rollups, so a 100 Hz IMU writes one row a second, not 100."""
DEFAULT_RETENTION_S: dict[str, float] = {
    "raw": 14 * 86400.0,
    "1s": 14 * 86400.0,
    "10s": 60 * 86400.0,
    "1m": 400 * 86400.0,
    "1h": 3650 * 86400.0,
}
"""Age retention per tier: fine tiers two weeks, minutes about a year, hours ten years (all are also bounded by
the size cap)."""


def default_policy(interval_s: float) -> str:
    """The policy of a sensor polled every ``interval_s`` seconds (0: a push source) when none is configured."""
    if interval_s > 0 and 1.0 / interval_s <= RAW_MAX_RATE_HZ:
        return "raw"
    return "1s"


def tier_chain(policy: str) -> tuple[str, ...]:
    """The tiers a sensor with ``policy`` is stored in, finest first (empty for ``off``)."""
    if policy == "off":
        return ()
    base = TIER_PERIOD_NS[policy]
    return (policy, *(t for t in ROLLUP_TIERS if TIER_PERIOD_NS[t] > base))


@dataclass(frozen=True, slots=True)
class TierChoice:
    """Where a query reads from: ``tier``, re-aggregated into buckets of ``bucket_ns`` (0: raw points)."""

    tier: str
    bucket_ns: int


def choose_tier(
    from_ns: int,
    to_ns: int,
    points: int,
    oldest: Mapping[str, int | None],
    chain: tuple[str, ...],
    target_ns: int | None = None,
) -> TierChoice | None:
    """Pick the tier answering "about ``points`` points between ``from_ns`` and ``to_ns``".

    The coarsest tier whose period still gives at least ``points`` buckets and whose data reaches back to
    ``from_ns`` wins; when no such tier covers the start (the fine tiers were pruned), the finest tier that
    does. A range starting before the data (a new sensor; "the last hour" of one stored for a minute) is
    covered by every tier that reaches back to the data's first readings - not only by the coarsest, whose
    first row is stamped with the start of its period. Returns None when the sensor has no data at all.

    Args:
        from_ns: start of the range (ns since the epoch).
        to_ns: end of the range, >= ``from_ns``.
        points: wanted number of points, >= 1.
        oldest: per tier, the timestamp of its oldest row (None or absent: empty).
        chain: the sensor's tiers, finest first.
        target_ns: the bucket length wanted (a ``period`` query); replaces the one ``points`` implies.
    """
    if target_ns is None:
        target_ns = max(1, -(-(to_ns - from_ns) // points))
    stored = [t for t in chain if oldest.get(t) is not None]
    if not stored:
        return None
    # A rollup's first row is stamped with the start of its period, so a coarse tier always looks older than a
    # fine one holding the same first readings. Those readings lie before the end of every kept tier's first
    # period: when the range starts before that, every tier whose oldest row is no later covers the start of
    # the data (a pruned fine tier does not).
    data_start = min((oldest[t] or 0) + max(1, TIER_PERIOD_NS[t]) for t in stored) - 1
    reach = max(from_ns, data_start)
    covering = [t for t in stored if (oldest[t] or 0) <= reach]
    fine_enough = [t for t in covering if TIER_PERIOD_NS[t] <= target_ns]
    tier = fine_enough[-1] if fine_enough else covering[0]
    return TierChoice(tier, max(TIER_PERIOD_NS[tier], target_ns))


@dataclass(frozen=True, slots=True)
class TierSpan:
    """What one tier holds: its oldest and newest row timestamps."""

    oldest_ns: int
    newest_ns: int


def age_cutoffs(
    spans: Mapping[str, TierSpan], now_ns: int, retention_s: Mapping[str, float]
) -> list[tuple[str, int]]:
    """Deletions for age retention: ``(tier, cutoff_ns)`` for each tier holding rows older than its retention
    (delete the rows starting before ``cutoff_ns``), in :data:`PRUNE_ORDER`."""
    out = []
    for tier in PRUNE_ORDER:
        span = spans.get(tier)
        if span is None:
            continue
        cutoff = now_ns - int(retention_s[RETENTION_OF.get(tier, tier)] * NS_PER_S)
        if span.oldest_ns < cutoff:
            out.append((tier, cutoff))
    return out


def size_cutoff(spans: Mapping[str, TierSpan], used_bytes: int, cap_bytes: int) -> tuple[str, int] | None:
    """The next deletion for the size cap: ``(tier, cutoff_ns)`` removing the oldest part of the first tier in
    :data:`PRUNE_ORDER` that holds anything, or None when under the cap (or nothing is left to remove).

    The cutoff always lies past the tier's oldest row, so every step removes something.
    """
    if used_bytes <= cap_bytes:
        return None
    for tier in PRUNE_ORDER:
        span = spans.get(tier)
        if span is None:
            continue
        step = max(1, (span.newest_ns - span.oldest_ns) // PRUNE_FRACTION)
        return tier, span.oldest_ns + step
    return None
