"""One bridge per outbox: a second gateway on the same data_dir keeps its MQTT bridge off (one error) instead of
publishing and deleting the first one's rows."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest

from bridges.mqtt.bridge import OUTBOX_FILE, MqttBridge
from bridges.mqtt.claim import claim
from tests.conftest import scaled
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.helpers import bridge_running, json_seqs, mqtt_config, until
from tests.integration.mqtt.seam_impl import TestCommands, TestSource
from tests.integration.mqtt.subscriber import Subscriber

pytestmark = pytest.mark.mqtt


async def test_a_second_bridge_on_the_same_outbox_stays_off(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While one bridge holds mqtt-outbox.db, a second on the same data_dir logs one error naming the file and
    the holder's PID and returns from run() without connecting; its readings never reach the broker, the first
    bridge delivers its own once each. Once the first stops, the claim is free again."""
    sub = Subscriber(broker.port, ["sc/+/+/data"]).start()
    first_src, second_src = TestSource(boot_id="boot1"), TestSource(boot_id="boot2")
    cfg = mqtt_config(broker.url, topic_prefix="sc")
    try:
        async with bridge_running(cfg, first_src, TestCommands(first_src), tmp_path) as first:
            await until(lambda: first.metrics()["sensorcast_mqtt_connected"] == 1.0, what="connect")
            second = MqttBridge(cfg, second_src, TestCommands(second_src), tmp_path)
            with caplog.at_level(logging.WARNING, logger="bridges.mqtt"):
                await asyncio.wait_for(second.run(), scaled(10))
            assert (second.refused, second_src.sinks, second.metrics()["sensorcast_mqtt_connected"]) == (
                True,
                [],
                0.0,
            )
            second_src.emit(20)
            first_src.emit(30)
            await until(lambda: len(json_seqs(sub.snapshot())) >= 30, what="30 readings")
            await asyncio.sleep(0.3)  # a late duplicate or a reading of the second bridge would show up now
    finally:
        sub.stop()
    assert [r.getMessage() for r in caplog.records] == [
        f"MQTT: the outbox {tmp_path / OUTBOX_FILE} is in use by process {os.getpid()} (a second gateway with"
        " this data_dir?); the MQTT bridge is off for this run"
    ]
    data = [json.loads(m.payload) for m in sub.snapshot()]
    assert [(d["boot"], d["seq"]) for d in data] == [("boot1", n) for n in range(1, 31)]
    again = claim(tmp_path / f"{OUTBOX_FILE}.lock")
    try:
        assert (again.refused, again.fd is not None) == (False, True)
    finally:
        again.release()
