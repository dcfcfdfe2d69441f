"""What a token reload does to the sessions already open. Pure: no I/O, no clock.

A reload (SIGHUP) that changes ``security.tokens`` or the token file applies to every session at once, not only
to new connections: a session whose token is no longer configured is ended (``error auth_revoked``, close
4401), and one whose token now carries another role continues with that role (a demoted operator can no longer
command outputs, from the next message on). Other sessions are untouched.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class TokenReview(Generic[K]):
    """The sessions a new token table ends and the ones whose role it changes."""

    revoked: tuple[K, ...] = ()
    """Sessions to close: their token is gone (or they never showed one and tokens are now required)."""
    roles: tuple[tuple[K, str], ...] = ()
    """Sessions that stay, with their new role."""


def review_sessions(
    sessions: Iterable[tuple[K, bytes | None, str]], tokens: Mapping[bytes, str]
) -> TokenReview[K]:
    """Compare open sessions with the token table a reload installs.

    Args:
        sessions: ``(session, token it authenticated with, its role now)``; the token is None for a session
            opened while the gateway had no tokens (every client was an operator then).
        tokens: the new table, token -> role; empty when the gateway no longer requires tokens.

    Returns:
        Which sessions to close and which to give a new role, in the order ``sessions`` listed them.
    """
    revoked: list[K] = []
    roles: list[tuple[K, str]] = []
    for session, token, role in sessions:
        if token is None:
            if tokens:  # it never showed a token, and one is required now
                revoked.append(session)
            continue
        new_role = tokens.get(token)
        if new_role is None:
            if tokens:
                revoked.append(session)
            # no tokens at all any more: the gateway is open (loopback or --insecure); nothing to revoke
        elif new_role != role:
            roles.append((session, new_role))
    return TokenReview(tuple(revoked), tuple(roles))
