"""PURE: the capture file format (``.scap``): header, framing, records, validation.

No I/O, no clock reads: bytes in, records out, and the reverse. A file is::

    magic "SCAP\\x00"  version u8  compression u8      (7 bytes, never compressed)
    body: frames, through one zlib stream when compression is 1 (sync-flushed after every frame)
    frame: length u32 BE  crc32 u32 BE  payload

The first frame's payload is the header (one msgpack map: sensorcast version, config, board model). Every later
frame holds the records written since the previous one (one frame per writer flush, so the checksum and the
framing cost nothing per record), each a msgpack array whose first element is its kind: a stream declaration
(``[0, sid, key]``), a bus transaction (``[1, sid, t_ns, op, args, result, errno]``) or the clean end
(``[2, t_ns]``). A file cut anywhere (a power cut mid-write) decodes up to its last complete frame and is
reported as truncated; anything else that does not fit is a :class:`CaptureFormatError` naming the byte offset.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgpack

from sensors.errors import SensorcastError

MAGIC = b"SCAP\x00"
FORMAT_VERSION = 1
COMPRESSION_NONE = 0
COMPRESSION_ZLIB = 1
PREFIX_BYTES = len(MAGIC) + 2
HEADER_FORMAT = "sensorcast-capture"

MAX_FRAME_BYTES = 1 << 20
"""Largest payload of one frame, bytes: a header with a large config, or a flush of many 8 KiB I2C bursts;
a corrupted length field is caught before it makes the reader buffer gigabytes."""

FLUSH_AT_BYTES = 256 * 1024
"""Records pending past this size are framed at once (:attr:`CaptureEncoder.pending_bytes`), far below the
frame limit whatever one record adds."""

MAX_ARGS = 64
"""Most arguments (or result items) a transaction may carry: an i2c_rdwr of many messages fits."""

MAX_KEY_CHARS = 256
"""Longest stream key (``i2c-1``, ``serial:gps``, ``file:/sys/...``)."""

_FRAME = struct.Struct(">II")

KIND_STREAM = 0
KIND_CALL = 1
KIND_END = 2

Scalar = None | bool | int | float | str | bytes
"""What a transaction's arguments and result are made of (lists of these, one level deep, for i2c_rdwr)."""


class CaptureFormatError(SensorcastError, ValueError):
    """The bytes are not a capture this version can read (foreign file, corruption, unknown version).

    Attributes:
        offset: byte offset in the (uncompressed for the body) stream where the problem was found.
    """

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"byte {offset}: {message}")
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Stream:
    """Declares stream ``sid`` as the bus ``key`` (``i2c-1@0x76``, ``serial:gps``, ``clock:gps``...)."""

    sid: int
    key: str


@dataclass(frozen=True, slots=True)
class Call:
    """One transaction on stream ``sid`` at ``t_ns`` (monotonic, from the capture's start).

    ``op`` names the operation (``read_byte_data``, ``read``, ``read_text``...), ``args`` what the driver
    passed, ``result`` what came back, ``errno`` the error number raised instead (``result`` is then None).
    """

    sid: int
    t_ns: int
    op: str
    args: tuple[Any, ...]
    result: Any = None
    errno: int | None = None


@dataclass(frozen=True, slots=True)
class End:
    """The recording ended cleanly at ``t_ns``."""

    t_ns: int


Record = Stream | Call | End


def encode_record(record: Record) -> list[Any]:
    """The msgpack-ready array of ``record``."""
    if isinstance(record, Stream):
        return [KIND_STREAM, record.sid, record.key]
    if isinstance(record, Call):
        return [KIND_CALL, record.sid, record.t_ns, record.op, list(record.args), record.result, record.errno]
    return [KIND_END, record.t_ns]


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str | bytes)


def _is_value(value: Any) -> bool:
    """A scalar, or a list of at most :data:`MAX_ARGS` scalars (one level: what i2c_rdwr carries)."""
    if isinstance(value, list):
        return len(value) <= MAX_ARGS and all(_is_scalar(v) for v in value)
    return _is_scalar(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_record(item: Any, offset: int) -> Record:
    """The record of one decoded frame payload.

    Raises:
        CaptureFormatError: ``item`` is not a record of this format version.
    """
    if not isinstance(item, list) or not item or not _is_int(item[0]):
        raise CaptureFormatError(offset, "expected a record (an array starting with its kind)")
    kind = item[0]
    if kind == KIND_STREAM:
        key = item[2] if len(item) == 3 else None
        if _is_int(item[1]) and item[1] >= 0 and isinstance(key, str) and 0 < len(key) <= MAX_KEY_CHARS:
            return Stream(item[1], key)
        raise CaptureFormatError(offset, "malformed stream declaration")
    if kind == KIND_CALL:
        if (
            len(item) == 7
            and _is_int(item[1])
            and item[1] >= 0
            and _is_int(item[2])
            and isinstance(item[3], str)
            and isinstance(item[4], list)
            and len(item[4]) <= MAX_ARGS
            and all(_is_value(a) for a in item[4])
            and _is_value(item[5])
            and (item[6] is None or _is_int(item[6]))
        ):
            return Call(item[1], item[2], item[3], tuple(item[4]), item[5], item[6])
        raise CaptureFormatError(offset, "malformed transaction")
    if kind == KIND_END and len(item) == 2 and _is_int(item[1]):
        return End(item[1])
    raise CaptureFormatError(offset, f"unknown record kind {kind}" if kind != KIND_END else "malformed end")


def encode_frame(data: bytes) -> bytes:
    """One frame (length, CRC-32) carrying ``data``.

    Raises:
        ValueError: ``data`` is larger than :data:`MAX_FRAME_BYTES`.
    """
    if len(data) > MAX_FRAME_BYTES:
        raise ValueError(f"a capture frame of {len(data)} bytes exceeds {MAX_FRAME_BYTES}")
    return _FRAME.pack(len(data), zlib.crc32(data)) + data


def pack(value: Any) -> bytes:
    """``value`` as msgpack (bytes as bin, text as str)."""
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


class CaptureEncoder:
    """Turns a header and records into the bytes of a capture file, to be appended as they come.

    Records are packed as they come (:meth:`record`, :meth:`call`) and framed by :meth:`flush`; the bytes
    :meth:`flush` returns make everything given so far decodable. Not thread-safe: the writer serialises.

    Args:
        compress: run the body through zlib (stdlib).
    """

    def __init__(self, compress: bool = False) -> None:
        self.compress = compress
        self._z = zlib.compressobj(6) if compress else None
        self._pending = bytearray()
        self._framed: list[bytes] = []
        self._framed_bytes = 0
        self._packer = msgpack.Packer(use_bin_type=True)

    @property
    def pending_bytes(self) -> int:
        """Bytes of records packed and not written yet (the writer flushes at :data:`FLUSH_AT_BYTES`)."""
        return self._framed_bytes + len(self._pending)

    def start(self, header: dict[str, Any]) -> bytes:
        """The file's first bytes: the prefix and the header frame."""
        prefix = MAGIC + bytes([FORMAT_VERSION, COMPRESSION_ZLIB if self.compress else COMPRESSION_NONE])
        body = self._body(encode_frame(pack({"format": HEADER_FORMAT, **header})))
        return prefix + body + (self._z.flush(zlib.Z_SYNC_FLUSH) if self._z is not None else b"")

    def record(self, record: Record) -> None:
        """Pack ``record`` for the next frame."""
        self._pending += self._packer.pack(encode_record(record))
        if len(self._pending) >= FLUSH_AT_BYTES:
            self._cut()

    def call(self, sid: int, t_ns: int, op: str, args: Sequence[Any], result: Any, err: int | None) -> None:
        """Pack a transaction for the next frame (what :meth:`record` does for a :class:`Call`, without
        building one: this is the recording's hot path)."""
        self._pending += self._packer.pack([KIND_CALL, sid, t_ns, op, args, result, err])
        if len(self._pending) >= FLUSH_AT_BYTES:
            self._cut()

    def _cut(self) -> None:
        """Frame what is pending now, so no frame outgrows :data:`FLUSH_AT_BYTES` plus one record however long
        the writer takes to come back (drivers polled back to back once made a 29 MB frame the writer could
        not write)."""
        self._framed.append(encode_frame(bytes(self._pending)))
        self._framed_bytes += len(self._pending)
        self._pending.clear()

    def flush(self) -> bytes:
        """The bytes that append the pending records (in frames of at most about :data:`FLUSH_AT_BYTES`; none
        if nothing is pending)."""
        if self._pending:
            self._cut()
        if not self._framed:
            return b""
        frames, self._framed, self._framed_bytes = self._framed, [], 0
        if self._z is None:
            return b"".join(frames)
        return b"".join([*(self._z.compress(f) for f in frames), self._z.flush(zlib.Z_SYNC_FLUSH)])

    def end(self, t_ns: int) -> bytes:
        """The pending records, the clean end record and the end of the compressed stream."""
        self.record(End(t_ns))
        data = self.flush()
        return data + (self._z.flush(zlib.Z_FINISH) if self._z is not None else b"")

    def _body(self, frame: bytes) -> bytes:
        return self._z.compress(frame) if self._z is not None else frame


Ending = Literal["complete", "truncated"]


def _unpack_all(payload: bytes, offset: int) -> list[tuple[Any, int]]:
    """Every msgpack object of a frame's payload with its size in bytes; the payload must end exactly after
    the last one.

    Raises:
        CaptureFormatError: undecodable bytes, or a payload that ends inside an object.
    """
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=MAX_FRAME_BYTES)
    unpacker.feed(payload)
    items: list[tuple[Any, int]] = []
    start = 0
    try:
        for item in unpacker:
            end = unpacker.tell()
            items.append((item, end - start))
            start = end
    except (ValueError, msgpack.UnpackException) as exc:
        raise CaptureFormatError(offset, f"undecodable frame ({type(exc).__name__})") from None
    if start != len(payload):
        raise CaptureFormatError(offset, "undecodable frame (ends inside a record)")
    return items


class CaptureDecoder:
    """Turns the bytes of a capture file, fed in any pieces, into the header and records.

    After the last :meth:`feed`, :meth:`finish` says whether the file ended cleanly or was cut.

    Raises (from :meth:`feed`):
        CaptureFormatError: not a capture (magic), a newer version, a bad frame (length, CRC, msgpack), a
            record that does not fit the format, or data after the end record.
    """

    def __init__(self) -> None:
        self.header: dict[str, Any] | None = None
        self.compressed = False
        self._prefix = b""
        self._started = False
        self._z: Any = None
        self._buf = bytearray()
        self._offset = 0  # body offset of _buf[0]
        self._ended = False
        self._z_done = False

    def feed(self, data: bytes) -> list[Record]:
        """Decode ``data``; return the records completed by it."""
        self.push(data)
        records: list[Record] = []
        while (frame := self.next_frame()) is not None:
            records.extend(record for record, _ in frame)
        return records

    def push(self, data: bytes) -> None:
        """Take ``data`` (the file's next bytes) without decoding frames: :meth:`next_frame` does, one at a
        time, so a reader holds at most one frame's records (with the bytes of one push, decompressed)."""
        if not self._started:
            self._prefix += data
            if len(self._prefix) < PREFIX_BYTES:
                if not MAGIC.startswith(self._prefix[: len(MAGIC)]):
                    raise CaptureFormatError(0, "not a sensorcast capture (no SCAP magic)")
                return
            self._start_body(self._prefix[:PREFIX_BYTES])
            data, self._prefix = self._prefix[PREFIX_BYTES:], b""
        if self._z is not None:
            if self._z_done and data:
                raise CaptureFormatError(self._offset + len(self._buf), "data after the end of the capture")
            try:
                data = self._z.decompress(data)
            except zlib.error as exc:
                raise CaptureFormatError(
                    self._offset + len(self._buf), f"corrupted compression: {exc}"
                ) from None
            if self._z.eof:
                self._z_done = True
                if self._z.unused_data:
                    raise CaptureFormatError(
                        self._offset + len(self._buf), "data after the end of the capture"
                    )
        self._buf += data

    def _start_body(self, prefix: bytes) -> None:
        if prefix[: len(MAGIC)] != MAGIC:
            raise CaptureFormatError(0, "not a sensorcast capture (no SCAP magic)")
        version, compression = prefix[len(MAGIC)], prefix[len(MAGIC) + 1]
        if version != FORMAT_VERSION:
            raise CaptureFormatError(len(MAGIC), f"capture format version {version}; this sensorcast reads 1")
        if compression not in (COMPRESSION_NONE, COMPRESSION_ZLIB):
            raise CaptureFormatError(len(MAGIC) + 1, f"unknown compression {compression}")
        self.compressed = compression == COMPRESSION_ZLIB
        self._z = zlib.decompressobj() if self.compressed else None
        self._started = True
        self._offset = PREFIX_BYTES

    def next_frame(self) -> list[tuple[Record, int]] | None:
        """The records of the next complete frame pushed, each with its encoded size in bytes (an empty list
        for the header frame), or None until more bytes are pushed."""
        if len(self._buf) < _FRAME.size:
            return None
        offset = self._offset
        length, crc = _FRAME.unpack_from(self._buf, 0)
        if length > MAX_FRAME_BYTES:
            raise CaptureFormatError(offset, f"frame length {length} exceeds {MAX_FRAME_BYTES}")
        if len(self._buf) - _FRAME.size < length:
            return None
        payload = bytes(self._buf[_FRAME.size : _FRAME.size + length])
        if zlib.crc32(payload) != crc:
            raise CaptureFormatError(offset, "frame checksum mismatch (corrupted)")
        if self._ended:
            raise CaptureFormatError(offset, "data after the end of the capture")
        items = _unpack_all(payload, offset)
        del self._buf[: _FRAME.size + length]
        self._offset += _FRAME.size + length
        if self.header is None:
            if (
                len(items) != 1
                or not isinstance(items[0][0], dict)
                or items[0][0].get("format") != HEADER_FORMAT
            ):
                raise CaptureFormatError(offset, "the first frame is not a capture header")
            self.header = items[0][0]
            return []
        records: list[tuple[Record, int]] = []
        for item, size in items:
            if self._ended:
                raise CaptureFormatError(offset, "data after the end of the capture")
            record = decode_record(item, offset)
            self._ended = isinstance(record, End)
            records.append((record, size))
        return records

    def finish(self) -> Ending:
        """``complete`` if the end record was the last thing in the file, else ``truncated``.

        Raises:
            CaptureFormatError: the file is too short to be a capture (no header).
        """
        if self.header is None:
            raise CaptureFormatError(self._offset, "too short for a capture (no complete header)")
        return "complete" if self._ended and not self._buf else "truncated"
