"""The configured tokens and the wrong-token throttle, shared by the WebSocket handshake
(:mod:`gateway.server.connections`) and the plain-HTTP routes that need a token (:mod:`gateway.server.routes`)."""

from __future__ import annotations

import asyncio
import hmac
import logging

from websockets.asyncio.server import ServerConnection

from gateway.metrics import Metrics
from gateway.protocol.admission import FailureThrottle, address_key

log = logging.getLogger("gateway.server")  # the name journal filters know from before the move

AUTH_LOG_SUMMARY_S = 60.0
"""Wrong tokens are logged once per address, then as one summary line per address every this many seconds."""


class TokenGate:
    """Token -> role (replaced whole by a reload) and the per-address throttle of wrong tokens
    (:class:`~gateway.protocol.admission.FailureThrottle`), with its log lines and counters."""

    def __init__(self, tokens: dict[bytes, str], throttle: FailureThrottle, metrics: Metrics) -> None:
        self.tokens = tokens
        self.throttle = throttle
        self.metrics = metrics
        self._summary: asyncio.TimerHandle | None = None

    def role_for(self, token: str) -> str | None:
        """Return the role of ``token`` (constant-time compare against every configured token) or None."""
        given = token.encode()
        role = None
        for known, r in self.tokens.items():
            if hmac.compare_digest(given, known):
                role = r
        return role

    def refused_for_s(self, address: str, now: float) -> float | None:
        """None when ``address`` may try a token now; else it is counted as throttled and this is how many
        seconds it must wait."""
        if self.throttle.allow(address, now):
            return None
        self.metrics.inc("sensorcast_auth_throttled_total")
        self._schedule_summary()
        return self.throttle.retry_after_s(address, now)

    def count_failure(self, address: str, now: float) -> None:
        """Count a wrong token from ``address`` (logged once per address, then summarised)."""
        self.metrics.inc("sensorcast_auth_failures_total")
        if self.throttle.fail(address, now):
            log.warning(
                "rejected a token from %s (more from it are summarised every %d s)",
                address,
                AUTH_LOG_SUMMARY_S,
            )
        self._schedule_summary()

    def _schedule_summary(self) -> None:
        if self._summary is None:
            self._summary = asyncio.get_running_loop().call_later(AUTH_LOG_SUMMARY_S, self._log_summary)

    def _log_summary(self) -> None:
        self._summary = None
        for address, more, refused in self.throttle.summary():
            log.warning(
                "%d more wrong tokens from %s, and %d attempts refused unchecked, in the last %d s",
                more,
                address,
                refused,
                AUTH_LOG_SUMMARY_S,
            )


def peer_key(conn: ServerConnection | None) -> str:
    """The budget key of the peer (see :func:`~gateway.protocol.admission.address_key`); "?" when unknown."""
    peer = getattr(conn, "remote_address", None)
    return address_key(str(peer[0])) if peer else "?"
