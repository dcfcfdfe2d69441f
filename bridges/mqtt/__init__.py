"""MQTT bridge: hub -> durable outbox -> paho-mqtt driven from the asyncio loop -> broker (see docs/mqtt.md).

Importing this package is cheap; paho-mqtt and sqlite3 are imported by the modules that use them.
"""
