"""The capture format: round trips (hypothesis), framing, truncation, and every way a file can be wrong."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.capture.codec import (
    FLUSH_AT_BYTES,
    MAGIC,
    MAX_FRAME_BYTES,
    Call,
    CaptureDecoder,
    CaptureEncoder,
    CaptureFormatError,
    End,
    Record,
    Stream,
    decode_record,
    encode_frame,
    encode_record,
    pack,
)

HEADER = {"sensorcast": "1.0", "board": "Raspberry Pi 4", "config": {"sensors": []}}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=40),
)
values = st.one_of(scalars, st.lists(scalars, max_size=5))
streams = st.builds(Stream, st.integers(0, 2**32), st.text(min_size=1, max_size=30))
calls = st.builds(
    Call,
    st.integers(0, 1000),
    st.integers(-(2**62), 2**62),
    st.text(max_size=20),
    st.lists(values, max_size=6).map(tuple),
    values,
    st.one_of(st.none(), st.integers(-1, 200)),
)
records = st.lists(st.one_of(streams, calls), max_size=30)


def encode_file(recs: list[Record], compress: bool, end: int | None = 5, flush_every: int = 3) -> bytes:
    enc = CaptureEncoder(compress)
    out = [enc.start(HEADER)]
    for i, r in enumerate(recs):
        if isinstance(r, Call):
            enc.call(r.sid, r.t_ns, r.op, list(r.args), r.result, r.errno)
        else:
            enc.record(r)
        if i % flush_every == 0:
            out.append(enc.flush())
    out.append(enc.flush() if end is None else enc.end(end))
    return b"".join(out)


def decode_all(data: bytes, piece: int = 0) -> tuple[CaptureDecoder, list[Record]]:
    dec = CaptureDecoder()
    got: list[Record] = []
    if piece:
        for i in range(0, len(data), piece):
            got += dec.feed(data[i : i + piece])
    else:
        got += dec.feed(data)
    return dec, got


@settings(max_examples=150, deadline=None)
@given(records, st.booleans(), st.integers(0, 17))
def test_records_round_trip_in_any_pieces(recs: list[Record], compress: bool, piece: int) -> None:
    """Whatever records go in come out, in order, however the bytes are cut into feeds."""
    dec, got = decode_all(encode_file(recs, compress), piece)
    assert got == [*recs, End(5)]
    assert dec.header == {"format": "sensorcast-capture", **HEADER}
    assert dec.compressed is compress
    assert dec.finish() == "complete"


@settings(max_examples=100, deadline=None)
@given(records, st.booleans(), st.data())
def test_a_cut_file_gives_a_prefix_and_says_truncated(recs: list[Record], compress: bool, data: Any) -> None:
    """A file cut anywhere after its header decodes to a prefix of its records and reports truncated."""
    full = encode_file(recs, compress, end=None, flush_every=1)
    header_len = len(encode_file([], compress, end=None))
    cut = data.draw(st.integers(header_len, len(full)))
    dec, got = decode_all(full[:cut])
    assert got == recs[: len(got)]
    assert dec.finish() == "truncated"


def test_a_file_with_its_end_record_is_complete_and_one_without_is_truncated() -> None:
    """The end record is what tells a clean stop from a power cut."""
    recs: list[Record] = [Stream(0, "i2c-1@0x76"), Call(0, 10, "read_byte_data", (0xD0,), 0x60)]
    dec, got = decode_all(encode_file(recs, False, end=None))
    assert (got, dec.finish()) == (recs, "truncated")
    dec, got = decode_all(encode_file(recs, False) + b"\x00\x00")
    assert (got, dec.finish()) == ([*recs, End(5)], "truncated")


def test_too_short_for_a_header_is_an_error_at_finish() -> None:
    """A file that ends inside its prefix or header is not a capture."""
    for data in (b"", MAGIC, encode_file([], False)[:12]):
        dec = CaptureDecoder()
        dec.feed(data)
        with pytest.raises(CaptureFormatError, match="too short"):
            dec.finish()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 zip file", "no SCAP magic"),
        (b"SC", None),  # a prefix of the magic: wait for more
        (b"SCAQ", "no SCAP magic"),
        (b"SCAP\x00\x02\x00", "format version 2"),
        (b"SCAP\x00\x01\x07", "unknown compression 7"),
        (MAGIC + b"\x01\x00" + struct.pack(">II", MAX_FRAME_BYTES + 1, 0), "exceeds"),
        (MAGIC + b"\x01\x00" + struct.pack(">II", 1, 0) + b"\x00", "checksum"),
        (MAGIC + b"\x01\x00" + encode_frame(pack([1, 2])), "not a capture header"),
        (MAGIC + b"\x01\x00" + encode_frame(pack({"format": "other"})), "not a capture header"),
        (
            MAGIC + b"\x01\x00" + encode_frame(pack({"format": "sensorcast-capture"}) * 2),
            "not a capture header",
        ),
        (MAGIC + b"\x01\x01" + b"not zlib at all", "corrupted compression"),
    ],
)
def test_foreign_and_corrupted_files_are_named_errors(data: bytes, message: str | None) -> None:
    """Each kind of wrong file raises CaptureFormatError saying what is wrong."""
    dec = CaptureDecoder()
    if message is None:
        assert dec.feed(data) == []
        return
    with pytest.raises(CaptureFormatError, match=message):
        dec.feed(data)


def test_an_undecodable_payload_with_a_right_crc_is_an_error() -> None:
    """A frame whose bytes are not msgpack objects, or end inside one, is reported with its offset."""
    bad = b"\xc1"  # never used in msgpack
    frame = struct.pack(">II", 1, zlib.crc32(bad)) + bad
    with pytest.raises(CaptureFormatError, match="byte 7: undecodable"):
        CaptureDecoder().feed(MAGIC + b"\x01\x00" + frame)
    header = encode_file([], False, end=None)
    cut_record = pack(encode_record(Stream(1, "i2c-1@0x76")))[:-2]
    with pytest.raises(CaptureFormatError, match="ends inside a record"):
        decode_all(header + encode_frame(cut_record))


def test_data_after_the_end_is_an_error() -> None:
    """Nothing may follow the end record, compressed or not, in its frame or in another."""
    plain = encode_file([], False) + encode_frame(pack(encode_record(End(9))))
    with pytest.raises(CaptureFormatError, match="after the end"):
        decode_all(plain)
    header = encode_file([], False, end=None)
    same_frame = header + encode_frame(pack(encode_record(End(9))) + pack(encode_record(End(10))))
    with pytest.raises(CaptureFormatError, match="after the end"):
        decode_all(same_frame)
    packed = encode_file([], True)
    with pytest.raises(CaptureFormatError, match="after the end"):
        decode_all(packed + b"junk")
    dec = CaptureDecoder()
    dec.feed(packed)
    with pytest.raises(CaptureFormatError, match="after the end"):
        dec.feed(b"more")


@pytest.mark.parametrize(
    "item",
    [
        {},
        [],
        ["x"],
        [True],
        [0, 1],
        [0, -1, "k"],
        [0, 1, ""],
        [0, 1, "k" * 257],
        [0, 1, 2],
        [1, 0, 0, "op", [], None],
        [1, -1, 0, "op", [], None, None],
        [1, 0, "t", "op", [], None, None],
        [1, 0, 0, 5, [], None, None],
        [1, 0, 0, "op", "args", None, None],
        [1, 0, 0, "op", [None] * 65, None, None],
        [1, 0, 0, "op", [{"a": 1}], None, None],
        [1, 0, 0, "op", [[[1]]], None, None],
        [1, 0, 0, "op", [], {"a": 1}, None],
        [1, 0, 0, "op", [], None, "EIO"],
        [1, 0, 0, "op", [], None, True],
        [2],
        [2, "t"],
        [3, 0],
    ],
)
def test_malformed_records_are_rejected(item: Any) -> None:
    """A frame that is valid msgpack but not a record of this format is an error, not a crash."""
    with pytest.raises(CaptureFormatError):
        decode_record(item, 42)


def test_frames_larger_than_the_limit_are_refused_when_written() -> None:
    """The writer cannot produce what the reader would refuse."""
    with pytest.raises(ValueError, match="exceeds"):
        encode_frame(b"\x00" * (MAX_FRAME_BYTES + 1))


def test_pending_records_are_counted_and_an_empty_flush_writes_nothing() -> None:
    """The writer sees how much is pending (to frame early) and an idle flush adds no bytes."""
    enc = CaptureEncoder()
    enc.start(HEADER)
    assert (enc.pending_bytes, enc.flush()) == (0, b"")
    enc.record(Stream(0, "clock:gps"))
    assert enc.pending_bytes == len(pack([0, 0, "clock:gps"]))
    assert enc.flush()[8:] == pack([0, 0, "clock:gps"]) and enc.pending_bytes == 0


def test_the_wire_layout_is_the_documented_one() -> None:
    """Prefix, then length/CRC/msgpack frames: the layout docs/record-replay.md describes."""
    data = encode_file([Stream(0, "clock:gps")], False, end=7)
    assert data[:7] == b"SCAP\x00\x01\x00"
    length, crc = struct.unpack_from(">II", data, 7)
    payload = data[15 : 15 + length]
    assert zlib.crc32(payload) == crc and msgpack.unpackb(payload)["format"] == "sensorcast-capture"
    rest = data[15 + length :]
    frames = []
    while rest:
        n, _ = struct.unpack_from(">II", rest)
        frames.append(list(msgpack.Unpacker(io.BytesIO(rest[8 : 8 + n]))))
        rest = rest[8 + n :]
    assert frames == [[[0, 0, "clock:gps"]], [[2, 7]]]


@settings(max_examples=50, deadline=None)
@given(calls)
def test_the_hot_path_packs_a_transaction_as_the_record_does(call: Call) -> None:
    """``call(...)`` (the recording's fast path) and ``record(Call(...))`` write the same bytes."""
    fast, slow = CaptureEncoder(), CaptureEncoder()
    fast.call(call.sid, call.t_ns, call.op, list(call.args), call.result, call.errno)
    slow.record(call)
    assert fast.flush() == slow.flush()


@pytest.mark.parametrize("compress", [False, True])
def test_records_pending_far_past_the_frame_limit_are_framed_as_they_come(compress: bool) -> None:
    """Drivers polled back to back can queue more than a frame may hold before the writer thread comes back
    (a 29 MB frame once killed it): the encoder frames every FLUSH_AT_BYTES, so one late flush writes several
    frames within the limit, and the reader gets every record back in order."""
    enc = CaptureEncoder(compress)
    out = [enc.start(HEADER)]
    enc.record(Stream(0, "i2c:1"))
    payload = b"\xa5" * 1000
    n = 3 * MAX_FRAME_BYTES // 1000
    for i in range(n):  # the hot path, then the record path
        if i >= n // 2:
            enc.record(Call(0, i, "read_i2c_block_data", (0x76, 0xF7, 8), payload, None))
        else:
            enc.call(0, i, "read_i2c_block_data", [0x76, 0xF7, 8], payload, None)
    assert enc.pending_bytes > 3 * MAX_FRAME_BYTES
    out.append(enc.end(n))
    data = b"".join(out)
    _, got = decode_all(data, piece=65536)
    assert got == [
        Stream(0, "i2c:1"),
        *(Call(0, i, "read_i2c_block_data", (0x76, 0xF7, 8), payload, None) for i in range(n)),
        End(n),
    ]
    if not compress:  # every frame of the body within the cut size plus one record
        body, sizes = data[7:], []
        while body:
            length, _ = struct.unpack_from(">II", body)
            sizes.append(length)
            body = body[8 + length :]
        assert len(sizes) >= 3 * MAX_FRAME_BYTES // FLUSH_AT_BYTES
        assert max(sizes) < FLUSH_AT_BYTES + 1100
