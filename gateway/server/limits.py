"""The WebSocket server's close codes and the fixed limits it hands to websockets (the configurable ones are in
:class:`gateway.config.Limits`).
"""

from __future__ import annotations

CLOSE_POLICY = 1008
"""RFC 6455 policy violation: no or a wrong token, too many control messages, a consumer too slow to keep."""
CLOSE_INVALID = 1007
"""RFC 6455 invalid payload: a control message that does not parse."""
CLOSE_TRY_LATER = 1013
"""RFC 6455 try again later: the server is full."""
CLOSE_REVOKED = 4401
"""Application code (4000-4999; 4401 as in HTTP 401 and graphql-ws): a reload removed the session's token."""

CLOSE_TIMEOUT_S = 1.0
"""Seconds a close may take (close frame drained, peer's answer, TCP teardown) before the socket is aborted."""

INCOMING_QUEUE_FRAMES = 16
"""Frames websockets buffers from one client before it stops reading that socket (its ``max_queue``): a client
only sends small control messages, and one that floods is throttled by TCP instead of by our memory."""
