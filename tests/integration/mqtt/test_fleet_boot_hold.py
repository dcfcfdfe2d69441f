"""A 3.1.1 fleet restarted with its persistent session holds a msgpack gateway's queued readings (which carry
no boot) until the retained meta gives their boot: each is delivered once, in order, with no false gap (real
Mosquitto, a scripted gateway)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import msgpack
import paho.mqtt.client as mqtt
import pytest

from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.fleet_helpers import FleetRuns, gateway_meta, scripted_gateway

pytestmark = pytest.mark.mqtt


def _meta(boot: str) -> bytes:
    return gateway_meta("gm", boot, "msgpack")


@pytest.fixture
def gateway(broker: Mosquitto) -> Iterator[mqtt.Client]:
    """A scripted MQTT 3.1.1 gateway ``gm`` (msgpack payloads: its readings carry no boot)."""
    with scripted_gateway(broker.port, "gm", mqtt.MQTTv311, "msgpack") as pub:
        yield pub


def publish(pub: mqtt.Client, seq: int, prev: int) -> None:
    """Reading ``seq`` of gm/s with ``prev`` (``[seq, prev, ts_ns, sensor, values, flags]``, ``a`` = seq)."""
    doc = [seq, prev, 1_700_000_000_000_000_000 + seq, "s", {"a": seq}, 1]
    pub.publish("sensorcast/gm/s/data", msgpack.packb(doc), 1).wait_for_publish(5)


async def test_queued_readings_without_a_boot_are_held_until_the_retained_meta_and_delivered_once(
    broker: Mosquitto, gateway: mqtt.Client, tmp_path: Path
) -> None:
    """The fleet delivers readings 1 and 2 and stops cleanly; while it is down the gateway publishes 2 again (a
    missed PUBACK), then 3 and 4; the restarted fleet gets them from its session before gm's retained meta and
    delivers 3 and 4 only, in order, chained (no duplicate delivered, no gap), filed under boot b1."""
    fleet = FleetRuns(broker, tmp_path / "data", protocol="3.1.1", sensor="gm/s")
    async with fleet.start() as app:
        await fleet.subscribed("gm", "b1")
        publish(gateway, 1, 0)
        publish(gateway, 2, 1)
        await fleet.until(2, "first run")
    for seq, prev in ((2, 1), (3, 2), (4, 3)):
        publish(gateway, seq, prev)
    async with fleet.start() as app:
        await fleet.until(2, "second run")
        led = app.source.registry.gateways["gm"].ledger
        assert (led.counters.received, led.counters.duplicates, led.counters.gaps, led.open_gaps()) == (
            4,
            1,
            0,
            0,
        )
        publish(gateway, 5, 4)
        await fleet.until(3, "a live reading")
        assert app.source.boot_unknown == 0
    assert fleet.got == [[(1, False), (2, True)], [(3, False), (4, True), (5, True)]]
    doc = json.loads((tmp_path / "data" / "fleet-fleet" / "ledger.json").read_bytes())
    assert doc["gateways"]["gm"]["boots"] == [["b1", {"s": [5, []]}]]


async def test_readings_queued_before_a_gateways_new_meta_are_not_filed_under_that_boot(
    broker: Mosquitto, gateway: mqtt.Client, tmp_path: Path
) -> None:
    """While the fleet is down the gateway publishes 2 and 3 of boot b1, reboots (meta b2) and publishes 1 and 2
    of b2; the restarted fleet delivers all four in order: b1's under boot ? (nothing tells their boot), b2's
    under b2 (never dropped as duplicates of b1's seqs)."""
    fleet = FleetRuns(broker, tmp_path / "data", protocol="3.1.1", sensor="gm/s")
    async with fleet.start() as app:
        await fleet.subscribed("gm", "b1")
        publish(gateway, 1, 0)
        await fleet.until(1, "first run")
    publish(gateway, 2, 1)
    publish(gateway, 3, 2)
    gateway.publish("sensorcast/gm/meta", _meta("b2"), 1, retain=True).wait_for_publish(5)
    publish(gateway, 1, 0)
    publish(gateway, 2, 1)
    async with fleet.start() as app:
        await fleet.until(4, "second run")
        assert app.source.boot_unknown == 2
    assert [a for a, _ in fleet.got[1]] == [2, 3, 1, 2]
    doc = json.loads((tmp_path / "data" / "fleet-fleet" / "ledger.json").read_bytes())
    boots = dict((b, chains) for b, chains in doc["gateways"]["gm"]["boots"])
    assert (boots["?"]["s"][0], boots["b2"]["s"][0], boots["b1"]["s"][0]) == (3, 2, 1)
