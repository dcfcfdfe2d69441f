"""The replay reads its capture as a stream (gateway/capture/feed.py): every stream whole and in order, one
pass shared by the threads, and never more decoded ahead than the window, whatever the capture's length."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gateway.capture.codec import Call, CaptureEncoder, Stream
from gateway.capture.feed import LATER, SharedFeed
from gateway.capture.replayer import Capture, ReplayEnd, ReplayTap

KEYS = ("fast", "slow", "idle")
PER_STREAM = 4000
WINDOW = 32


def write_capture(path: Path, compress: bool, per_stream: int = PER_STREAM) -> None:
    """Three streams, interleaved one by one, each transaction ``read(n)`` answered ``n`` (t_ns = its place)."""
    enc = CaptureEncoder(compress=compress)
    data = [enc.start({"sensorcast": "test", "board": "", "config": {}})]
    for sid, key in enumerate(KEYS):
        enc.record(Stream(sid, key))
    for n in range(per_stream):
        for sid in range(len(KEYS)):
            enc.call(sid, n * len(KEYS) + sid, "read", [n], n, None)
        if n % 100 == 99:
            data.append(enc.flush())
    data.append(enc.end(per_stream * len(KEYS)))
    path.write_bytes(b"".join(data))


def drain(tap: ReplayTap, key: str, out: dict[str, list[int]], pause_every: int = 0) -> None:
    got = out.setdefault(key, [])
    stream = tap.stream(key)
    try:
        while True:
            got.append(stream.take("read", [len(got)]))
            if pause_every and len(got) % pause_every == 0:
                time.sleep(0.001)
    except ReplayEnd:
        pass


@pytest.mark.parametrize("compress", [False, True])
def test_a_capture_much_larger_than_the_window_replays_whole_with_the_window_never_exceeded(
    tmp_path: Path, compress: bool
) -> None:
    """Three threads at different paces get their whole streams in order from one pass over a capture of
    375x the window, while at most WINDOW transactions are ever decoded ahead, and nothing is evicted."""
    path = tmp_path / "big.scap"
    write_capture(path, compress)
    capture = Capture.load(str(path))
    assert capture.counts == {k: PER_STREAM for k in KEYS} and capture.ending == "complete"
    tap = ReplayTap(capture, None, max_ahead_calls=WINDOW)
    for key in KEYS:  # claimed before the first thread fills the window (else it would be evicted at once)
        tap.stream(key)
    out: dict[str, list[int]] = {}
    threads = [
        threading.Thread(target=drain, args=(tap, key, out, pause))
        for key, pause in zip(KEYS, (0, 50, 500), strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    tap.close()
    assert out == {k: list(range(PER_STREAM)) for k in KEYS}
    demux = tap.feed.demux
    assert demux.peak_calls == WINDOW  # the window filled (the threads ran apart) and held
    assert (demux.buffered_calls, demux.taken_total, tap.feed.evictions) == (0, 3 * PER_STREAM, 0)


def test_a_stream_no_thread_claimed_is_evicted_at_once_and_read_on_its_own_later(tmp_path: Path) -> None:
    """With one stream nobody reads, the others do not wait on it: it is evicted as soon as the window
    fills, and a thread that asks for it afterwards gets it whole from its own pass over the file."""
    path = tmp_path / "idle.scap"
    write_capture(path, compress=True)
    tap = ReplayTap(Capture.load(str(path)), None, max_ahead_calls=WINDOW)
    tap.stream("fast"), tap.stream("slow")  # claimed before either thread fills the window
    out: dict[str, list[int]] = {}
    started = time.monotonic()
    threads = [threading.Thread(target=drain, args=(tap, key, out)) for key in ("fast", "slow")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert time.monotonic() - started < 30  # no stall timeout per window
    assert tap.feed.evictions == 1 and tap.feed.demux.evicted("idle") == 0
    drain(tap, "idle", out)
    tap.close()
    assert out == {k: list(range(PER_STREAM)) for k in ("fast", "slow", "idle")}
    assert tap.feed.demux.peak_calls <= WINDOW


def test_a_claimed_stream_that_stops_draining_is_evicted_after_the_stall_and_resumes_where_it_stood(
    tmp_path: Path,
) -> None:
    """A thread that took part of its stream and then paused holds the window only until STALL_S passes with
    no take; then its queue is dropped, and it resumes from its own pass at the very next transaction."""
    path = tmp_path / "stall.scap"
    write_capture(path, compress=False, per_stream=200)
    ticks = iter(range(10**6))
    feed = SharedFeed(str(path), max_calls=8, clock=lambda: next(ticks) * 0.25)
    for key in ("fast", "slow"):
        feed.claim(key)
    slow = [feed.pop("slow") for _ in range(3) if feed.peek("slow") is not None]
    fast: list[Call | None] = []
    while (head := feed.peek("fast")) is not None:
        fast.append(feed.pop("fast"))
    assert feed.demux.evicted("slow") == 3 and feed.demux.evicted("idle") == 0 and feed.evictions == 2
    while (head := feed.peek("slow")) is not None:
        assert feed.pop("slow") == head
        slow.append(head)
    feed.close()
    assert [c.result for c in slow if c is not None] == list(range(200))
    assert [c.result for c in fast if c is not None] == list(range(200))
    assert feed.demux.peak_calls <= 8


def test_until_a_time_the_feed_says_later_instead_of_reading_ahead(tmp_path: Path) -> None:
    """A peek bounded by until_ns (the GPIO edge thread's) gives LATER rather than decode past that time."""
    path = tmp_path / "later.scap"
    write_capture(path, compress=False, per_stream=50)
    feed = SharedFeed(str(path))
    feed.claim("slow")
    head = feed.peek("slow", until_ns=1)
    assert isinstance(head, Call) and head.result == 0
    assert feed.pop("slow") == head
    assert feed.peek("slow", until_ns=3) == LATER  # slow's next is at t=4
    assert feed.demux.buffered_calls == 3  # fast t=0, idle t=2, fast t=3: nothing after t=3
    assert feed.peek("slow", wait=False) is None
    feed.close()
