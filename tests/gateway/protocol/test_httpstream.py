"""Which requests the server streams itself, and HTTP/1.1 chunk framing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.httpstream import LAST_CHUNK, Sniff, encode_chunk, head_end, sniff


def test_export_requests_are_taken_over_on_the_shortest_deciding_prefix() -> None:
    """GET/HEAD of exactly /api/history or /api/events (then a space or '?') is taken over; anything else is
    handed to websockets as soon as its prefix rules an export out."""
    cases = [
        (b"", Sniff.MORE),
        (b"G", Sniff.MORE),
        (b"GET /api/e", Sniff.MORE),
        (b"GET /api/history", Sniff.MORE),
        (b"HEAD /api/events", Sniff.MORE),
        (b"GET /api/history ", Sniff.TAKE_OVER),
        (b"GET /api/history?sensor=env HTTP/1.1\r\n", Sniff.TAKE_OVER),
        (b"HEAD /api/events HTTP/1.1\r\n", Sniff.TAKE_OVER),
        (b"GET /api/events?x", Sniff.TAKE_OVER),
        (b"GET /api/history/", Sniff.HAND_OVER),
        (b"GET /api/historyx", Sniff.HAND_OVER),
        (b"GET / HTTP/1.1\r\n", Sniff.HAND_OVER),
        (b"GET /s", Sniff.HAND_OVER),
        (b"POST /api/history ", Sniff.HAND_OVER),
        (b"get /api/history ", Sniff.HAND_OVER),
        (b"\x16\x03\x01", Sniff.HAND_OVER),
    ]
    assert [(head, sniff(head)) for head, _ in cases] == cases


@given(st.binary(max_size=40))
def test_a_decided_prefix_stays_decided(data: bytes) -> None:
    """Once a prefix is decided, more bytes never change the decision (so deciding early is safe)."""
    for cut in range(len(data) + 1):
        first = sniff(data[:cut])
        if first is not Sniff.MORE:
            assert sniff(data) is first
            return


def test_head_end_finds_the_blank_line() -> None:
    """The head ends after the first CRLF CRLF; before it, the head is incomplete."""
    assert [
        head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"),
        head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"),
    ] == [
        None,
        27,
    ]


@given(st.binary(max_size=300))
def test_chunks_frame_their_data(data: bytes) -> None:
    """A chunk is the hex length, CRLF, the data, CRLF; empty data is no chunk (it would end the body)."""
    framed = encode_chunk(data)
    if not data:
        assert framed == b""
        return
    size, _, rest = framed.partition(b"\r\n")
    assert (int(size, 16), rest) == (len(data), data + b"\r\n")
    assert LAST_CHUNK == b"0\r\n\r\n"
