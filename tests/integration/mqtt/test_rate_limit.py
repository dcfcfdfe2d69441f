"""mqtt.max_rate_hz against the real Mosquitto: a fast sensor publishes once per period with its aggregate, a
slow one reading by reading, and the chain of seqs stays unbroken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import client, make_config, running, synthetic
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.helpers import until
from tests.integration.mqtt.subscriber import Subscriber

pytestmark = pytest.mark.mqtt


async def test_a_100_hz_sensor_publishes_at_the_rate_limit_with_aggregates(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """At 100 Hz with max_rate_hz = 4, the sensor's MQTT messages come about 4 a second, each an aggregate of the
    readings since the previous one (agg.n, coalesced flag, mean within [min, max]); their prev/seq chain has no
    gap, and the readings they stand for add up to every reading the WebSocket path carried. A sensor with
    publish_period_s = 0 goes out reading by reading."""
    sub = Subscriber(broker.port, ["sensorcast/test/+/data"]).start()
    mqtt = {"url": broker.url, "commit_interval_ms": 20, "max_rate_hz": 4, "publish_period_s": {"slow": 0}}
    cfg = make_config(
        sensors=[synthetic("imu", 0.01, ("ax",)), synthetic("slow", 0.2, ("t",))],
        mqtt=mqtt,
        gateway={"data_dir": str(tmp_path)},
    )
    try:
        async with running(cfg) as app, client(app.url) as c:
            await c.next()
            ws: list[list[object]] = []
            while not [r for r in ws if r[3] == "imu" and int(r[0]) > 0] or len(ws) < 200:  # ~2 s of readings
                ws += (await c.until(lambda f: f["t"] == "data"))["r"]
            last_imu = max(int(r[0]) for r in ws if r[3] == "imu")  # type: ignore[call-overload]

            def imu_seqs() -> set[int]:
                return {json.loads(m.payload)["seq"] for m in sub.snapshot() if "/imu/" in m.topic}

            await until(
                lambda: max(imu_seqs(), default=0) >= last_imu, what="the aggregate covering the last"
            )
    finally:
        sub.stop()
    imu = [json.loads(m.payload) for m in sub.snapshot() if "/imu/" in m.topic]
    imu = [m for m in imu if m["seq"] <= last_imu]
    slow = [json.loads(m.payload) for m in sub.snapshot() if "/slow/" in m.topic]
    ws_imu = [r for r in ws if r[3] == "imu"]
    span_s = (imu[-1]["ts_ns"] - imu[0]["ts_ns"]) / 1e9
    assert len(imu) <= span_s * 4 + 2, (len(imu), span_s)
    assert [m["prev"] for m in imu[1:]] == [m["seq"] for m in imu[:-1]]
    aggregated = [m for m in imu if "agg" in m]
    assert len(aggregated) >= len(imu) - 2 and all(m["flags"] & 4 for m in aggregated)
    for m in aggregated:
        lo, hi, mean, last = m["agg"]["fields"]["ax"]
        assert lo <= mean <= hi and lo <= last <= hi and m["values"]["ax"] == mean and m["agg"]["n"] >= 2
    # Each message covers the readings after its predecessor's seq up to its own. The WebSocket client only saw
    # readings from its connection on, so compare from the first message whose span starts after that.
    first_ws = min(int(r[0]) for r in ws_imu)  # type: ignore[call-overload]
    k = next(i for i in range(1, len(imu)) if imu[i - 1]["seq"] >= first_ws - 1)
    covered = sum(m["agg"]["n"] if "agg" in m else 1 for m in imu[k:])
    start, end = imu[k - 1]["seq"], imu[-1]["seq"]
    assert end - start >= 100  # about a second of the 100 Hz sensor is compared at least
    assert covered == sum(1 for r in ws_imu if start < int(r[0]) <= end)  # type: ignore[call-overload]
    assert slow and not any("agg" in m for m in slow)
    assert [m["prev"] for m in slow[1:]] == [m["seq"] for m in slow[:-1]]
