"""sensorcast gateway: the asyncio application (CLI, config, hub, WebSocket/HTTP server, dashboard)."""

__version__ = "0.1.0"
