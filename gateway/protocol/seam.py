"""The small interface a bridge needs from the gateway, and nothing more.

The gateway's hub and command router satisfy these protocols structurally; bridges never import gateway
internals (only the pure, documented wire model in ``gateway.protocol``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.protocol.model import ReadingTuple

BatchSink = Callable[[Sequence[ReadingTuple]], None]
"""Called on the event loop with each flushed batch, in seq order. Must not block: enqueue and return."""

StatusSink = Callable[[str, str, str | None], None]
"""``(sensor_id, state, error)`` on every sensor state change (``ok``/``failing``/``offline``/``recovering``)."""

EventSink = Callable[[Mapping[str, Any]], None]
"""A rule event (docs/protocol.md, ``event``: rule, sensor, field, state, value, threshold, severity, ts,
acked_by). Must not block."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    """Outcome of an actuator command."""

    ok: bool
    target: str
    value: Any = None
    """State actually applied (echoed as a reading too)."""
    error: str | None = None
    """Short, user-facing reason when ``ok`` is false (never an exception text)."""
    retry_after_s: float | None = None
    """Refused because the output changed too recently: seconds until a change would be accepted."""


class ReadingSource(Protocol):
    """Publisher side of the hub."""

    @property
    def gateway_id(self) -> str: ...

    @property
    def boot_id(self) -> str: ...

    def catalogue(self) -> dict[str, Any]:
        """The hello frame's ``sensors`` and ``actuators`` lists (see docs/protocol.md)."""
        ...

    def add_sink(self, sink: BatchSink) -> Callable[[], None]:
        """Register ``sink`` for every future batch; returns a function that removes it."""
        ...

    def add_status_sink(self, sink: StatusSink) -> Callable[[], None]:
        """Register ``sink`` for sensor state changes; returns a function that removes it."""
        ...


class EventSource(Protocol):
    """Optional part of a reading source with local rules: the catalogue's ``rules`` entries
    (``{id, sensor, field, when, severity, threshold, active}``) and their events."""

    def add_event_sink(self, sink: EventSink) -> Callable[[], None]:
        """Register ``sink`` for every rule event; returns a function that removes it."""
        ...


class CommandHandler(Protocol):
    """The gateway's single command path (same allowlist for WebSocket and MQTT)."""

    async def execute(self, target: str, value: Any, *, role: str, origin: str) -> CommandResult:
        """Validate and apply ``value`` to ``target`` on behalf of a client with ``role``."""
        ...
