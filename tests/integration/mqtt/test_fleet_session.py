"""The fleet's persistent MQTT session: readings published while the fleet is down reach it when it is back."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgpack
import pytest

from bridges.mqtt.config import config_from_url
from gateway.fleet.app import FleetApp
from gateway.protocol.model import ReadingTuple
from tests.conftest import scaled
from tests.integration.helpers import make_config
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.fleet_helpers import gateway_config, stop
from tests.integration.mqtt.helpers import spawn_gateway
from tests.integration.mqtt.subscriber import Message, Subscriber

pytestmark = pytest.mark.mqtt


def _ts(m: Message) -> tuple[str, int]:
    """``(<gateway>/<sensor>, ts_ns)`` of a data message as a plain subscriber saw it."""
    _, gw, sensor, _ = m.topic.split("/")
    ts = json.loads(m.payload)["ts_ns"] if m.payload[:1] == b"{" else msgpack.unpackb(m.payload)[2]
    return f"{gw}/{sensor}", int(ts)


async def _until(pred: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + scaled(timeout_s)
    while not pred():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_readings_published_while_the_fleet_is_down_arrive_once(
    broker: Mosquitto, tmp_path: Path, protocol: str
) -> None:
    """Two real gateways (JSON and msgpack payloads) publish throughout; the fleet runs, stops for 2 s and starts
    again with the same config (and data directory, where its ledgers are kept): what its hub delivered across
    both runs is, per sensor, exactly the sequence of readings a plain subscriber saw from the fleet's first
    reading on (none lost while it was down, none twice)."""
    sub = Subscriber(broker.port, ["sensorcast/+/+/data"], client_id="plain").start()
    gws = [
        spawn_gateway(gateway_config(tmp_path, "g1", broker.port)),
        spawn_gateway(gateway_config(tmp_path, "g2", broker.port, payload="msgpack")),
    ]
    got: list[tuple[str, int]] = []

    def sink(batch: Sequence[ReadingTuple]) -> None:
        got.extend((r[3], r[2]) for r in batch if r[3].endswith("/wave"))

    mq = dataclasses.replace(config_from_url(broker.url), protocol=protocol)
    cfg = make_config(gateway={"id": "fleet", "data_dir": str(tmp_path / "fleet-data")})
    try:
        for run in range(2):
            app = FleetApp(cfg, mq)
            app.hub.add_sink(sink)
            async with app:
                assert app.source.client_id == "sensorcast-fleet-fleet"
                n = len(got)
                await _until(
                    lambda n=n: {s for s, _ in got[n:]} == {"g1/wave", "g2/wave"} and len(got) - n >= 40,
                    20,
                    f"fleet run {run}: {len(got) - n} readings",
                )
            if run == 0:
                down_from = len(sub.snapshot())
                await asyncio.sleep(2.0)  # the gateways keep publishing (about 40 readings each)
                assert len(sub.snapshot()) - down_from >= 40
        # Stop the gateways with the fleet still subscribed (third run), so both sides saw the same end.
        app = FleetApp(cfg, mq)
        app.hub.add_sink(sink)
        async with app:
            for g in gws:
                stop(g)
            await asyncio.sleep(1.0)
            seen = len(sub.snapshot())
            await _until(lambda: len(sub.snapshot()) == seen, 5, "quiet")
            await asyncio.sleep(1.0)
    finally:
        for g in gws:
            stop(g)
        sub.stop()
    plain = [_ts(m) for m in sub.snapshot() if not m.retain]
    for sensor in ("g1/wave", "g2/wave"):
        fleet_ts = [t for s, t in got if s == sensor]
        plain_ts = [t for s, t in plain if s == sensor]
        assert len(fleet_ts) == len(set(fleet_ts)), f"{sensor}: a reading delivered twice"
        assert fleet_ts == plain_ts[plain_ts.index(fleet_ts[0]) :], sensor
