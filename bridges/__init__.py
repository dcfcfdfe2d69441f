"""Bridges from the gateway's reading stream to other transports (MQTT)."""
