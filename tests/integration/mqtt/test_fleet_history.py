"""The fleet's own history store: every `<gateway>/<sensor>` reading it serves is stored and queryable."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bridges.mqtt.config import config_from_url
from gateway.fleet.app import FleetApp
from tests.conftest import scaled
from tests.integration.helpers import client, make_config
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.fleet_helpers import gateway_config, stop
from tests.integration.mqtt.helpers import spawn_gateway

pytestmark = pytest.mark.mqtt


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=scaled(10)) as resp:
        return int(resp.status), bytes(resp.read())


async def test_the_fleet_stores_each_gateway_sensor_and_answers_history_queries(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """A fleet with its own data_dir: hello lists `history`; g1/wave (20 Hz, so stored as 1 s rollups from its
    retained meta, like on the gateway) is in <data_dir>/fleet-fleet/history.db; a `history` query and GET
    /api/history count, bucket by bucket, exactly the live readings a client got; the gateway's own history.db
    is a different file."""
    gw = spawn_gateway(gateway_config(tmp_path, "g1", broker.port))
    data_dir = tmp_path / "fleet-data"
    cfg = make_config(gateway={"id": "fleet", "data_dir": str(data_dir)}, history={"commit_interval_s": 0.2})
    try:
        async with FleetApp(cfg, config_from_url(broker.url)) as app, client(app.url) as c:
            hello = await c.next()
            assert "history" in hello["caps"]
            live: list[int] = []
            t0 = time.time_ns()
            deadline = time.monotonic() + scaled(20)
            while time.time_ns() - t0 < 3_500_000_000:
                assert time.monotonic() < deadline
                f = await c.next(timeout=10)
                if f["t"] == "data":
                    live += [r[2] for r in f["r"] if r[3] == "g1/wave"]
            await asyncio.sleep(0.6)  # two commits
            first_full = (
                live[0] // 10**9 + 1
            ) * 10**9  # the first whole second the client saw from its start
            last_full = (live[-1] // 10**9) * 10**9  # the bucket still filling is left out
            await c.send({"t": "history", "id": 7, "sensor": "g1/wave", "from": first_full, "to": last_full})
            reply = await c.until(lambda f: f.get("ref") == 7, timeout=scaled(10))
            assert (reply["t"], reply["tier"], reply["fields"]) == ("history", "1s", ["a", "n"])
            counts = [(row[0], row[1][0]) for row in reply["rows"]]
            expected = [
                (b, sum(1 for t in live if b <= t < b + 10**9)) for b in range(first_full, last_full, 10**9)
            ]
            assert counts == expected
            url = (
                f"http://127.0.0.1:{app.port}/api/history?sensor=g1/wave&fields=a&format=json"
                f"&from={first_full / 1e9:.9f}&to={last_full / 1e9:.9f}"
            )
            status, body = await asyncio.to_thread(_get, url)
            doc: dict[str, Any] = json.loads(body)
            assert (status, doc["tier"]) == (200, "1s")
            assert [(r[0], r[1][0]) for r in doc["rows"]] == expected
    finally:
        stop(gw)
    assert (data_dir / "fleet-fleet" / "history.db").is_file()
    assert not (data_dir / "history.db").exists()
