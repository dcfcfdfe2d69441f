"""Runs the local rules (the I/O shell around :mod:`gateway.protocol.rules`): feeds each flushed batch to the
engine, ticks the stale rules, hands every event to the hub's event sinks (WebSocket clients, MQTT), and applies
rule actions through the command path operators use (same allowlist, audit log line ``from rule <id>``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.protocol.model import ReadingTuple
from gateway.protocol.rules import ACTIVE, Rule, RuleEngine, RuleEvent
from gateway.protocol.seam import CommandHandler

log = logging.getLogger(__name__)

TICK_S = 1.0
"""How often stale rules look at the clock: a stale rule fires at most this much after its ``after_s``."""
ACTION_RETRY_S = 1.0
"""Wait before a refused rule action is tried again (the output did not respond, or refused for now)."""
ACTION_ATTEMPTS = 3
"""Tries per rule action before it is given up (logged and counted): a dead output must not be hammered."""


class RuleRunner:
    """The rules of one gateway.

    Args:
        rules: validated rules (``Config.rules``).
        hub: whose batches are watched (a batch sink, registered only when there are rules) and whose event
            sinks get the events; its catalogue gets a ``rules`` list.
        commands: the command path actions go through.
        metrics: registry for ``sensorcast_rule_*``.
        clock: monotonic clock for ``for_s``/``clear_for_s``/``after_s`` (readings' own timestamps give rates).
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        hub: Hub,
        commands: CommandHandler,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = RuleEngine(rules, clock())
        self.hub = hub
        self.commands = commands
        self.metrics = metrics
        self._clock = clock
        self._wanted: dict[str, tuple[Any, str]] = {}
        """Output id -> (value, rule id) still to apply: a newer decision replaces an older one not yet applied."""
        self._appliers: dict[str, asyncio.Task[None]] = {}
        self._closed = False
        metrics.describe(
            "sensorcast_rule_active", "gauge", "1 while the rule is active (fired, not cleared)", ("rule",)
        )
        metrics.describe("sensorcast_rule_fired_total", "counter", "Times the rule fired", ("rule",))
        metrics.describe(
            "sensorcast_rule_actions_total",
            "counter",
            "Rule actions applied (ok) or given up (failed)",
            ("rule", "result"),
        )
        metrics.add_callback(self._gauges)
        for (
            rule
        ) in rules:  # a counter that first appears at 1 hides its first fire from rate() and increase()
            metrics.inc("sensorcast_rule_fired_total", 0.0, rule=rule.id)
        hub.rule_catalogue = self.catalogue
        if rules:
            hub.add_sink(self.on_batch)

    # -- what clients see ----------------------------------------------------------------------------------

    def catalogue(self) -> list[dict[str, Any]]:
        """The catalogue's ``rules`` entries, in config order."""
        return [
            {
                "id": t.rule.id,
                "sensor": t.rule.sensor,
                "field": t.rule.field,
                "when": t.rule.kind,
                "severity": t.rule.severity,
                "threshold": t.rule.limit,
                "active": t.event is not None,
                "event": t.event.as_dict() if t.event is not None else None,
            }
            for t in self.engine.trackers.values()
        ]

    def active(self) -> list[dict[str, Any]]:
        """The ``event`` bodies of the rules active now (``hello``'s ``events``)."""
        return [e.as_dict() for e in self.engine.active()]

    def acknowledge(self, rule_id: str, by: str) -> bool:
        """Acknowledge rule ``rule_id``'s active event on behalf of ``by`` and tell every event sink; False when
        there is nothing to acknowledge (unknown, not active, already acknowledged)."""
        event = self.engine.acknowledge(rule_id, by)
        if event is None:
            return False
        log.info("rule %s: acknowledged by %s", rule_id, by)
        self.hub.emit_event(event.as_dict())
        return True

    def _gauges(self) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        return [
            ("sensorcast_rule_active", (("rule", t.rule.id),), float(t.event is not None))
            for t in self.engine.trackers.values()
        ]

    # -- the data path -------------------------------------------------------------------------------------

    def on_batch(self, batch: Sequence[ReadingTuple]) -> None:
        """Batch sink: a batch without a sensor that has rules costs one set of its sensor ids (in the engine)."""
        for event in self.engine.on_readings(batch, self._clock()):
            self._emit(event)

    def tick(self) -> None:
        """Let time pass for the stale rules."""
        for event in self.engine.on_tick(self._clock(), time.time_ns()):
            self._emit(event)

    async def run(self, period_s: float = TICK_S) -> None:
        """Tick the stale rules until cancelled."""
        while True:
            await asyncio.sleep(period_s)
            self.tick()

    def _emit(self, event: RuleEvent) -> None:
        rule = self.engine.trackers[event.rule].rule
        if event.state == ACTIVE:
            self.metrics.inc("sensorcast_rule_fired_total", rule=event.rule)
            log.warning("rule %s fired (%s): %s.%s = %r", event.rule, event.severity, event.sensor, event.field,
                        event.value)  # fmt: skip
        else:
            log.info("rule %s cleared: %s.%s = %r", event.rule, event.sensor, event.field, event.value)
        self.hub.emit_event(event.as_dict())
        action = rule.action
        if action is None or self._closed:
            return
        value = action.on_fire if event.state == ACTIVE else action.on_clear
        if value is None:
            return
        self._wanted[action.output] = (value, rule.id)
        if action.output not in self._appliers:
            self._appliers[action.output] = asyncio.get_running_loop().create_task(
                self._apply(action.output), name=f"rule-action-{action.output}"
            )

    async def _apply(self, output: str) -> None:
        """Apply the latest wanted value of ``output`` until none is left; a refusal is retried after
        :data:`ACTION_RETRY_S`, up to :data:`ACTION_ATTEMPTS` times, unless a newer decision came meanwhile."""
        attempts = 0
        try:
            while output in self._wanted:
                value, rule_id = self._wanted.pop(output)
                result = await self.commands.execute(output, value, role="operator", origin=f"rule {rule_id}")
                if result.ok:
                    self.metrics.inc("sensorcast_rule_actions_total", rule=rule_id, result="ok")
                    attempts = 0
                    continue
                attempts += 1
                if output in self._wanted:  # superseded: apply the newer value instead
                    attempts = 0
                    continue
                if attempts >= ACTION_ATTEMPTS:
                    log.error("rule %s: could not set %s to %r (%s); giving up", rule_id, output, value,
                              result.error)  # fmt: skip
                    self.metrics.inc("sensorcast_rule_actions_total", rule=rule_id, result="failed")
                    attempts = 0
                    continue
                log.warning("rule %s: %s refused %r (%s); retrying in %g s", rule_id, output, value, result.error,
                            ACTION_RETRY_S)  # fmt: skip
                self._wanted[output] = (value, rule_id)
                await asyncio.sleep(ACTION_RETRY_S)
        finally:
            del self._appliers[output]

    async def close(self) -> None:
        """Stop applying actions (shutdown drives outputs to their safe values afterwards)."""
        self._closed = True
        tasks = list(self._appliers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
