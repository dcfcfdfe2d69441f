"""The fleet view: many gateways' MQTT topics -> one hub -> the same WebSocket protocol (docs/fleet.md)."""
