"""A config reload with the MQTT bridge on the real Mosquitto: Home Assistant discovery follows the new sensors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Config
from tests.integration.helpers import make_config, running, synthetic
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.helpers import until
from tests.integration.mqtt.subscriber import Subscriber

pytestmark = pytest.mark.mqtt


def _config(broker: Mosquitto, tmp_path: Path, *sensors: str) -> Config:
    mqtt = {"url": broker.url, "commit_interval_ms": 20, "reconnect_min_s": 0.1}
    return make_config(
        sensors=[synthetic(s, 0.5, ("a",)) for s in sensors], mqtt=mqtt, gateway={"data_dir": str(tmp_path)}
    )


async def test_reload_publishes_discovery_for_added_sensors_and_clears_removed_ones(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """After a reload that adds `fresh` and removes `gone`, `fresh` has a retained discovery config and every
    retained discovery topic of `gone` is cleared (an empty retained payload), without a reconnect."""
    sub = Subscriber(broker.port, ["homeassistant/#"]).start()
    try:
        async with running(_config(broker, tmp_path, "keep", "gone")) as app:

            def configs(sensor: str) -> dict[str, bytes]:
                """Latest payload of every discovery topic whose config named the sensor's data topic."""
                msgs = sub.snapshot()
                named = {m.topic for m in msgs if f"sensorcast/test/{sensor}/".encode() in m.payload}
                return {m.topic: m.payload for m in msgs if m.topic in named}

            await until(lambda: bool(configs("gone")), what="discovery of gone")
            connects = app.bridge.metrics()["sensorcast_mqtt_connects_total"]  # type: ignore[union-attr]
            await app.reload(_config(broker, tmp_path, "keep", "fresh"))
            await until(lambda: bool(configs("fresh")), what="discovery of fresh")
            await until(lambda: all(p == b"" for p in configs("gone").values()), what="gone cleared")
            assert app.bridge.metrics()["sensorcast_mqtt_connects_total"] == connects  # type: ignore[union-attr]
    finally:
        sub.stop()
