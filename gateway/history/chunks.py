"""The ``chunks`` table's upkeep: merging commit chunks into compacted ones, size and age pruning.

Runs in the history writer thread, inside or as the store's transactions (:mod:`gateway.history.store`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence

from gateway.history.codec import concat_chunks, decode_chunk, encode_columns
from gateway.history.policy import TierSpan, age_cutoffs, size_cutoff
from gateway.metrics import Metrics

log = logging.getLogger(
    "gateway.history.store"
)  # the name the log lines had before this module was split off

CHUNK_MAX_ROWS = 100_000
"""Rows per compacted chunk: bounds the memory a query or a compaction needs for one chunk (a few MiB)."""


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes in use (pages not on the free list), what the size cap compares."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def tier_spans(conn: sqlite3.Connection) -> dict[str, TierSpan]:
    """Oldest and newest chunk start per tier, over every sensor."""
    rows = conn.execute("SELECT tier, min(t0_ns), max(t0_ns) FROM chunks GROUP BY tier").fetchall()
    return {tier: TierSpan(lo, hi) for tier, lo, hi in rows}


def merge_chunks(conn: sqlite3.Connection, groups: Mapping[tuple[str, str], Sequence[bytes]]) -> int:
    """Insert each group's commit chunks (in commit order) as compacted chunks, in time order, at most
    ``CHUNK_MAX_ROWS`` rows each (inside the caller's transaction); returns rows merged."""
    merged = 0
    for (sensor, tier), blobs in groups.items():
        ts, cols = concat_chunks([decode_chunk(b) for b in blobs])
        order = sorted(range(len(ts)), key=ts.__getitem__)
        if order != list(range(len(ts))):  # the clock stepped back: keep chunks in time order
            ts = [ts[i] for i in order]
            cols = {k: [c[i] for i in order] for k, c in cols.items()}
        for i in range(0, len(ts), CHUNK_MAX_ROWS):
            part_ts = ts[i : i + CHUNK_MAX_ROWS]
            part = {k: c[i : i + CHUNK_MAX_ROWS] for k, c in cols.items()}
            conn.execute(
                "INSERT INTO chunks (sensor, tier, t0_ns, t1_ns, n, blob) VALUES (?, ?, ?, ?, ?, ?)",
                (sensor, tier, part_ts[0], part_ts[-1], len(part_ts), encode_columns(part_ts, part)),
            )
        merged += len(ts)
    return merged


def prune_chunks(
    conn: sqlite3.Connection,
    now_ns: int,
    retention_s: Mapping[str, float],
    max_bytes: int,
    metrics: Metrics,
) -> dict[str, int]:
    """Delete chunks past their tier's age, then the oldest ones until under ``max_bytes`` (raw first).

    Returns chunks deleted per tier; counts them in ``sensorcast_history_pruned_chunks_total`` and logs one line
    when anything was deleted.
    """
    deleted: dict[str, int] = {}
    reasons: set[str] = set()

    def delete(tier: str, cutoff: int, reason: str) -> int:
        cur = conn.execute("DELETE FROM chunks WHERE tier = ? AND t0_ns < ?", (tier, cutoff))
        if cur.rowcount:
            deleted[tier] = deleted.get(tier, 0) + cur.rowcount
            reasons.add(reason)
            metrics.inc("sensorcast_history_pruned_chunks_total", cur.rowcount, tier=tier, reason=reason)
        return cur.rowcount

    for tier, cutoff in age_cutoffs(tier_spans(conn), now_ns, retention_s):
        delete(tier, cutoff, "age")
    while True:
        step = size_cutoff(tier_spans(conn), used_bytes(conn), max_bytes)
        if step is None or not delete(*step, "size"):
            break
    if deleted:
        log.info(
            "history: pruned %s (%s); %.1f MiB in use of %.0f MiB",
            ", ".join(f"{n} {t} chunks" for t, n in deleted.items()),
            " and ".join(sorted(reasons)),
            used_bytes(conn) / 2**20,
            max_bytes / 2**20,
        )
    return deleted
