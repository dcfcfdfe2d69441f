"""RuleRunner: batches -> events on the hub's event sinks, metrics, rule actions through the command path (with
retry of a refused action), stale ticks, acknowledgement, and no cost for a gateway without rules."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway import rules_runtime
from gateway.hub import Hub
from gateway.protocol.rules import Rule, RuleAction
from gateway.protocol.seam import CommandResult
from gateway.rules_runtime import RuleRunner


class Outputs:
    """A CommandHandler with one switch output that refuses the first ``refusals`` commands."""

    def __init__(self, refusals: int = 0) -> None:
        self.refusals = refusals
        self.calls: list[tuple[str, Any, str, str]] = []

    async def execute(self, target: str, value: Any, *, role: str, origin: str) -> CommandResult:
        self.calls.append((target, value, role, origin))
        if self.refusals:
            self.refusals -= 1
            return CommandResult(False, target, error="output did not respond")
        return CommandResult(True, target, value=value)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


HOT = Rule("hot", "env", "t", "above", 30, hysteresis=2, action=RuleAction("relay", True, False))


def make(rules: list[Rule], outputs: Outputs) -> tuple[Hub, RuleRunner, list[dict[str, Any]], Clock]:
    hub = Hub("gw", "boot", flush_interval_ms=0)
    clock = Clock()
    runner = RuleRunner(rules, hub, outputs, hub.metrics, clock=clock)
    events: list[dict[str, Any]] = []
    hub.add_event_sink(events.append)
    return hub, runner, events, clock


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_fire_and_clear_emit_events_count_and_drive_the_output() -> None:
    """31 fires (event, gauge 1, fired counter, relay on as operator from "rule hot"), 29 is the dead band, 28
    clears (event, gauge 0, relay off); the catalogue shows the rule and whether it is active."""
    outputs = Outputs()
    hub, runner, events, clock = make([HOT], outputs)
    for now, value in [(1, 25), (2, 31), (3, 29), (4, 28)]:
        clock.now = now
        hub.publish("env", {"t": value}, ts_ns=now * 10**9)
        hub.publish("other", {"t": 99}, ts_ns=now * 10**9)
        if now == 2:
            assert hub.catalogue()["rules"] == [
                {"id": "hot", "sensor": "env", "field": "t", "when": "above", "severity": "warning",
                 "threshold": 30, "active": True,
                 "event": runner.active()[0]}
            ]  # fmt: skip
            assert 'sensorcast_rule_active{rule="hot"} 1' in hub.metrics.render()
        await settle()
    assert [(e["rule"], e["state"], e["value"], e["ts"]) for e in events] == [
        ("hot", "active", 31.0, 2 * 10**9),
        ("hot", "inactive", 28.0, 4 * 10**9),
    ]
    assert outputs.calls == [
        ("relay", True, "operator", "rule hot"),
        ("relay", False, "operator", "rule hot"),
    ]
    text = hub.metrics.render()
    assert 'sensorcast_rule_active{rule="hot"} 0' in text
    assert 'sensorcast_rule_fired_total{rule="hot"} 1' in text
    assert 'sensorcast_rule_actions_total{result="ok",rule="hot"} 2' in text
    assert runner.active() == []


async def test_a_gateway_without_rules_registers_no_batch_sink() -> None:
    """No rules: the hub has no sink for them (readings pay nothing), the catalogue's rules list is empty."""
    hub, runner, _, _ = make([], Outputs())
    assert (hub._sinks, hub.catalogue()["rules"], runner.active()) == ([], [], [])


async def test_a_refused_action_is_retried_then_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The output refuses: the action is tried ACTION_ATTEMPTS times ACTION_RETRY_S apart, then given up and
    counted; with one refusal, the retry applies it."""
    monkeypatch.setattr(rules_runtime, "ACTION_RETRY_S", 0.01)
    outputs = Outputs(refusals=10)
    hub, _, _, _ = make([HOT], outputs)
    hub.publish("env", {"t": 31})
    await asyncio.sleep(0.2)
    assert outputs.calls == [("relay", True, "operator", "rule hot")] * rules_runtime.ACTION_ATTEMPTS
    assert hub.metrics.get("sensorcast_rule_actions_total", rule="hot", result="failed") == 1.0
    outputs2 = Outputs(refusals=1)
    hub2, _, _, _ = make([HOT], outputs2)
    hub2.publish("env", {"t": 31})
    await asyncio.sleep(0.2)
    assert outputs2.calls == [("relay", True, "operator", "rule hot")] * 2
    assert hub2.metrics.get("sensorcast_rule_actions_total", rule="hot", result="ok") == 1.0


async def test_a_newer_decision_replaces_a_refused_or_unapplied_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear while the refused "on" waits for its retry: "off" is applied, the stale "on" never again. Fire and
    clear before the first is applied: only the latest ("off") is sent."""
    monkeypatch.setattr(rules_runtime, "ACTION_RETRY_S", 0.05)
    outputs = Outputs(refusals=1)
    hub, _, events, _ = make([HOT], outputs)
    hub.publish("env", {"t": 31})
    await settle()
    hub.publish("env", {"t": 20})
    await asyncio.sleep(0.2)
    assert [e["state"] for e in events] == ["active", "inactive"]
    assert outputs.calls == [
        ("relay", True, "operator", "rule hot"),
        ("relay", False, "operator", "rule hot"),
    ]
    outputs2 = Outputs()
    hub2, _, _, _ = make([HOT], outputs2)
    hub2.publish("env", {"t": 31})
    hub2.publish("env", {"t": 20})
    await settle()
    assert outputs2.calls == [("relay", False, "operator", "rule hot")]


async def test_stale_ticks_acknowledge_and_close() -> None:
    """A stale rule fires on a tick; an operator acknowledges it once (event with acked_by); after close no
    action is started."""
    outputs = Outputs()
    stale = Rule("off", "env", "t", "stale", 5, action=RuleAction("relay", True))
    hub, runner, events, clock = make([stale], outputs)
    clock.now = 4
    runner.tick()
    clock.now = 5
    runner.tick()
    assert [(e["rule"], e["state"], e["value"], e["acked_by"]) for e in events] == [
        ("off", "active", 5.0, None)
    ]
    await settle()
    assert outputs.calls == [("relay", True, "operator", "rule off")]
    assert runner.acknowledge("off", "alice") is True
    assert runner.acknowledge("off", "bob") is False
    assert [e["acked_by"] for e in events] == [None, "alice"]
    assert [e["acked_by"] for e in (runner.active())] == ["alice"]
    await runner.close()
    hub.publish("env", {"t": 1})
    clock.now = 20
    runner.tick()
    await settle()
    assert [e["state"] for e in events] == ["active", "active", "inactive", "active"]
    assert outputs.calls == [("relay", True, "operator", "rule off")]


async def test_run_ticks_until_cancelled() -> None:
    """run() ticks the stale rules every period."""
    _, runner, events, clock = make([Rule("off", "env", "t", "stale", 1)], Outputs())
    clock.now = 2
    task = asyncio.create_task(runner.run(period_s=0.01))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [e["state"] for e in events] == ["active"]


async def test_the_fire_counter_of_every_rule_is_exported_at_zero_before_it_fires() -> None:
    """Every rule's sensorcast_rule_fired_total shows 0 from the start, so Prometheus' increase() sees the first
    fire (a series first scraped at 1 has no increase); only the rule that fired counts 1."""
    cold = Rule("cold", "env", "t", "below", 0)
    hub, _, _, clock = make([HOT, cold], Outputs())
    fired = [
        line for line in hub.metrics.render().splitlines() if line.startswith("sensorcast_rule_fired_total")
    ]
    assert fired == [
        'sensorcast_rule_fired_total{rule="cold"} 0.0',
        'sensorcast_rule_fired_total{rule="hot"} 0.0',
    ]
    clock.now = 1
    hub.publish("env", {"t": 31}, ts_ns=10**9)
    await settle()
    fired = [
        line for line in hub.metrics.render().splitlines() if line.startswith("sensorcast_rule_fired_total")
    ]
    assert fired == [
        'sensorcast_rule_fired_total{rule="cold"} 0.0',
        'sensorcast_rule_fired_total{rule="hot"} 1.0',
    ]
