"""Bounded line framing for text protocols on a byte stream (NMEA 0183, JSON lines, CSV, key=value). Pure.

A device that never sends a newline (wrong baud rate, binary noise) must not grow memory: a line longer than
``max_line_bytes`` is dropped up to the next newline and counted.
"""

from __future__ import annotations


class LineFramer:
    """Splits a byte stream into lines (``\\n`` or ``\\r\\n`` terminated), never holding more than a bound.

    Args:
        max_line_bytes: longest line kept, terminator excluded. NMEA 0183 allows 82 characters; the
            default leaves room for proprietary sentences and microcontroller output.

    Attributes:
        overlong_total: lines dropped because they exceeded ``max_line_bytes``.
    """

    def __init__(self, max_line_bytes: int = 256) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self.max_line_bytes = max_line_bytes
        self.overlong_total = 0
        self._buf = bytearray()
        self._discarding = False

    def reset(self) -> None:
        """Forget a partial line (after the port was re-opened: its start is lost)."""
        self._buf.clear()
        self._discarding = False

    @property
    def pending_bytes(self) -> int:
        """Bytes of the incomplete line held so far."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data`` and return the complete, non-empty lines it finished (terminators stripped)."""
        lines: list[bytes] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                self._keep(data[start:])
                return lines
            piece = data[start:nl]
            start = nl + 1
            if self._discarding:
                self._discarding = False
                continue
            if len(self._buf) + len(piece) > self.max_line_bytes + 1:  # +1: a trailing \r is not content
                self._buf.clear()
                self.overlong_total += 1
                continue
            self._buf += piece
            line = bytes(self._buf).rstrip(b"\r")
            self._buf.clear()
            if len(line) > self.max_line_bytes:
                self.overlong_total += 1
            elif line:
                lines.append(line)

    def _keep(self, rest: bytes) -> None:
        if self._discarding:
            return
        if len(self._buf) + len(rest) > self.max_line_bytes + 1:
            self._buf.clear()
            self._discarding = True
            self.overlong_total += 1
        else:
            self._buf += rest
