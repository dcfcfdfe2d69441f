"""Plantower PMS5003 / PMS7003 frames: parse, encode, and a resynchronising stream decoder. Pure.

Reference: Plantower "PMS5003 series data manual" V2.3 (2016) and "PMS7003 series data manual" V2.5 (2016),
section "Transport protocol - Active mode": 9600 baud 8N1, a 32-byte frame every 200-2300 ms:
``0x42 0x4d``, frame length (= 2 * 13 + 2), thirteen big-endian 16-bit data words, and a 16-bit check code
equal to the sum of every preceding byte of the frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields

from sensors.errors import ChecksumError

START = b"\x42\x4d"
FRAME_BYTES = 32
FRAME_LENGTH = 28
"""Value of the frame-length word: 13 data words + the check code, in bytes."""

_FRAME = struct.Struct(">2sH13HH")

CMD_READ = 0xE2
CMD_MODE = 0xE1
"""Data 0: passive, 1: active."""
CMD_SLEEP = 0xE4
"""Data 0: sleep, 1: wake up."""


@dataclass(frozen=True, slots=True)
class PmsFrame:
    """One measurement. Mass concentrations in µg/m³, particle counts per 0.1 L (= per dL) of air.

    The ``*_cf1`` values use the factory's 'standard particle' calibration; the plain ones are the
    'atmospheric environment' values that air-quality indices use.
    """

    pm1_0_cf1: int
    pm2_5_cf1: int
    pm10_cf1: int
    pm1_0: int
    pm2_5: int
    pm10: int
    n0_3: int
    n0_5: int
    n1_0: int
    n2_5: int
    n5_0: int
    n10: int
    reserved: int = 0
    """Data 13: on current modules the high byte is the firmware version and the low byte an error code."""


def checksum(data: bytes) -> int:
    """Return the 16-bit check code of ``data`` (sum of bytes, modulo 65536)."""
    return sum(data) & 0xFFFF


def encode_pms_frame(frame: PmsFrame) -> bytes:
    """Return the 32-byte wire frame of ``frame``."""
    words = [getattr(frame, f.name) for f in fields(frame)]
    head = _FRAME.pack(START, FRAME_LENGTH, *words, 0)[:-2]
    return head + struct.pack(">H", checksum(head))


def parse_pms_frame(data: bytes) -> PmsFrame:
    """Decode one 32-byte frame.

    Raises:
        ValueError: wrong size, start bytes or frame length.
        ChecksumError: the check code does not match (a ``ValueError`` too).
    """
    if len(data) != FRAME_BYTES:
        raise ValueError(f"expected {FRAME_BYTES} bytes, got {len(data)}")
    start, length, *words, check = _FRAME.unpack(data)
    if start != START:
        raise ValueError(f"bad start bytes {start.hex()}")
    if length != FRAME_LENGTH:
        raise ValueError(f"bad frame length {length}")
    if checksum(data[:-2]) != check:
        raise ChecksumError(f"check code {check:#06x} != {checksum(data[:-2]):#06x}")
    return PmsFrame(*words)


def encode_pms_command(command: int, data: int) -> bytes:
    """Return the 7-byte host command ``42 4d CMD DATAH DATAL LRCH LRCL``."""
    head = START + struct.pack(">BH", command, data)
    return head + struct.pack(">H", checksum(head))


class PmsDecoder:
    """Finds frames in a byte stream, skipping garbage and resynchronising after a bad frame.

    After a bad length or check code the decoder advances one byte, not a whole frame, because a good frame
    may start inside a truncated one. It holds at most one frame of bytes.

    Attributes:
        frames_total: good frames decoded.
        bad_checksum: candidate frames with a wrong check code.
        bad_length: candidates with a frame-length word other than 28.
        skipped_bytes: bytes discarded while searching for a start.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames_total = 0
        self.bad_checksum = 0
        self.bad_length = 0
        self.skipped_bytes = 0

    @property
    def errors(self) -> int:
        """Bad candidate frames seen so far."""
        return self.bad_checksum + self.bad_length

    def reset(self) -> None:
        """Drop a partial frame (after a re-open)."""
        self._buf.clear()

    def feed(self, data: bytes) -> list[PmsFrame]:
        """Add bytes; return the frames they completed, in order."""
        buf = self._buf
        buf += data
        out: list[PmsFrame] = []
        while True:
            idx = buf.find(START)
            if idx < 0:
                keep = 1 if buf[-1:] == START[:1] else 0
                self.skipped_bytes += len(buf) - keep
                del buf[: len(buf) - keep]
                return out
            if idx:
                self.skipped_bytes += idx
                del buf[:idx]
            if len(buf) < 4:
                return out
            if buf[2:4] != b"\x00\x1c":
                self.bad_length += 1
                self.skipped_bytes += 1
                del buf[:1]
                continue
            if len(buf) < FRAME_BYTES:
                return out
            try:
                out.append(parse_pms_frame(bytes(buf[:FRAME_BYTES])))
            except ChecksumError:
                self.bad_checksum += 1
                self.skipped_bytes += 1
                del buf[:1]
                continue
            self.frames_total += 1
            del buf[:FRAME_BYTES]
