"""The pure MQTT modules stay pure: no asyncio, sockets, paho or SQLite behind an import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PURE = [
    "bridges.mqtt.config",
    "bridges.mqtt.topics",
    "bridges.mqtt.payloads",
    "bridges.mqtt.discovery",
    "bridges.mqtt.overflow",
    "bridges.mqtt.metrics",
    "bridges.mqtt.window",
    "bridges.mqtt.throttle",
    "bridges.mqtt.spill",
]


def test_pure_modules_import_no_io() -> None:
    """Importing the pure modules loads none of asyncio, socket, paho, sqlite3."""
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in PURE)
        + "print(sorted(m for m in ('asyncio', 'socket', 'paho', 'sqlite3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_metric_is_described(tmp_path: Path) -> None:
    """MqttBridge.metrics() returns exactly METRICS's unlabelled samples, drops() one per DROP_REASONS (0 to
    start); counters end in _total; every metric has a help text."""
    from bridges.mqtt.bridge import MqttBridge
    from bridges.mqtt.config import MqttConfig
    from bridges.mqtt.metrics import DROP_REASONS, METRICS
    from tests.integration.mqtt.seam_impl import TestCommands, TestSource

    src = TestSource()
    unlabelled = sorted(name for name, (_, _, labels) in METRICS.items() if not labels)
    for qos in (0, 1):
        bridge = MqttBridge(MqttConfig(qos=qos), src, TestCommands(src), tmp_path)
        try:
            assert sorted(bridge.metrics()) == unlabelled
            assert bridge.drops() == dict.fromkeys(DROP_REASONS, 0.0)
        finally:
            bridge.close()
    assert METRICS["sensorcast_mqtt_dropped_total"][2] == ("reason",)
    assert all((kind == "counter") == name.endswith("_total") for name, (kind, _, _) in METRICS.items())
    assert all(help_text for _, help_text, _ in METRICS.values())


def test_close_detaches_the_bridge_and_is_idempotent(tmp_path: Path) -> None:
    """close() on a bridge that never ran removes its sinks from the source and closes the outbox; a second
    close() changes nothing, and readings emitted afterwards no longer reach the bridge."""
    from bridges.mqtt.bridge import MqttBridge
    from bridges.mqtt.config import MqttConfig
    from tests.integration.mqtt.seam_impl import TestCommands, TestSource

    src = TestSource()
    bridge = MqttBridge(MqttConfig(), src, TestCommands(src), tmp_path)
    assert (len(src.sinks), len(src.status_sinks)) == (1, 1)
    bridge.close()
    bridge.close()
    src.emit(3)
    assert (len(src.sinks), len(src.status_sinks), bridge.metrics()["sensorcast_mqtt_outbox_pending"]) == (
        0,
        0,
        0,
    )
