"""PMS5003/PMS7003 frames: layout, check code, and the resynchronising decoder."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.errors import ChecksumError
from sensors.serial.pms_codec import (
    PmsDecoder,
    PmsFrame,
    encode_pms_command,
    encode_pms_frame,
    parse_pms_frame,
)

FRAME = PmsFrame(5, 8, 9, 5, 8, 9, 1041, 297, 50, 4, 0, 0, 0x9700)
FRAME_HEX = "424d001c000500080009000500080009041101290032000400000000970001e3"  # check code summed by hand

_words = st.integers(min_value=0, max_value=0xFFFF)
frames = st.builds(PmsFrame, *[_words] * 13)
garbage = st.binary(max_size=40).filter(lambda b: b"\x42" not in b)


def test_frame_layout_matches_the_data_manual() -> None:
    """Start bytes, length 28, 13 big-endian words and the byte-sum check code, byte for byte."""
    assert encode_pms_frame(FRAME).hex() == FRAME_HEX
    assert parse_pms_frame(bytes.fromhex(FRAME_HEX)) == FRAME


def test_host_commands_match_the_data_manual() -> None:
    """'Change to active mode' and 'wake up' are 42 4D E1 00 01 01 71 and 42 4D E4 00 01 01 74."""
    assert encode_pms_command(0xE1, 1).hex() == "424de100010171"
    assert encode_pms_command(0xE4, 1).hex() == "424de400010174"


def test_bad_frames_raise_precise_errors() -> None:
    """Wrong size, start, length word and check code each raise; the check code as ChecksumError."""
    good = bytes.fromhex(FRAME_HEX)
    with pytest.raises(ValueError, match="expected 32 bytes"):
        parse_pms_frame(good[:31])
    with pytest.raises(ValueError, match="start"):
        parse_pms_frame(b"\x42\x4e" + good[2:])
    with pytest.raises(ValueError, match="length"):
        parse_pms_frame(good[:3] + b"\x1d" + good[4:])
    with pytest.raises(ChecksumError):
        parse_pms_frame(good[:10] + b"\xff" + good[11:])


@given(frames)
def test_encode_parse_round_trip(frame: PmsFrame) -> None:
    """Every frame survives encode -> parse unchanged."""
    assert parse_pms_frame(encode_pms_frame(frame)) == frame


@given(st.lists(st.tuples(garbage, frames), max_size=6), st.lists(st.integers(1, 40), min_size=1, max_size=8))
def test_decoder_finds_every_frame_between_garbage_in_any_chunking(
    items: list[tuple[bytes, PmsFrame]], cuts: list[int]
) -> None:
    """Garbage before frames is skipped and every frame is found, whatever the read boundaries."""
    stream = b"".join(g + encode_pms_frame(f) for g, f in items)
    d = PmsDecoder()
    out: list[PmsFrame] = []
    pos = i = 0
    while pos < len(stream):
        out += d.feed(stream[pos : pos + cuts[i % len(cuts)]])
        pos += cuts[i % len(cuts)]
        i += 1
    assert out == [f for _, f in items]
    assert d.skipped_bytes == sum(len(g) for g, _ in items)
    assert d.errors == 0


@given(frames, frames, st.integers(min_value=1, max_value=31))
def test_decoder_resyncs_after_a_truncated_frame(cut_frame: PmsFrame, good: PmsFrame, cut: int) -> None:
    """A frame cut short (USB replug, dropped bytes) is discarded and the following frame is decoded."""
    d = PmsDecoder()
    assert d.feed(encode_pms_frame(cut_frame)[:cut] + encode_pms_frame(good) + encode_pms_frame(good)) in (
        [good, good],
        [good],
    )
    # The second good frame is always recovered; the first only if the cut frame's remains did not overlap it.
    assert d.frames_total >= 1


@given(frames, frames, st.integers(min_value=4, max_value=29), st.integers(min_value=0, max_value=7))
def test_decoder_skips_a_corrupted_frame(bad: PmsFrame, good: PmsFrame, pos: int, bit: int) -> None:
    """A frame with one flipped bit after the length word is counted bad and the next frame still decodes."""
    raw = bytearray(encode_pms_frame(bad))
    raw[pos] ^= 1 << bit
    d = PmsDecoder()
    assert d.feed(bytes(raw) + encode_pms_frame(good)) == [good]
    assert d.bad_checksum >= 1


def test_fake_start_bytes_in_garbage_are_skipped() -> None:
    """'BM' inside noise with a nonsense length is rejected byte by byte until the real frame."""
    d = PmsDecoder()
    noise = b"BM\x12\x34BM\x00\x1c" + b"\x00" * 10
    assert d.feed(noise + encode_pms_frame(FRAME)) == [FRAME]
    assert d.bad_length == 1
    assert d.bad_checksum >= 1


def test_decoder_holds_at_most_one_frame_of_bytes() -> None:
    """A megabyte of noise does not grow the buffer; a trailing 0x42 is kept as a possible start."""
    d = PmsDecoder()
    assert d.feed(bytes(range(0x43, 0xFF)) * 4000 + b"\x42") == []
    assert len(d._buf) == 1
    assert d.feed(encode_pms_frame(FRAME)[1:]) == [FRAME]
