"""The single command path for actuators: WebSocket ``command`` messages and MQTT command topics both land here,
so the allowlist (configured targets, kinds and ranges) and the operator-role check are enforced once.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from gateway.buses import BusWorker
from gateway.catalogue import Catalogue
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.protocol.actuation import ChangeLimiter, TooSoon
from gateway.protocol.seam import CommandResult
from sensors.base import Actuator, Value

log = logging.getLogger(__name__)

REFUSAL_LOG_INTERVAL_S = 10.0
"""Refusals of one output are logged at most once per this many seconds (the first at once, then a count):
a client hammering a relay must not turn into a log line per attempt."""


def validate_value(kind: str, lo: float, hi: float, value: Any) -> Value:
    """Return ``value`` normalised for an actuator of ``kind`` or raise ValueError with a user-facing reason."""
    if kind == "switch":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("on", "off", "true", "false"):
            return value.lower() in ("on", "true")
        raise ValueError("expected true/false (or on/off)")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a number in {lo:g}..{hi:g}")
    if not lo <= value <= hi:
        raise ValueError(f"expected a number in {lo:g}..{hi:g}")
    return float(value)


class CommandRouter:
    """Validates and applies commands (satisfies :class:`gateway.protocol.seam.CommandHandler`).

    Args:
        actuators: configured outputs by id (the allowlist).
        workers: bus workers by bus id (outputs share threads with sensors on the same bus).
        hub: where the applied state is published (as a reading of the actuator's id).
        catalogue: where the applied value is recorded.
        metrics: where commands, refusals and failures are counted.
        timeout_s: limit for one ``apply``.
        clock: monotonic seconds (injected for tests).

    Each output accepts one change per its ``info.min_interval_s`` (:mod:`gateway.protocol.actuation`); sooner
    commands are refused with the time to wait. Safe values are never refused.
    """

    def __init__(
        self,
        actuators: dict[str, Actuator],
        workers: dict[str, BusWorker],
        hub: Hub,
        *,
        catalogue: Catalogue,
        metrics: Metrics,
        timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.actuators = actuators
        self.workers = workers
        self.hub = hub
        self.catalogue = catalogue
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.clock = clock
        self.limiter = ChangeLimiter()
        self.stopping = False
        """Set by a clean stop before the safe values are applied: no command may undo them afterwards."""
        self._refusals: dict[str, tuple[float, int]] = {}
        """target -> (when its refusals were last logged, refusals since)."""
        metrics.describe(
            "sensorcast_commands_refused_total",
            "counter",
            "Commands refused because the output changed less than its min_interval_s ago",
            ("target",),
        )
        metrics.describe("sensorcast_commands_total", "counter", "Commands applied to an output", ("target",))
        metrics.describe(
            "sensorcast_command_errors_total", "counter", "Commands that failed on the hardware", ("target",)
        )

    async def execute(self, target: str, value: Any, *, role: str, origin: str) -> CommandResult:
        """Validate ``value`` for ``target`` and apply it on behalf of a client with ``role``."""
        if role != "operator":
            return CommandResult(False, target, error="operator role required")
        if self.stopping:
            return CommandResult(False, target, error="gateway is stopping")
        act = self.actuators.get(target)
        if act is None:
            return CommandResult(False, target, error="unknown target")
        info = act.info
        try:
            norm = validate_value(info.kind, info.min, info.max, value)
        except ValueError as exc:
            return CommandResult(False, target, error=str(exc))
        refused = self.limiter.try_change(target, info.min_interval_s, self.clock())
        if refused is not None:
            self._refused(refused, origin)
            return CommandResult(False, target, error=refused.message, retry_after_s=refused.retry_after_s)
        try:
            applied = await self.workers[act.bus_id].call(act.apply, norm, timeout_s=self.timeout_s)
        except Exception:
            log.exception("actuator %s: apply failed (command from %s)", target, origin)
            self.metrics.inc("sensorcast_command_errors_total", target=target)
            return CommandResult(False, target, error="output did not respond")
        log.info("actuator %s := %r (from %s)", target, applied, origin)
        self._publish(target, applied)
        return CommandResult(True, target, value=applied)

    def _refused(self, refused: TooSoon, origin: str) -> None:
        """Count a refusal and log it: the first at once, then one line per REFUSAL_LOG_INTERVAL_S with a count."""
        target = refused.target
        self.metrics.inc("sensorcast_commands_refused_total", target=target)
        now = self.clock()
        logged_s, count = self._refusals.get(target, (-REFUSAL_LOG_INTERVAL_S, 0))
        count += 1
        if now - logged_s < REFUSAL_LOG_INTERVAL_S:
            self._refusals[target] = (logged_s, count)
            return
        log.warning(
            "actuator %s: %d command(s) refused, less than its min_interval_s %g s after a change (latest from %s)",
            target,
            count,
            refused.min_interval_s,
            origin,
        )
        self._refusals[target] = (now, 0)

    def _publish(self, target: str, applied: Value) -> None:
        self.catalogue.set_actuator_value(target, applied)
        self.metrics.inc("sensorcast_commands_total", target=target)
        self.hub.publish(target, {"value": applied})

    async def apply_safe(self, only_on_disconnect: bool = False) -> None:
        """Drive every output (or those with ``safe_on_disconnect``) to its safe value."""
        for target, act in self.actuators.items():
            info = act.info
            if info.safe_value is None or (only_on_disconnect and not info.safe_on_disconnect):
                continue
            previous = self.catalogue.actuator_value(target)
            try:
                applied = await self.workers[act.bus_id].call(
                    act.apply, info.safe_value, timeout_s=self.timeout_s
                )
            except Exception:
                log.exception("actuator %s: could not apply its safe value", target)
                continue
            if previous is not None and previous != applied:
                # Never refused, but it moved the output: the next command waits its interval from here.
                # (At start there is no previous state: open() already claimed the pin in its safe state.)
                self.limiter.force(target, self.clock())
            log.info("actuator %s := %r (safe value)", target, applied)
            self._publish(target, applied)
