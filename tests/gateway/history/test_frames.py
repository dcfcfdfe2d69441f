"""Recent-log frames: round trip, and a log ends at the first torn, damaged or out-of-sequence frame."""

from __future__ import annotations

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from gateway.history.frames import HEADER, MAGIC, Record, encode_frame, parse_frames

A: list[Record] = [("env", "raw", 1, 2, 2, b"\x00blob"), ("imu", "1s", 3, 3, 1, b"")]
B: list[Record] = [("env", "1m", 60, 60, 1, b"c")]


def test_frames_round_trip_in_sequence() -> None:
    """Consecutive frames parse back to their records, and the end offset is the bytes written."""
    data = encode_frame(7, A) + encode_frame(8, B) + encode_frame(9, [])
    assert parse_frames(data) == ([(7, A), (8, B), (9, [])], len(data))


def test_a_frame_out_of_sequence_ends_the_log() -> None:
    """A frame from before the last fold (a lower number) after a newer one ends the run."""
    first = encode_frame(11, B)
    assert parse_frames(first + encode_frame(3, A) + encode_frame(12, A)) == ([(11, B)], len(first))


def test_damaged_frames_end_the_log() -> None:
    """A flipped body bit, a flipped sequence bit, a wrong magic, a huge length or a cut end all stop the run
    before the damaged frame."""
    good = encode_frame(1, A)
    frame = encode_frame(2, B)
    flipped_body = frame[:-1] + bytes([frame[-1] ^ 1])
    flipped_seq = frame[:6] + bytes([frame[6] ^ 4]) + frame[7:]
    bad_magic = b"XX" + frame[2:]
    huge = MAGIC + (2**31).to_bytes(4, "little") + frame[6:]
    for damaged in (flipped_body, flipped_seq, bad_magic, huge, frame[:-1], frame[: HEADER.size - 1]):
        assert parse_frames(good + damaged) == ([(1, A)], len(good))


def _raw_frame(seq: int, body: bytes) -> bytes:
    import struct
    import zlib

    crc = zlib.crc32(body, zlib.crc32(struct.pack("<Q", seq)))
    return HEADER.pack(MAGIC, len(body), seq, crc) + body


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
        assert parse_frames(encode_frame(1, A) + _raw_frame(2, body)) == ([(1, A)], len(encode_frame(1, A)))


@given(st.integers(0, 400), st.integers(1, 5))
def test_any_cut_keeps_exactly_the_whole_frames(cut: int, n: int) -> None:
    """Cutting a log anywhere keeps the frames that end before the cut, and no other."""
    frames = [encode_frame(100 + i, A[: i % 3]) for i in range(n)]
    data = b"".join(frames)
    cut = min(cut, len(data))
    ends = [sum(len(f) for f in frames[: i + 1]) for i in range(n)]
    kept = [i for i in range(n) if ends[i] <= cut]
    assert parse_frames(data[:cut]) == ([(100 + i, A[: i % 3]) for i in kept], ends[kept[-1]] if kept else 0)
