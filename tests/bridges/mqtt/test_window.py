"""bridges.mqtt.window: the QoS 1 in-flight window, its size and the live rows' share of it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridges.mqtt.window import CONTROL_RESERVE, InflightWindow, live_cap, window_size


def test_the_window_is_our_cap_within_the_brokers_receive_maximum() -> None:
    """min(max_inflight, receive_maximum - reserve), never below one."""
    assert [window_size(100, 65535), window_size(100, 50), window_size(100, CONTROL_RESERVE)] == [
        100,
        50 - CONTROL_RESERVE,
        1,
    ]


def test_live_rows_keep_a_quarter_while_backlog_is_left() -> None:
    """The live cap is the whole window, or a quarter of it (at least one) while backlog replays."""
    assert [live_cap(100, False), live_cap(100, True), live_cap(3, True)] == [100, 25, 1]


def test_sent_and_acked_rows_are_tracked_by_message_id() -> None:
    """A PUBACK returns the row its message carried; an unknown message id returns None and changes nothing."""
    w = InflightWindow()
    w.sent(1, 10, True)
    w.sent(2, 11, False)
    assert (len(w), w.rows, w.live) == (2, {10, 11}, 1)
    assert (w.has_room(3), w.has_room(2), w.has_live_room(3, 1), w.has_live_room(3, 2)) == (
        True,
        False,
        False,
        True,
    )
    assert [w.acked(99), w.acked(1), w.acked(1), w.acked(2)] == [None, 10, None, 11]
    assert (len(w), w.rows, w.live) == (0, set(), 0)
    w.sent(3, 12, True)
    w.clear()
    assert (len(w), w.rows, w.live, bool(w)) == (0, set(), 0, False)


@given(
    steps=st.lists(st.tuples(st.sampled_from(["live", "backlog", "ack"]), st.integers(0, 30)), max_size=200),
    window=st.integers(1, 20),
    backlog_left=st.booleans(),
)
def test_a_pump_never_overfills_the_window_or_the_live_share(
    steps: list[tuple[str, int]], window: int, backlog_left: bool
) -> None:
    """Sending only when there is room keeps in-flight <= window and live in-flight <= its cap, and the counts
    always match the messages actually outstanding."""
    w = InflightWindow()
    cap = live_cap(window, backlog_left)
    outstanding: dict[int, tuple[int, bool]] = {}
    mid = row = 0
    for action, pick in steps:
        if action == "ack":
            expected = outstanding.pop(pick, None)
            assert w.acked(pick) == (expected[0] if expected else None)
        else:
            live = action == "live"
            if w.has_live_room(window, cap) if live else w.has_room(window):
                mid, row = mid + 1, row + 1
                w.sent(mid, row, live)
                outstanding[mid] = (row, live)
        assert len(w) == len(outstanding) <= window
        assert w.live == sum(live for _, live in outstanding.values()) <= cap
        assert w.rows == {r for r, _ in outstanding.values()}
