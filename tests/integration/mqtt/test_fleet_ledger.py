"""The fleet's ledgers survive its restart: what the broker delivers again after it is dropped, a hole across
the restart is reported, and a corrupt ledger file is moved aside (real Mosquitto, a scripted gateway)."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.conftest import scaled
from tests.integration.helpers import client
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.fleet_helpers import FleetRuns, scripted_gateway, stop, websocket_url

pytestmark = pytest.mark.mqtt


@pytest.fixture
def gateway(broker: Mosquitto) -> Iterator[mqtt.Client]:
    """A scripted gateway ``gx`` (MQTT 5, JSON payloads)."""
    with scripted_gateway(broker.port, "gx", mqtt.MQTTv5, "json") as pub:
        yield pub


def publish(pub: mqtt.Client, seq: int, prev: int) -> None:
    """Reading ``seq`` of gx/s (boot b1) with ``prev``, its value ``a`` = seq; returns once the broker has it."""
    doc = {
        "gw": "gx",
        "boot": "b1",
        "seq": seq,
        "prev": prev,
        "ts_ns": 1_700_000_000_000_000_000 + seq,
        "flags": 1,
    }
    pub.publish("sensorcast/gx/s/data", json.dumps({**doc, "values": {"a": seq}}), 1).wait_for_publish(5)


async def test_a_reading_the_broker_delivers_again_after_a_restart_is_not_delivered_twice(
    broker: Mosquitto, gateway: mqtt.Client, tmp_path: Path
) -> None:
    """The fleet delivers readings 1 and 2 of gx/s and stops cleanly; while it is down the gateway publishes 2
    again (its bridge missed the PUBACK) and then 5 after a hole (3 and 4 not published yet); the restarted fleet
    delivers only 5, as a gap (its prev chain broken, the gap counted and open), then 3 and 4 as late fills."""
    fleet = FleetRuns(broker, tmp_path / "data")
    async with fleet.start() as app:
        await fleet.subscribed("gx", "b1")
        for seq, prev in ((1, 0), (2, 1)):
            publish(gateway, seq, prev)
        await fleet.until(2, "first run")
    publish(gateway, 2, 1)
    publish(gateway, 5, 4)
    async with fleet.start() as app:
        await fleet.until(1, "second run")
        led = app.source.registry.gateways["gx"].ledger
        assert (led.counters.duplicates, led.counters.gaps, led.open_gaps()) == (1, 1, 1)
        publish(gateway, 3, 2)
        publish(gateway, 4, 3)
        await fleet.until(3, "the late readings")
        assert (led.counters.received, led.counters.late, led.open_gaps()) == (5, 2, 0)
    assert fleet.got == [
        [("gx/s", 1, False), ("gx/s", 2, True)],
        [("gx/s", 5, False), ("gx/s", 3, True), ("gx/s", 4, True)],
    ]
    doc = json.loads((tmp_path / "data" / "fleet-fleet" / "ledger.json").read_bytes())
    assert doc["gateways"]["gx"]["boots"] == [["b1", {"s": [5, []]}]]


async def test_a_corrupt_ledger_file_is_moved_aside_and_the_fleet_starts_empty(
    broker: Mosquitto, gateway: mqtt.Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A ledger file that is not a ledger document is moved to ledger.json.bad (as it was) with one warning
    naming the file; the fleet starts with empty ledgers, delivers readings, and writes a good file at its stop."""
    fleet_dir = tmp_path / "data" / "fleet-fleet"
    fleet_dir.mkdir(parents=True)
    (fleet_dir / "ledger.json").write_bytes(b'{"v": 1, "gateways": {"gx": ')
    fleet = FleetRuns(broker, tmp_path / "data")
    with caplog.at_level(logging.INFO, logger="gateway.fleet.ledger_store"):
        async with fleet.start():
            await fleet.subscribed("gx", "b1")
            publish(gateway, 7, 6)
            await fleet.until(1, "a reading")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and str(fleet_dir / "ledger.json") in warnings[0] and "not JSON" in warnings[0]
    assert "moved to" in warnings[0] and "starting with empty ledgers" in warnings[0]
    assert (fleet_dir / "ledger.json.bad").read_bytes() == b'{"v": 1, "gateways": {"gx": '
    assert fleet.got == [[("gx/s", 7, False)]]
    doc = json.loads((fleet_dir / "ledger.json").read_bytes())
    assert doc["gateways"]["gx"]["boots"] == [["b1", {"s": [7, [[0, 6, False]]]}]]


async def test_a_killed_fleet_process_kept_what_it_delivered_seconds_before_in_its_periodic_write(
    broker: Mosquitto, gateway: mqtt.Client, tmp_path: Path
) -> None:
    """The real `sensorcast fleet` process delivers readings 1 and 2 to a client, writes its ledger within the
    save interval without being stopped, and is killed (SIGKILL); a fleet started again with its id and data
    directory drops 2 when the gateway publishes it again, and delivers 3."""
    data = tmp_path / "data"
    toml = tmp_path / "fleet.toml"
    toml.write_text(f'[gateway]\nid = "fleet"\nhost = "127.0.0.1"\ndata_dir = "{data}"\n')
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before the loop has work
        [
            sys.executable,
            "-m",
            "gateway",
            "fleet",
            "--mqtt",
            broker.url,
            "--config",
            str(toml),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    ledger = data / "fleet-fleet" / "ledger.json"
    try:
        async with client(await websocket_url(proc)) as c:
            await c.until(
                lambda f: f["t"] == "fleet" and any(g["id"] == "gx" and g["online"] for g in f["gateways"]),
                15,
            )
            publish(gateway, 1, 0)
            publish(gateway, 2, 1)
            got: list[Any] = []
            while len(got) < 2:
                f = await c.until(lambda f: f["t"] == "data", 15)
                got += [r[4]["a"] for r in f["r"] if r[3] == "gx/s"]
            assert got == [1, 2]
        deadline = time.monotonic() + scaled(15)
        while not (
            ledger.exists() and json.loads(ledger.read_bytes())["gateways"]["gx"]["boots"][0][1]["s"][0] == 2
        ):
            assert time.monotonic() < deadline, "no periodic write of the ledger"
            await asyncio.sleep(0.1)
        proc.kill()
        proc.wait(10)
    finally:
        stop(proc)
    publish(gateway, 2, 1)
    publish(gateway, 3, 2)
    fleet = FleetRuns(broker, data)
    async with fleet.start():
        await fleet.until(1, "after the kill")
    assert fleet.got == [[("gx/s", 3, False)]]
