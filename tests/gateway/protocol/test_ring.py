"""ReadingRing: bounded history of this boot and the resume plan (gaps first, then backfill)."""

from __future__ import annotations

import pytest

from gateway.protocol.model import SEQ, Reading
from gateway.protocol.ring import Gap, ReadingRing, ResumePlan
from gateway.protocol.wire import encode_data


def reading(seq: int) -> Reading:
    """A reading of sensor ``s`` with seq ``seq``."""
    return Reading(seq, seq - 1, 1_000 * seq, "s", {"v": seq})


def ring_of(capacity: int, last_seq: int) -> ReadingRing:
    """A ring of ``capacity`` fed with seqs 1..``last_seq``."""
    ring = ReadingRing(capacity)
    ring.extend(reading(s) for s in range(1, last_seq + 1))
    return ring


def seqs(readings: object) -> list[int]:
    """The seqs of a sequence of readings."""
    assert isinstance(readings, list | tuple)
    return [r[SEQ] for r in readings]


def test_capacity_must_be_positive() -> None:
    """A ring of capacity 0 is refused."""
    with pytest.raises(ValueError, match="ring capacity must be >= 1"):
        ReadingRing(0)


def test_empty_ring_holds_nothing() -> None:
    """An empty ring has length 0, no oldest seq and nothing after any seq."""
    ring = ReadingRing(4)
    assert (len(ring), ring.oldest_seq, ring.after(0, 10)) == (0, None, [])


def test_ring_keeps_the_last_capacity_readings() -> None:
    """Older readings fall out; the ring holds the newest `capacity` in order."""
    ring = ring_of(5, 8)
    assert (len(ring), ring.capacity, ring.oldest_seq) == (5, 5, 4)
    assert seqs(ring.after(0, 8)) == [4, 5, 6, 7, 8]


@pytest.mark.parametrize(
    ("seq", "upto", "expected"),
    [
        (5, 8, [6, 7, 8]),
        (0, 8, [4, 5, 6, 7, 8]),
        (5, 6, [6]),
        (8, 8, []),
        (2, 3, []),
        (3, 100, [4, 5, 6, 7, 8]),
        (9, 12, []),
        (7, 5, []),
    ],
)
def test_after_returns_seq_range_held(seq: int, upto: int, expected: list[int]) -> None:
    """after(seq, upto) returns held readings with seq < r.seq <= upto, in order."""
    assert seqs(ring_of(5, 8).after(seq, upto)) == expected


def test_resume_within_ring_backfills_without_gap() -> None:
    """Same boot, seq still in the ring: no gap, every later reading up to `upto`."""
    assert ring_of(5, 8).plan_resume("B", "B", 5, 8) == ResumePlan((), (reading(6), reading(7), reading(8)))
    assert ring_of(5, 8).plan_resume("B", "B", 3, 8) == ResumePlan((), tuple(map(reading, [4, 5, 6, 7, 8])))


def test_resume_older_than_ring_reports_exact_gap() -> None:
    """Same boot, seq older than the ring: a 'ring' gap from seq+1 to oldest-1, then the whole ring."""
    plan = ring_of(5, 8).plan_resume("B", "B", 1, 8)
    assert plan == ResumePlan((Gap("B", 2, 3, "ring"),), tuple(map(reading, [4, 5, 6, 7, 8])))
    assert ring_of(5, 8).plan_resume("B", "B", 0, 8).gaps == (Gap("B", 1, 3, "ring"),)


def test_resume_with_nothing_new_is_empty() -> None:
    """Same boot, the client has everything up to `upto` (or more): no gap, no readings."""
    assert ring_of(5, 8).plan_resume("B", "B", 8, 8) == ResumePlan((), ())
    assert ring_of(5, 8).plan_resume("B", "B", 9, 8) == ResumePlan((), ())
    assert ring_of(5, 8).plan_resume("B", "B", 2, 2) == ResumePlan((), ())


def test_resume_upto_limits_backfill_and_gap() -> None:
    """Readings after `upto` are left to live delivery; a gap never extends past `upto`."""
    assert ring_of(5, 8).plan_resume("B", "B", 5, 7) == ResumePlan((), (reading(6), reading(7)))
    assert ring_of(5, 8).plan_resume("B", "B", 1, 2) == ResumePlan((Gap("B", 2, 2, "ring"),), ())


def test_resume_from_another_boot_reports_boot_gap_then_backfills_this_boot() -> None:
    """Other boot: a 'boot' gap from seq+1 to the old boot's end (None), then this boot from its start."""
    assert ring_of(10, 8).plan_resume("NEW", "OLD", 42, 8) == ResumePlan(
        (Gap("OLD", 43, None, "boot"),), tuple(map(reading, range(1, 9)))
    )
    assert ring_of(5, 8).plan_resume("NEW", "OLD", 42, 8) == ResumePlan(
        (Gap("OLD", 43, None, "boot"), Gap("NEW", 1, 3, "ring")), tuple(map(reading, [4, 5, 6, 7, 8]))
    )
    assert ReadingRing(5).plan_resume("NEW", "OLD", 0, 0) == ResumePlan((Gap("OLD", 1, None, "boot"),), ())


def test_batches_are_trimmed_to_the_exact_capacity() -> None:
    """Whole batches go in; the oldest batch is dropped in part when only some of it is past capacity."""
    ring = ReadingRing(5)
    ring.extend([reading(s) for s in (1, 2, 3)])
    ring.extend([reading(s) for s in (4, 5, 6, 7)])
    assert (len(ring), ring.oldest_seq) == (5, 3)
    assert seqs(ring.after(0, 100)) == [3, 4, 5, 6, 7]
    assert seqs(ring.after(3, 100)) == [4, 5, 6, 7]
    ring.extend([reading(s) for s in (8, 9, 10, 11, 12, 13)])  # one batch larger than the ring
    assert (len(ring), ring.oldest_seq) == (5, 9)
    assert seqs(ring.after(0, 100)) == [9, 10, 11, 12, 13]
    assert seqs(ring.after(10, 12)) == [11, 12]


def test_after_skips_batches_wholly_before_seq_and_stops_after_upto() -> None:
    """after() only looks at the batches that overlap (seq, upto]."""
    ring = ReadingRing(100)
    for first in range(1, 31, 10):
        ring.extend([reading(s) for s in range(first, first + 10)])
    assert seqs(ring.after(10, 20)) == list(range(11, 21))
    assert seqs(ring.after(9, 11)) == [10, 11]
    assert seqs(ring.after(30, 40)) == []


def test_ring_takes_the_callers_encoding_and_any_iterable() -> None:
    """extend() keeps a pre-encoded batch as given, encodes one itself otherwise; empty batches are ignored."""
    batch = [reading(1), reading(2)]
    ring = ReadingRing(10)
    ring.extend(batch, encode_data(batch))
    ring.extend(reading(s) for s in (3, 4))
    ring.extend([])
    assert len(ring) == 4
    assert ring.after(0, 10) == [tuple(r) for r in (*batch, reading(3), reading(4))]


def test_ring_copes_with_holes_in_the_seqs() -> None:
    """A reading dropped before the ring (unencodable) leaves a hole; after() and oldest_seq still hold."""
    ring = ReadingRing(3)
    ring.extend([reading(1), reading(2), reading(4)])
    ring.extend([reading(5), reading(7)])
    assert (len(ring), ring.oldest_seq) == (3, 4)
    assert seqs(ring.after(2, 10)) == [4, 5, 7]
    assert seqs(ring.after(4, 6)) == [5]


def test_span_bytes_counts_the_frames_a_resume_reads() -> None:
    """span_bytes is the size of exactly the batch frames after() decodes for the same bounds, 0 for none."""
    ring = ReadingRing(6)
    batches = [[reading(s) for s in range(a, b)] for a, b in ((1, 4), (4, 6), (6, 9))]
    for b in batches:
        ring.extend(b)
    sizes = [len(encode_data(b)) for b in batches]
    assert ring.span_bytes(0, 8) == sum(sizes)
    assert ring.span_bytes(3, 8) == sizes[1] + sizes[2]
    assert ring.span_bytes(5, 8) == sizes[2]
    assert ring.span_bytes(0, 3) == sizes[0]
    assert ring.span_bytes(8, 8) == sizes[2]  # the last batch may hold newer readings: it is read, and costs
    assert ReadingRing(4).span_bytes(0, 10) == 0
