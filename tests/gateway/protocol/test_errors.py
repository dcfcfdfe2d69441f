"""ProtocolError: the peer's mistake, catchable as SensorcastError or ValueError."""

from __future__ import annotations

from gateway.protocol.errors import ProtocolError
from sensors.errors import SensorcastError


def test_protocol_error_carries_code_msg_ref_and_inherits_value_error() -> None:
    """A ProtocolError keeps code/msg/ref, prints 'code: msg', is a SensorcastError and a ValueError."""
    err = ProtocolError("bad_message", "resume.seq: required", ref=3)
    assert (err.code, err.msg, err.ref, str(err)) == (
        "bad_message",
        "resume.seq: required",
        3,
        "bad_message: resume.seq: required",
    )
    assert isinstance(err, SensorcastError)
    assert isinstance(err, ValueError)
    assert ProtocolError("forbidden", "operator role required").ref is None
