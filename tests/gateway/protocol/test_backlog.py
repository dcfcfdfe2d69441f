"""gateway.protocol.backlog: a slow client's queue, its coalescing and its eviction verdict."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.backlog import Backlog, Pushed
from gateway.protocol.model import FLAG_COALESCED, ReadingTuple
from gateway.protocol.wire import encode_data, encode_pong, encode_status

T0 = 50.0


def reading(seq: int, sensor: str) -> ReadingTuple:
    return (seq, 0, seq * 1000, sensor, {"v": seq}, 0)


def data(*readings: ReadingTuple) -> tuple[bytes, tuple[ReadingTuple, ...]]:
    return encode_data(readings), readings


def test_first_push_starts_the_backlog_and_later_ones_do_not() -> None:
    """The first queued frame starts the backlog; the queue drains in order and settles when empty."""
    b = Backlog(10, 10_000, 5.0)
    f1, r1 = data(reading(1, "a"))
    f2, r2 = data(reading(2, "b"))
    assert b.push(f1, r1, T0) == Pushed(started=True, dropped=0, evict=False)
    assert b.push(f2, r2, T0 + 1) == Pushed(started=False, dropped=0, evict=False)
    assert (len(b), b.queued_bytes, b.since) == (2, len(f1) + len(f2), T0)
    assert b.settle() is False
    assert [b.pop(), b.pop()] == [f1, f2]
    assert (b.settle(), b.since, b.queued_bytes) == (True, None, 0)
    assert b.push(f1, r1, T0 + 2).started is True


def test_overflow_keeps_control_frames_and_the_latest_reading_per_sensor() -> None:
    """Past max_frames: control frames stay in order, then a drop notice, then the latest per sensor (coalesced
    ones flagged), oldest seq first."""
    b = Backlog(3, 1_000_000, 60.0)
    ctl = encode_pong(7, 1, None)
    b.push(*data(reading(1, "a"), reading(2, "b")), T0)
    b.push(ctl, None, T0)
    b.push(*data(reading(3, "a")), T0)
    pushed = b.push(*data(reading(4, "c")), T0)
    assert pushed == Pushed(started=False, dropped=1, evict=False)
    assert b.dropped_total == 1
    frames = [b.pop() for _ in range(len(b))]
    catchup = [reading(2, "b"), (3, 0, 3000, "a", {"v": 3}, FLAG_COALESCED), reading(4, "c")]
    assert frames == [
        ctl,
        encode_status(drop={"n": 1, "from": 1, "to": 4, "reason": "slow_client"}),
        encode_data(catchup),
    ]


def test_overflow_without_duplicates_drops_nothing_and_says_nothing() -> None:
    """Coalescing frames of distinct sensors drops no reading and sends no drop notice."""
    b = Backlog(1, 1_000_000, 60.0)
    b.push(*data(reading(1, "a")), T0)
    assert b.push(*data(reading(2, "b")), T0).dropped == 0
    assert [b.pop() for _ in range(len(b))] == [encode_data([reading(1, "a"), reading(2, "b")])]


def test_overflow_of_control_frames_alone_keeps_them_all() -> None:
    """Control frames are never dropped, even when they alone overflow the queue."""
    b = Backlog(1, 1_000_000, 60.0)
    frames = [encode_pong(i, 1, None) for i in range(3)]
    for f in frames:
        assert b.push(f, None, T0).dropped == 0
    assert [b.pop() for _ in range(len(b))] == frames


def test_eviction_past_the_byte_limit_or_the_stall_time() -> None:
    """evict once the queued bytes pass the hard limit, or the backlog is older than stall_s."""
    frame, _ = data(reading(1, "a"))
    b = Backlog(100, len(frame) * 2, 5.0)
    assert [b.push(frame, None, T0).evict for _ in range(3)] == [False, False, True]
    b = Backlog(100, 1_000_000, 5.0)
    assert [b.push(frame, None, T0 + dt).evict for dt in (0.0, 5.0, 5.5)] == [False, False, True]
    assert (b.stalled(T0 + 5.0), b.stalled(T0 + 5.1)) == (False, True)
    b.clear()
    assert (len(b), b.queued_bytes, b.stalled(T0 + 100)) == (0, 0, False)


def queued_readings(b: Backlog) -> list[ReadingTuple]:
    return [r for _, readings in b.frames if readings is not None for r in readings]


batches = st.lists(
    st.one_of(st.none(), st.lists(st.sampled_from("abcd"), min_size=1, max_size=4)), min_size=1, max_size=60
)


@given(batches=batches, max_frames=st.integers(1, 8))
def test_coalescing_loses_no_sensor_and_counts_every_dropped_reading(
    batches: list[list[str] | None], max_frames: int
) -> None:
    """Whatever arrives: bytes are accounted exactly, every reading is either queued or counted as dropped,
    each sensor's latest reading is still queued, and every control frame is still queued in order."""
    b = Backlog(max_frames, 1 << 30, 1e9)
    seq, pushed, latest, controls = 0, 0, {}, []
    for i, batch in enumerate(batches):
        if batch is None:
            frame = encode_pong(i, 1, None)
            controls.append(frame)
            b.push(frame, None, T0)
        else:
            readings = []
            for sensor in batch:
                seq += 1
                readings.append(reading(seq, sensor))
                latest[sensor] = seq
            pushed += len(readings)
            b.push(*data(*readings), T0)
        assert b.queued_bytes == sum(len(f) for f, _ in b.frames)
    queued = queued_readings(b)
    assert len(queued) + b.dropped_total == pushed
    assert {r[3]: r[0] for r in queued if r[0] == latest[r[3]]} == latest
    assert [f for f, readings in b.frames if readings is None and f in controls] == controls
