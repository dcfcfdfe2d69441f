"""gateway.pollgrid (pure): the shared poll grid and the bus watchdog's arithmetic; 100 % branch coverage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.pollgrid import NS_PER_S, Check, Waiter, check, first_due_ns, next_due_ns, to_ns

MS = 1_000_000
times_ns = st.integers(min_value=0, max_value=10**18)
intervals_ns = st.integers(min_value=1, max_value=3600 * NS_PER_S)
timeouts = st.floats(min_value=1e-3, max_value=1e4)
loop_times = st.floats(min_value=0.0, max_value=1e7)


_PROBE = """
import sys, time
def _no_clock(*args, **kwargs):
    raise AssertionError("gateway.pollgrid read the clock")
for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "sleep"):
    setattr(time, name, _no_clock)
from gateway.pollgrid import Waiter, check, first_due_ns, next_due_ns, to_ns
due = first_due_ns(to_ns(1000.003), to_ns(0.02))
assert next_due_ns(due, due, to_ns(0.02)) == 1_000_020_000_000
assert check(1.0, Waiter(0.0, None), [Waiter(0.5, 0.2)]).expired_waiters == (0,)
print(sorted(m for m in ("asyncio", "threading", "socket", "selectors", "concurrent") if m in sys.modules))
"""


def test_a_fresh_interpreter_runs_it_without_a_clock_thread_or_event_loop() -> None:
    """Imported and exercised in a fresh interpreter whose clock functions raise: no asyncio, threading, socket
    or selectors module gets loaded (it is held to 100 % branch coverage)."""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "[]"


def test_to_ns_rounds_seconds_to_integer_nanoseconds() -> None:
    """Loop times and intervals become exact integers: 0.02 s and 2 x 0.01 s are the same 20 000 000 ns."""
    assert [to_ns(0.02), to_ns(0.01) * 2, to_ns(1000.0), to_ns(0.1 + 0.2)] == [
        20 * MS,
        20 * MS,
        1000 * NS_PER_S,
        300 * MS,
    ]


def test_first_due_is_the_grid_point_at_or_before_the_start() -> None:
    """The first poll runs at once; its due time is the grid point at or before the start (none for streaming)."""
    assert [
        first_due_ns(1005 * MS, 20 * MS),
        first_due_ns(1000 * MS, 20 * MS),
        first_due_ns(1005 * MS, 0),
    ] == [
        1000 * MS,
        1000 * MS,
        1005 * MS,
    ]


def test_next_due_follows_the_grid_polls_at_once_when_late_then_rejoins() -> None:
    """On the grid: the next point. A read past the next point: now. After an off-grid poll: the next point."""
    iv = 1000 * MS
    assert [
        next_due_ns(0, 400 * MS, iv),  # healthy, read took 0.4 s
        next_due_ns(0, 2500 * MS, iv),  # read took 2.5 s: poll at once
        next_due_ns(2500 * MS, 2500 * MS, iv),  # after that late poll: back on the grid
        next_due_ns(7300 * MS, 7301 * MS, iv),  # first success after a backoff that ended off the grid
        next_due_ns(0, iv, iv),  # ended exactly on the next point
    ] == [iv, 2500 * MS, 3000 * MS, 8000 * MS, iv]


@given(times_ns, intervals_ns)
def test_first_due_is_a_grid_point_within_one_interval_before_the_start(start: int, iv: int) -> None:
    """first_due_ns: a multiple of the interval, at or before the start, less than one interval before it."""
    due = first_due_ns(start, iv)
    assert due % iv == 0 and start - iv < due <= start


@given(times_ns, st.integers(min_value=0, max_value=10**12), intervals_ns)
def test_next_due_is_never_in_the_past_and_never_skips_a_point_it_could_keep(
    due: int, cost: int, iv: int
) -> None:
    """The next due time is at or after now and after the last one; unless late it is the first grid point
    after the last due time (never a missed point polled twice, never a reachable point skipped)."""
    now = due + cost
    nxt = next_due_ns(due, now, iv)
    point = (due // iv + 1) * iv
    assert nxt >= now and nxt > due
    assert nxt == (point if point >= now else now)


@given(times_ns, times_ns, intervals_ns, st.integers(min_value=1, max_value=20), st.integers(1, 200))
def test_sensors_with_commensurate_intervals_share_their_ticks(
    start_a: int, start_b: int, iv: int, factor: int, polls: int
) -> None:
    """Two healthy sensors of one bus, every ``iv`` and every ``factor * iv``, started at any times: once both
    run, every due time of the slower is a due time of the faster (so their reads cross together)."""
    start_a, start_b = start_a % (10**15), start_b % (10**15)

    def dues(start: int, interval: int) -> list[int]:
        due = first_due_ns(start, interval)
        out = []
        for _ in range(polls):
            due = next_due_ns(due, due, interval)  # reads that cost nothing
            out.append(due)
        return out

    fast = set(dues(start_a, iv))
    slow = dues(start_b, factor * iv)
    shared = [d for d in slow if min(fast) <= d <= max(fast)]
    assert all(d in fast for d in shared)


def test_check_with_nothing_running_looks_again_after_the_shortest_waiter_timeout() -> None:
    """Nothing runs yet (or between two calls): nothing expires; look again after the shortest timeout."""
    assert [
        check(10.0, None, [Waiter(9.0, 2.0), Waiter(9.5, None), Waiter(9.9, 0.5)]),
        check(10.0, None, [Waiter(9.0, None)]),
        check(10.0, None, []),
    ] == [Check(False, (), 10.5), Check(False, (), None), Check(False, (), None)]


def test_check_a_running_call_with_a_timeout_expires_at_its_start_plus_timeout_whatever_waits() -> None:
    """A running call with a timeout is the only thing that can expire; waiters wait for it."""
    waiters = [Waiter(0.0, 0.01)]
    assert [
        check(10.4, Waiter(10.0, 0.5), waiters),
        check(10.5, Waiter(10.0, 0.5), waiters),
        check(99.0, Waiter(10.0, 0.5), []),
    ] == [Check(False, (), 10.5), Check(True, (), None), Check(True, (), None)]


def test_check_waiters_give_up_on_a_running_call_without_timeout() -> None:
    """Behind a call without a timeout, a waiter gives up ``timeout_s`` after it was queued, or after that call
    started if later; waiters without a timeout wait for ever."""
    running = Waiter(10.0, None)
    waiters = [Waiter(9.0, 0.5), Waiter(10.2, 0.5), Waiter(10.0, None)]
    assert [
        check(10.4, running, waiters),
        check(10.5, running, waiters),
        check(10.7, running, waiters),
        check(10.7, running, [Waiter(10.0, None)]),
        check(10.7, running, []),
    ] == [
        Check(False, (), 10.5),
        Check(False, (0,), None),
        Check(False, (0, 1), None),
        Check(False, (), None),
        Check(False, (), None),
    ]


@given(loop_times, st.one_of(st.none(), st.tuples(loop_times, st.one_of(st.none(), timeouts))),
       st.lists(st.tuples(loop_times, st.one_of(st.none(), timeouts)), max_size=6))  # fmt: skip
def test_check_never_expires_early_and_always_looks_again_while_something_can_expire(
    now: float, run: tuple[float, float | None] | None, waits: list[tuple[float, float | None]]
) -> None:
    """What expires is past its limit; what is not yet past it is looked at again no later than its limit."""
    running = None if run is None else Waiter(*run)
    waiters = [Waiter(*w) for w in waits]
    got = check(now, running, waiters)
    assert not (got.running_expired and got.expired_waiters)
    if got.next_check is not None:
        assert not got.running_expired and not got.expired_waiters
        assert got.next_check > now or (running is None and got.next_check >= now)
    if running is None:
        assert not got.running_expired and not got.expired_waiters
        return
    if running.timeout_s is not None:
        assert got.expired_waiters == ()
        assert got.running_expired == (now >= running.queued_at + running.timeout_s)
        assert got.running_expired or got.next_check == running.queued_at + running.timeout_s
        return
    assert not got.running_expired
    limits = {
        i: max(w.queued_at, running.queued_at) + w.timeout_s
        for i, w in enumerate(waiters)
        if w.timeout_s is not None
    }
    assert got.expired_waiters == tuple(i for i, lim in limits.items() if now >= lim)
    if not got.expired_waiters:
        assert got.next_check == (min(limits.values()) if limits else None)


@pytest.mark.parametrize("interval_s", [0.001, 0.01, 0.02, 0.1, 1.0, 60.0])
def test_a_fixed_grid_keeps_its_rate_without_drift(interval_s: float) -> None:
    """Healthy, reads costing a third of the interval: 10 000 polls end exactly 10 000 intervals after the first
    grid point (50 Hz is really 50 Hz: integer nanoseconds, no drift from summing floats)."""
    iv = to_ns(interval_s)
    start = to_ns(12345.678)
    due = first_due_ns(start, iv)
    gaps = set()
    for _ in range(10_000):
        nxt = next_due_ns(due, due + iv // 3, iv)
        gaps.add(nxt - due)
        due = nxt
    assert (due - first_due_ns(start, iv), gaps) == (10_000 * iv, {iv})
