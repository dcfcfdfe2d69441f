"""The single command path for actuators: WebSocket ``command`` messages and MQTT command topics both land here,
so the allowlist (configured targets, kinds and ranges) and the operator-role check are enforced once.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from bridges.seam import CommandResult
from gateway.hub import Hub
from gateway.poller import BusWorker
from sensors.base import Actuator, Value

log = logging.getLogger(__name__)


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
    """Validates and applies commands (satisfies :class:`bridges.seam.CommandHandler`).

    Args:
        actuators: configured outputs by id (the allowlist).
        workers: bus workers by bus id (outputs share threads with sensors on the same bus).
        hub: where the applied state is published.
        timeout_s: limit for one ``apply``.
    """

    def __init__(
        self, actuators: dict[str, Actuator], workers: dict[str, BusWorker], hub: Hub, timeout_s: float = 2.0
    ) -> None:
        self.actuators = actuators
        self.workers = workers
        self.hub = hub
        self.timeout_s = timeout_s

    async def execute(self, target: str, value: Any, *, role: str, origin: str) -> CommandResult:
        """Validate ``value`` for ``target`` and apply it on behalf of a client with ``role``."""
        if role != "operator":
            return CommandResult(False, target, error="operator role required")
        act = self.actuators.get(target)
        if act is None:
            return CommandResult(False, target, error="unknown target")
        info = act.info
        try:
            norm = validate_value(info.kind, info.min, info.max, value)
        except ValueError as exc:
            return CommandResult(False, target, error=str(exc))
        try:
            applied = await self.workers[act.bus_id].call(act.apply, norm, timeout_s=self.timeout_s)
        except Exception:
            log.exception("actuator %s: apply failed (command from %s)", target, origin)
            self.hub.metrics.inc("sensorcast_command_errors_total", target=target)
            return CommandResult(False, target, error="output did not respond")
        log.info("actuator %s := %r (from %s)", target, applied, origin)
        self._publish(target, applied)
        return CommandResult(True, target, value=applied)

    def _publish(self, target: str, applied: Value) -> None:
        self.hub.actuator_values[target] = applied
        self.hub.metrics.inc("sensorcast_commands_total", target=target)
        self.hub.publish(target, {"value": applied})

    async def apply_safe(self, only_on_disconnect: bool = False) -> None:
        """Drive every output (or those with ``safe_on_disconnect``) to its safe value."""
        for target, act in self.actuators.items():
            info = act.info
            if info.safe_value is None or (only_on_disconnect and not info.safe_on_disconnect):
                continue
            try:
                applied = await self.workers[act.bus_id].call(
                    act.apply, info.safe_value, timeout_s=self.timeout_s
                )
            except Exception:
                log.exception("actuator %s: could not apply its safe value", target)
                continue
            self._publish(target, applied)
