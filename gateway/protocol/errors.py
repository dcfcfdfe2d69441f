"""Protocol errors: what the *peer* did wrong (we answer with an error frame), never our own bugs."""

from __future__ import annotations

from sensors.errors import SensorcastError


class ProtocolError(SensorcastError, ValueError):
    """A client message that cannot be accepted.

    Attributes:
        code: machine-readable error code from docs/protocol.md (``bad_message``, ``forbidden``...).
        msg: short user-facing text naming the offending key and what was expected. Never exception text.
        ref: the message's ``id``, when it could be read.
    """

    def __init__(self, code: str, msg: str, ref: object = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.ref = ref
