"""bridges.mqtt.spill: publish first, write late; a reading leaves memory unwritten only with its PUBACK."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bridges.mqtt.spill import AckOutcome, SpillLedger


def test_a_reading_acknowledged_within_the_window_is_never_written() -> None:
    """Acked in time: forgotten; the next take_due writes only what is older than the window."""
    led: SpillLedger[str] = SpillLedger(0.2)
    led.add(1, "a", 10.0)
    led.add(2, "b", 10.05)
    led.add(3, "c", 10.15)
    assert [led.acked(2), len(led), led.lowest_id()] == [AckOutcome.FORGOTTEN, 2, 1]
    assert led.take_due(10.25, 0) == [(1, "a")]
    assert (led.writing, len(led), led.lowest_id()) == (True, 2, 1)
    assert led.written() == []
    assert (led.writing, len(led), led.lowest_id()) == (False, 1, 3)
    assert [led.take_due(10.3, 0), led.written()] == [[], []]
    assert led.take_due(10.35, 0) == [(3, "c")]


def test_the_horizon_makes_younger_readings_due_at_once() -> None:
    """Every reading up to the horizon id is due whatever its age (the connection it went out on is gone)."""
    led: SpillLedger[str] = SpillLedger(60.0)
    for i in range(1, 5):
        led.add(i, str(i), 0.0)
    assert led.take_due(1.0, 2) == [(1, "1"), (2, "2")]
    assert led.written() == []
    assert led.take_due(1.0, 10) == [(3, "3"), (4, "4")]


def test_an_ack_during_the_write_deletes_the_row_after_it() -> None:
    """A PUBACK for a row being written is reported by written(); a PUBACK for a row not held means on disk."""
    led: SpillLedger[str] = SpillLedger(0.0)
    led.add(1, "a", 0.0)
    led.add(2, "b", 0.0)
    assert led.take_due(0.0, 0) == [(1, "a"), (2, "b")]
    assert [led.acked(2), led.acked(7)] == [AckOutcome.AFTER_WRITE, AckOutcome.ON_DISK]
    assert led.acked_writing == frozenset({2})
    assert led.written() == [2]
    assert (len(led), led.acked_writing, led.lowest_id()) == (0, frozenset(), None)


def test_a_failed_write_holds_its_readings_again_in_order() -> None:
    """write_failed: unacked rows are held again before younger ones; a row acked during the write is gone."""
    led: SpillLedger[str] = SpillLedger(1.0)
    for i in (1, 2, 3):
        led.add(i, str(i), 0.0)
    assert led.take_due(0.5, 2) == [(1, "1"), (2, "2")]
    led.add(4, "4", 1.0)
    assert led.acked(1) is AckOutcome.AFTER_WRITE
    led.write_failed()
    assert (len(led), led.writing, led.lowest_id()) == (3, False, 2)
    assert led.take_due(5.0, 0) == [(2, "2"), (3, "3"), (4, "4")]


def test_take_all_returns_held_and_writing_rows_and_empties_the_ledger() -> None:
    """The shutdown write gets everything in id order, a write in progress included."""
    led: SpillLedger[str] = SpillLedger(10.0)
    led.add(1, "a", 0.0)
    led.add(2, "b", 0.0)
    assert led.take_due(0.0, 1) == [(1, "a")]
    led.add(3, "c", 0.0)
    led.acked(1)
    assert led.take_all() == [(1, "a"), (2, "b"), (3, "c")]
    assert (len(led), led.writing, led.acked_writing, led.lowest_id()) == (0, False, frozenset(), None)


def test_misuse_is_refused() -> None:
    """A negative window, a non-increasing id, or a second take_due before the first was reported: errors."""
    with pytest.raises(ValueError, match="window_s"):
        SpillLedger(-1.0)
    led: SpillLedger[str] = SpillLedger(0.0)
    led.add(5, "a", 0.0)
    led.acked(5)
    with pytest.raises(ValueError, match="increase"):
        led.add(5, "b", 0.0)
    led.add(6, "b", 0.0)
    led.take_due(0.0, 0)
    with pytest.raises(RuntimeError):
        led.take_due(0.0, 0)


class LedgerMachine(RuleBasedStateMachine):
    """Random interleavings of arrivals, PUBACKs, writes and failures against a model of the disk."""

    def __init__(self) -> None:
        super().__init__()
        self.window_s = 0.5
        self.led: SpillLedger[int] = SpillLedger(self.window_s)
        self.now_s = 0.0
        self.next_id = 1
        self.arrived: dict[int, float] = {}
        self.acked: set[int] = set()
        self.disk: set[int] = set()
        self.deleted: set[int] = set()
        self.in_write: list[int] = []
        self.forgotten: set[int] = set()

    @rule(dt=st.floats(0, 1))
    def tick(self, dt: float) -> None:
        self.now_s += dt

    @rule(n=st.integers(1, 4))
    def arrive(self, n: int) -> None:
        for _ in range(n):
            self.led.add(self.next_id, self.next_id, self.now_s)
            self.arrived[self.next_id] = self.now_s
            self.next_id += 1

    @precondition(lambda self: self.next_id > 1)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        row_id = data.draw(st.integers(1, self.next_id - 1))
        if row_id in self.acked:
            return  # a broker acknowledges a message once per connection; a re-sent one is a new publish
        self.acked.add(row_id)
        outcome = self.led.acked(row_id)
        if outcome is AckOutcome.FORGOTTEN:
            assert row_id not in self.disk and row_id not in self.in_write
            self.forgotten.add(row_id)
        elif outcome is AckOutcome.AFTER_WRITE:
            assert row_id in self.in_write
        else:
            assert row_id in self.disk
            self.disk.discard(row_id)
            self.deleted.add(row_id)

    @precondition(lambda self: not self.in_write)
    @rule(horizon=st.integers(0, 50))
    def take(self, horizon: int) -> None:
        due = self.led.take_due(self.now_s, horizon)
        ids = [i for i, _ in due]
        assert ids == sorted(ids) and all(i == row for i, row in due)
        held = set(self.arrived) - self.acked - self.disk - self.deleted
        must = {i for i in held if i <= horizon or self.now_s - self.arrived[i] >= self.window_s}
        assert set(ids) == must
        self.in_write = ids

    @precondition(lambda self: bool(self.in_write))
    @rule(ok=st.booleans())
    def finish(self, ok: bool) -> None:
        if ok:
            late = self.led.written()
            assert late == sorted(set(self.in_write) & self.acked)
            self.disk |= set(self.in_write) - self.acked
            self.deleted |= set(late)
        else:
            self.led.write_failed()
            self.forgotten |= set(self.in_write) & self.acked
        self.in_write = []

    @invariant()
    def nothing_leaves_memory_unwritten_without_its_puback(self) -> None:
        held = set(self.arrived) - self.disk - self.deleted - self.forgotten
        assert len(self.led) == len(held)
        assert self.forgotten <= self.acked and self.deleted <= self.acked
        assert self.led.lowest_id() == (min(held) if held else None)


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
