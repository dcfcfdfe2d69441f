"""A connection's control-message policy: a token bucket on the rate, a count of rate warnings and of malformed
messages, and the verdict for each message. Pure: the caller passes ``now`` (monotonic seconds).
"""

from __future__ import annotations

import enum

RATE_WARNINGS = 3
"""Rate-limit errors a client may receive before it is closed (one more message over the rate closes it)."""


class TokenBucket:
    """Control message rate limiter (``rate_per_s`` sustained, ``burst`` at once), starting full at ``now``."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate_per_s: float, burst: int, now: float) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        """Consume one token at ``now``; False when the client is over its rate (a refusal costs nothing)."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Verdict(enum.Enum):
    """What the connection does with a message."""

    PASS = "pass"
    """Handle it."""
    WARN = "warn"
    """Answer with an error and read on."""
    CLOSE = "close"
    """Close the connection (1008 for the rate, 1007 for malformed messages)."""


class ControlGate:
    """One connection's control-message policy.

    Args:
        rate_per_s: sustained control messages per second.
        burst: messages accepted at once.
        max_bad_messages: malformed messages answered before the connection is closed.
        now: when the connection started.
        rate_warnings: rate-limit errors answered before the connection is closed.
    """

    __slots__ = ("bad", "bucket", "max_bad", "max_warnings", "warnings")

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_bad_messages: int,
        now: float,
        rate_warnings: int = RATE_WARNINGS,
    ) -> None:
        self.bucket = TokenBucket(rate_per_s, burst, now)
        self.max_bad = max_bad_messages
        self.max_warnings = rate_warnings
        self.bad = 0
        self.warnings = 0

    def message(self, now: float) -> Verdict:
        """A message arrived at ``now``: PASS within the rate, WARN over it, CLOSE past the warnings."""
        if self.bucket.take(now):
            return Verdict.PASS
        self.warnings += 1
        return Verdict.CLOSE if self.warnings > self.max_warnings else Verdict.WARN

    def malformed(self) -> Verdict:
        """The message that passed did not parse: WARN (answer the error), CLOSE past ``max_bad_messages``."""
        self.bad += 1
        return Verdict.CLOSE if self.bad > self.max_bad else Verdict.WARN
