"""Streamed HTTP exports on the WebSocket port, the pure parts: which requests are taken over, and chunk framing.

The server looks at the first bytes of every connection before websockets does (gateway/server/export.py).
A ``GET``/``HEAD`` of exactly ``/api/history`` or ``/api/events`` is answered by the gateway itself as one
chunked response; every other request is handed to websockets untouched. The decision is made on the shortest
prefix that settles it, so anything else (``GET /``, ``GET /static/...``, a WebSocket upgrade) is handed over
within its first few bytes.
"""

from __future__ import annotations

import enum

EXPORT_PATHS = ("/api/history", "/api/events")
"""Paths answered as one streamed response (compared before ``?``; ``/api/history/`` is not one)."""
EXPORT_METHODS = ("GET", "HEAD")
MAX_HEAD_BYTES = 16 * 1024
"""Request line plus headers of a taken-over request (bytes): twice websockets' 8 KiB line limit, enough for
any browser's headers; a longer head is handed to websockets, which answers as it does for any request."""
LAST_CHUNK = b"0\r\n\r\n"
"""The terminating chunk: sent only when the whole body was written (an error mid-body omits it)."""

_PREFIXES = tuple(f"{m} {p}".encode() for m in EXPORT_METHODS for p in EXPORT_PATHS)


class Sniff(enum.Enum):
    """What to do with a connection given its first bytes."""

    MORE = "more"
    """Not decided yet: wait for more bytes."""
    HAND_OVER = "hand_over"
    """Not an export request: websockets handles the connection from its first byte."""
    TAKE_OVER = "take_over"
    """An export request: read the rest of its head and answer it here."""


def sniff(head: bytes) -> Sniff:
    """Decide from the first bytes of a connection (the request line so far) whether it is an export request."""
    for prefix in _PREFIXES:
        if len(head) <= len(prefix):
            if prefix.startswith(head):
                return Sniff.MORE
        elif head.startswith(prefix) and head[len(prefix)] in b" ?":
            return Sniff.TAKE_OVER
    return Sniff.HAND_OVER


def head_end(buffer: bytes) -> int | None:
    """The length of the request head (request line and headers, through the blank line), or None when it is
    not complete yet."""
    end = buffer.find(b"\r\n\r\n")
    return None if end < 0 else end + 4


def encode_chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk (RFC 9112 section 7.1) carrying ``data``; empty data gives nothing (an empty chunk
    would end the body)."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)
