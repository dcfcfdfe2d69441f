"""Names, kinds, help texts and label names of the samples :class:`bridges.mqtt.bridge.MqttBridge` exports."""

from __future__ import annotations

DROP_REASONS = ("outbox_full", "outbox_age", "pending_full", "disconnected")
"""The ``reason`` label values of ``sensorcast_mqtt_dropped_total``: the outbox size cap, its age cap, the disk
stalled while ``max_pending_rows`` filled up, QoS 0 while disconnected."""

METRICS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "sensorcast_mqtt_connected": ("gauge", "1 while the MQTT bridge is connected to its broker", ()),
    "sensorcast_mqtt_outbox_rows": (
        "gauge",
        "Readings in the MQTT outbox not yet acknowledged by the broker",
        (),
    ),
    "sensorcast_mqtt_outbox_pending": (
        "gauge",
        "QoS 1 readings held in memory only: neither acknowledged by the broker nor written to the outbox",
        (),
    ),
    "sensorcast_mqtt_inflight": ("gauge", "MQTT publishes awaiting PUBACK", ()),
    "sensorcast_mqtt_published_total": (
        "counter",
        "Readings acknowledged by the broker (QoS 1) or written (QoS 0)",
        (),
    ),
    "sensorcast_mqtt_replayed_total": ("counter", "Readings sent from the on-disk backlog", ()),
    "sensorcast_mqtt_rejected_total": ("counter", "Readings refused by the broker (MQTT 5 reason code)", ()),
    "sensorcast_mqtt_outbox_commits_total": ("counter", "Outbox transactions", ()),
    "sensorcast_mqtt_outbox_written_total": (
        "counter",
        "Readings written to the outbox: not acknowledged within mqtt.ack_window_ms, or sent while disconnected",
        (),
    ),
    "sensorcast_mqtt_outbox_errors_total": ("counter", "Outbox open/write/read failures", ()),
    "sensorcast_mqtt_dropped_total": (
        "counter",
        "Readings dropped by the MQTT bridge, by reason (outbox_full, outbox_age, pending_full, disconnected)",
        ("reason",),
    ),
    "sensorcast_mqtt_connects_total": ("counter", "Successful MQTT connections", ()),
    "sensorcast_mqtt_connect_failures_total": ("counter", "Failed MQTT connection attempts", ()),
    "sensorcast_mqtt_commands_total": ("counter", "Commands received on MQTT command topics", ()),
    "sensorcast_mqtt_command_errors_total": ("counter", "MQTT commands refused or failed", ()),
    "sensorcast_mqtt_coalesced_total": (
        "counter",
        "Readings folded into a rate-limited aggregate instead of published (mqtt.max_rate_hz)",
        (),
    ),
}
"""Kind, help text and label names of every metric the bridge exports (for ``Metrics.describe``): the
unlabelled ones are :meth:`MqttBridge.metrics`, ``sensorcast_mqtt_dropped_total`` is :meth:`MqttBridge.drops`."""
