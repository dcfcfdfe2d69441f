"""Kernel-provided sensors read as sysfs files: 1-Wire DS18B20 (w1-gpio + w1_therm) and DHT11/DHT22 (IIO
``dht11`` driver). Light: nothing is imported until a driver is built.
"""

from typing import Any

SENSOR_DRIVERS: dict[str, str] = {
    "ds18b20": "sensors.sysfs.w1:build",
    "dht11": "sensors.sysfs.dht:build",
    "dht22": "sensors.sysfs.dht:build",
}

DEMO: list[dict[str, Any]] = [
    {"id": "probe", "driver": "ds18b20", "interval_s": 5, "simulate": True},
    {"id": "climate", "driver": "dht22", "interval_s": 3, "simulate": True},
]
