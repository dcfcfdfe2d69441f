"""The replay's read-ahead window (gateway/capture/window.py): per-stream order, the bound, eviction."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.capture import window
from gateway.capture.codec import Call, CaptureFormatError, End, Record, Stream
from gateway.capture.window import Admit, Demux


def call(sid: int, n: int, t_ns: int = 0) -> Call:
    return Call(sid, t_ns, "read", (n,), n)


def frame(*records: Record, size: int = 10) -> list[tuple[Record, int]]:
    return [(r, size) for r in records]


def test_the_module_imports_no_io_threading_or_clock() -> None:
    """window.py is pure: no asyncio, socket, threading, time or file module."""
    tree = ast.parse(Path(window.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names & {"asyncio", "socket", "threading", "time", "os", "io", "selectors"} == set()


def test_a_window_without_room_is_refused() -> None:
    """A window must hold at least one transaction (and one byte)."""
    with pytest.raises(ValueError, match="at least one"):
        Demux(0, 10)
    with pytest.raises(ValueError, match="at least one"):
        Demux(10, 0)


def test_records_go_to_their_streams_in_order_and_the_end_is_noted() -> None:
    """Declarations map sids to keys; transactions queue per key in file order; the end record sets ended."""
    d = Demux(10, 1000)
    assert d.needs_frame
    d.add_frame(frame(Stream(0, "a"), Stream(1, "b"), call(0, 1), call(1, 1), call(0, 2), End(5)))
    assert not d.needs_frame
    assert d.admit() is Admit.MORE and d.needs_frame and d.ended
    assert (d.buffered_calls, d.buffered_bytes) == (3, 30)
    assert d.head("a") == call(0, 1) and d.head("a") == call(0, 1)  # head leaves it in place
    assert [d.take("a"), d.take("a"), d.take("a")] == [call(0, 1), call(0, 2), None]
    assert [d.take("b"), d.take("b"), d.head("b"), d.head("zz")] == [call(1, 1), None, None, None]
    assert (d.buffered_calls, d.buffered_bytes, d.taken_total, d.taken("a"), d.taken("zz")) == (0, 0, 3, 2, 0)
    assert (d.peak_calls, d.peak_bytes) == (3, 30)


def test_a_transaction_on_an_undeclared_stream_is_a_format_error() -> None:
    """A transaction whose sid was never declared is refused."""
    d = Demux()
    d.add_frame(frame(call(7, 1)))
    with pytest.raises(CaptureFormatError, match="undeclared stream 7"):
        d.admit()


def test_admission_stops_at_the_window_in_transactions_and_in_bytes() -> None:
    """Past max_calls, or past max_bytes with something queued, admission waits; one large transaction
    still enters an empty window."""
    d = Demux(2, 1000)
    d.add_frame(frame(Stream(0, "a"), call(0, 1), call(0, 2), call(0, 3)))
    assert d.admit() is Admit.FULL and d.buffered_calls == 2
    assert d.take("a") == call(0, 1)
    assert d.admit() is Admit.MORE and d.buffered_calls == 2
    big = Demux(10, 100)
    big.add_frame([(Stream(0, "a"), 5), (call(0, 1), 500), (call(0, 2), 1)])
    assert big.admit() is Admit.FULL and (big.buffered_calls, big.buffered_bytes) == (1, 500)
    assert big.take("a") == call(0, 1)
    assert big.admit() is Admit.MORE and big.buffered_bytes == 1


def test_admission_until_a_time_stops_before_a_later_transaction() -> None:
    """With until_ns, a transaction recorded after it is not admitted (nor anything after it)."""
    d = Demux()
    d.add_frame(frame(Stream(0, "a"), call(0, 1, 5), call(0, 2, 9), call(0, 3, 6)))
    assert d.admit(until_ns=5) is Admit.LATER and d.buffered_calls == 1
    assert d.admit(until_ns=9) is Admit.MORE and d.buffered_calls == 3


def test_skipped_streams_are_never_queued() -> None:
    """Records of a skipped stream pass through without taking room, whatever their time."""
    d = Demux(1, 100, skip=["poll:x"])
    d.add_frame(frame(Stream(0, "poll:x"), call(0, 1, 99), call(0, 2, 99), Stream(1, "a"), call(1, 1)))
    assert d.admit(until_ns=0) is Admit.MORE
    assert (d.buffered_calls, d.head("poll:x"), d.head("a")) == (1, None, call(1, 1))


def test_the_victim_is_the_largest_unclaimed_queue_else_the_largest_other_one() -> None:
    """Unclaimed streams go first; the requester's own stream never; None when nothing else is queued."""
    d = Demux()
    d.add_frame(frame(Stream(0, "a"), Stream(1, "b"), Stream(2, "c")))
    d.add_frame(frame(call(0, 1), call(0, 2), call(0, 3), call(1, 1), call(1, 2), call(2, 1)))
    d.admit()
    d.claim("a")
    assert (d.claimed("a"), d.claimed("b")) == (True, False)
    assert d.victim("c") == "b"  # the largest unclaimed
    d.claim("b")
    d.claim("c")
    assert [d.victim("c"), d.victim("a")] == ["a", "b"]
    lone = Demux()
    lone.add_frame(frame(Stream(0, "a"), call(0, 1)))
    lone.admit()
    assert [lone.victim("a"), lone.victim("b")] == [None, "a"]


def test_an_evicted_stream_frees_its_room_says_where_it_stood_and_queues_no_more() -> None:
    """evict() drops the queue, returns the count taken, and later records of that stream are skipped."""
    d = Demux(3, 1000)
    d.add_frame(frame(Stream(0, "a"), Stream(1, "b"), call(0, 1), call(0, 2), call(0, 3), call(1, 1)))
    assert d.admit() is Admit.FULL
    assert d.take("a") == call(0, 1)
    assert (d.evicted("a"), d.evict("a"), d.evicted("a")) == (None, 1, 1)
    assert (d.buffered_calls, d.buffered_bytes, d.head("a")) == (0, 0, None)
    assert d.admit() is Admit.MORE and (d.buffered_calls, d.head("b")) == (1, call(1, 1))
    d.add_frame(frame(call(0, 4)))
    assert d.admit() is Admit.MORE and d.head("a") is None
    assert d.evict("never-seen") == 0


@st.composite
def captures(draw: st.DrawFn) -> tuple[list[list[Record]], int, list[int]]:
    """Frames of interleaved transactions on up to 4 streams, a window, and an order in which threads ask."""
    n_streams = draw(st.integers(1, 4))
    order = draw(st.lists(st.integers(0, n_streams - 1), min_size=1, max_size=120))
    counts = [0] * n_streams
    records: list[Record] = [Stream(s, f"s{s}") for s in range(n_streams)]
    for s in order:
        counts[s] += 1
        records.append(call(s, counts[s], len(records)))
    cuts = sorted(draw(st.lists(st.integers(0, len(records)), max_size=10)))
    frames = [records[a:b] for a, b in zip([0, *cuts], [*cuts, len(records)], strict=True)]
    asks = draw(st.lists(st.integers(0, n_streams - 1), min_size=1, max_size=300))
    return frames, draw(st.integers(1, 8)), asks


@settings(max_examples=300, deadline=None)
@given(captures())
def test_every_stream_is_served_whole_and_in_order_within_the_window(
    case: tuple[list[list[Record]], int, list[int]],
) -> None:
    """Whatever the interleaving, frames and asking order, what the shell's loop takes per stream (from the
    window, then from a private re-read after an eviction) is that stream's whole sequence in order, and the
    queued transactions never exceed the window."""
    frames, max_calls, asks = case
    expected: dict[str, list[Call]] = {}
    keys: dict[int, str] = {}
    for fr in frames:
        for r in fr:
            if isinstance(r, Stream):
                keys[r.sid] = r.key
                expected[r.key] = []
            elif isinstance(r, Call):
                expected[keys[r.sid]].append(r)
    d = Demux(max_calls, 1 << 20)
    pending = iter(frames)
    got: dict[str, list[Call]] = {k: [] for k in expected}
    for key in expected:
        d.claim(key)

    def next_of(key: str) -> Call | None:  # the shell's peek-and-pop, with no thread to wait for
        while True:
            if d.evicted(key) is not None:  # the private re-read, on from what this stream took
                rest = expected[key][len(got[key]) :]
                return rest[0] if rest else None
            head = d.take(key)
            if head is not None:
                return head
            state = d.admit()
            assert d.buffered_calls <= max_calls
            if d.head(key) is not None:
                continue
            if state is Admit.MORE:
                fr = next(pending, None)
                if fr is None:
                    return None
                d.add_frame((r, 1) for r in fr)
            elif state is Admit.FULL:
                victim = d.victim(key)
                assert victim is not None and victim != key
                assert d.evict(victim) == len(got[victim])  # where the re-read starts

    for i in [*asks, *range(len(expected))] * 2:
        key = f"s{i}"
        while (taken := next_of(key)) is not None:
            got[key].append(taken)
            if len(got[key]) % 3 == 0:
                break  # hand over to another thread now and then
    for key in expected:
        while (taken := next_of(key)) is not None:
            got[key].append(taken)
    assert got == expected
    assert d.peak_calls <= max_calls
