"""Line framing: splitting, partial lines across reads, and the memory bound."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.serial.framing import LineFramer


def test_lines_split_on_lf_and_crlf_across_chunks() -> None:
    """A line split over several reads comes out once, whole, without its terminator."""
    framer = LineFramer()
    assert framer.feed(b"$GPGGA,1") == []
    assert framer.feed(b"23\r\n$GPRMC\n\r\npartial") == [b"$GPGGA,123", b"$GPRMC"]
    assert framer.pending_bytes == len(b"partial")
    assert framer.feed(b"\n") == [b"partial"]


def test_overlong_line_is_dropped_up_to_next_newline_and_counted() -> None:
    """A line longer than the bound is discarded (even across chunks) and the next line is intact."""
    framer = LineFramer(max_line_bytes=8)
    assert framer.feed(b"0123456789abc") == []
    assert framer.pending_bytes == 0
    assert framer.feed(b"still the same long line") == []
    assert framer.feed(b"def\nok\n") == [b"ok"]
    assert framer.feed(b"123456789\nshort\r\n") == [b"short"]
    assert framer.overlong_total == 2


def test_reset_forgets_partial_line() -> None:
    """After reset (port re-opened) a half line received earlier is not glued to new data."""
    framer = LineFramer()
    framer.feed(b"$GPGGA,12")
    framer.reset()
    assert framer.feed(b"$GPRMC,1\n") == [b"$GPRMC,1"]


@given(
    st.lists(
        st.binary(min_size=0, max_size=20).filter(lambda b: b"\n" not in b and b"\r" not in b), max_size=20
    ),
    st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=10),
)
def test_any_chunking_yields_the_short_lines_and_respects_the_bound(
    lines: list[bytes], cuts: list[int]
) -> None:
    """Whatever the chunking, the framer returns exactly the non-empty lines within the bound, in order."""
    bound = 12
    stream = b"".join(line + b"\r\n" for line in lines)
    framer = LineFramer(max_line_bytes=bound)
    out: list[bytes] = []
    pos = 0
    i = 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        out += framer.feed(stream[pos : pos + step])
        assert framer.pending_bytes <= bound + 1
        pos += step
        i += 1
    assert out == [line for line in lines if 0 < len(line) <= bound]
    assert framer.overlong_total == sum(1 for line in lines if len(line) > bound)


def test_bound_must_be_positive() -> None:
    """A zero bound is a programming error."""
    with pytest.raises(ValueError, match="positive"):
        LineFramer(0)
