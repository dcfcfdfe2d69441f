"""Two fleets with one client id on one broker: the log says why the connection keeps dropping."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bridges.mqtt.config import config_from_url
from gateway.fleet.app import FleetApp
from tests.conftest import scaled
from tests.integration.helpers import make_config
from tests.integration.mqtt.broker import Mosquitto

pytestmark = pytest.mark.mqtt


async def test_a_session_taken_over_by_a_second_fleet_is_named_in_the_log(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A fleet whose session another fleet with the same client id takes over logs the client id and the cure,
    not only 'connection lost (Unspecified error)'."""
    caplog.set_level(logging.WARNING, logger="gateway.fleet.source")
    mq = config_from_url(broker.url)
    first = FleetApp(make_config(gateway={"id": "fleet", "data_dir": str(tmp_path / "a")}), mq)
    second = FleetApp(make_config(gateway={"id": "fleet", "data_dir": str(tmp_path / "b")}), mq)
    async with first, second:
        deadline = time.monotonic() + scaled(15)
        while not any("connection lost" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "no connection was taken over"
            await asyncio.sleep(0.05)
    lost = [r.getMessage() for r in caplog.records if "connection lost" in r.getMessage()]
    assert "is another fleet connected as client id sensorcast-fleet-fleet?" in lost[0], lost
    assert "need different [fleet] client_id values" in lost[0]
