"""Recent-log frames: round trip, and a log ends at the first torn, damaged or out-of-sequence frame."""

from __future__ import annotations

import random
import struct
import zlib

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.history import frames
from gateway.history.frames import (
    BLOCK_BYTES,
    HEADER,
    MAGIC,
    FrameEncoder,
    Record,
    aligned,
    first_seq,
    parse_frames,
)

A: list[Record] = [("env", "raw", 1, 2, 2, b"\x00blob"), ("imu", "1s", 3, 3, 1, b"")]
B: list[Record] = [("env", "1m", 60, 60, 1, b"c")]


def laid(*frames: bytes) -> bytes:
    """Frames as the log lays them out: each from a block boundary (the gap filled with stale bytes)."""
    out = b""
    for f in frames:
        out += b"\xa5" * (aligned(len(out)) - len(out)) + f
    return out


def test_frames_round_trip_in_sequence() -> None:
    """Consecutive frames of one stream parse back to their records; the end offset is the bytes written."""
    enc = FrameEncoder()
    data = laid(enc.encode(7, A), enc.encode(8, B), enc.encode(9, []), enc.encode(10, A))
    assert parse_frames(data) == ([(7, A), (8, B), (9, []), (10, A)], 4 * BLOCK_BYTES)
    noise = random.Random(1).randbytes(6000)  # does not compress: the frame spans two blocks
    big = enc.encode(11, [("s", "raw", 0, 0, 1, noise)])
    assert len(big) > BLOCK_BYTES
    data = laid(data, big, enc.encode(12, B))
    assert [seq for seq, _ in parse_frames(data)[0]] == [7, 8, 9, 10, 11, 12]


def test_later_frames_compress_against_earlier_ones() -> None:
    """A frame repeating what the stream already holds is much smaller than the first one."""
    many: list[Record] = [(f"sensor{i}", "raw", i, i, 1, bytes(range(200))) for i in range(20)]
    enc = FrameEncoder()
    first, second = enc.encode(1, many), enc.encode(2, many)
    assert len(second) < len(first) // 4


def test_a_reset_starts_a_new_stream_that_parses_from_offset_0() -> None:
    """After reset (a fold) frames are written from offset 0 again: the new run parses, and the old stream's
    frames left beyond it end the run."""
    enc = FrameEncoder()
    old = laid(enc.encode(1, A), enc.encode(2, B), enc.encode(3, A))
    enc.reset()
    new = enc.encode(4, B)
    data = new + old[len(new) :]
    assert parse_frames(data) == ([(4, B)], BLOCK_BYTES)


def test_a_frame_out_of_sequence_ends_the_log() -> None:
    """A frame whose number does not follow its predecessor's ends the run."""
    enc = FrameEncoder()
    assert parse_frames(laid(enc.encode(11, B), enc.encode(3, A), enc.encode(12, A))) == (
        [(11, B)],
        BLOCK_BYTES,
    )


def test_a_frame_lost_from_the_stream_ends_the_log() -> None:
    """A frame encoded after one that never reached the file (snapshot not restored) does not decode; with
    the snapshot restored, the retry decodes."""
    enc = FrameEncoder()
    first = enc.encode(1, A)
    state = enc.snapshot()
    enc.encode(2, [("x" * 300, "raw", 0, 0, 1, b"y" * 300)])  # written nowhere
    orphan = enc.encode(2, B)
    assert parse_frames(laid(first, orphan)) == ([(1, A)], BLOCK_BYTES)
    enc.restore(state)
    retry = enc.encode(2, B)
    assert parse_frames(laid(first, retry)) == ([(1, A), (2, B)], 2 * BLOCK_BYTES)


def test_damaged_frames_end_the_log() -> None:
    """A flipped body bit, a flipped sequence bit, a wrong magic, a huge length or a cut end all stop the run
    before the damaged frame."""
    enc = FrameEncoder()
    good = enc.encode(1, A)
    frame = enc.encode(2, B)
    flipped_body = frame[:-1] + bytes([frame[-1] ^ 1])
    flipped_seq = frame[:6] + bytes([frame[6] ^ 4]) + frame[7:]
    bad_magic = b"XX" + frame[2:]
    huge = MAGIC + (2**31).to_bytes(4, "little") + frame[6:]
    for damaged in (flipped_body, flipped_seq, bad_magic, huge, frame[:-1], frame[: HEADER.size - 1]):
        assert parse_frames(laid(good, damaged)) == ([(1, A)], BLOCK_BYTES)


def test_a_whole_frame_with_a_wrong_body_ends_the_log() -> None:
    """Bodies with a good CRC but the wrong shape (not msgpack, not a list, a bad record) end the run."""
    bodies = [
        b"\xc1",
        msgpack.packb({"a": 1}),
        msgpack.packb([["env", "raw", 1, 2, 3]]),
        msgpack.packb([["env", "raw", 1, "2", 3, b""]]),
        msgpack.packb([1]),
        msgpack.packb([1]) + b"\x00",
    ]
    for body in bodies:
        enc = FrameEncoder()
        good = enc.encode(1, A)
        assert parse_frames(laid(good, enc.encode_packed(2, body))) == ([(1, A)], BLOCK_BYTES)


def test_a_body_that_is_not_deflate_or_inflates_too_far_ends_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CRC-correct body that is not a deflate stream, or inflates beyond MAX_BODY_BYTES, ends the run."""
    enc = FrameEncoder()
    good = enc.encode(1, A)
    body = b"\xff\xff\xff\xff"
    crc = zlib.crc32(body, zlib.crc32(struct.pack("<Q", 2)))
    assert parse_frames(laid(good, HEADER.pack(MAGIC, len(body), 2, crc) + body)) == ([(1, A)], BLOCK_BYTES)
    big = enc.encode(2, [("s", "raw", 0, 0, 1, bytes(5000))])
    monkeypatch.setattr(frames, "MAX_BODY_BYTES", 1000)
    assert parse_frames(laid(good, big)) == ([(1, A)], BLOCK_BYTES)


@given(st.integers(0, 5 * BLOCK_BYTES), st.integers(1, 5))
def test_any_cut_keeps_exactly_the_whole_frames(cut: int, n: int) -> None:
    """Cutting a log anywhere keeps the frames that end before the cut, and no other."""
    enc = FrameEncoder()
    written = [enc.encode(100 + i, A[: i % 3]) for i in range(n)]
    data = laid(*written)
    ends = [i * BLOCK_BYTES + len(f) for i, f in enumerate(written)]
    kept = [i for i in range(n) if ends[i] <= cut]
    expect_end = (kept[-1] + 1) * BLOCK_BYTES if kept else 0
    assert parse_frames(data[:cut]) == ([(100 + i, A[: i % 3]) for i in kept], expect_end)


def test_first_seq_reads_only_the_first_header() -> None:
    """The first frame's number from its header alone; None for a short or foreign start."""
    frame = FrameEncoder().encode(41, A)
    assert [
        first_seq(frame[: HEADER.size]),
        first_seq(frame[: HEADER.size - 1]),
        first_seq(b"XX" + frame[2:]),
    ] == [
        41,
        None,
        None,
    ]
