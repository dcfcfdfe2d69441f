"""The host itself as a sensor: CPU/GPU temperature, Raspberry Pi throttling flags, load, memory, disk,
network and uptime, read from /sys and /proc (roots injectable, so tests use a fake tree). Light module.
"""

from typing import Any

SENSOR_DRIVERS: dict[str, str] = {
    "system": "sensors.system.host:build",
}

DEMO: list[dict[str, Any]] = [
    # The demo reads the real host (simulate=true keeps sim_board="host": /sys and /proc exist everywhere).
    {"id": "system", "driver": "system", "interval_s": 2, "simulate": True},
]
