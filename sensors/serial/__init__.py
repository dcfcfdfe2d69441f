"""Serial-port sensors (pyserial, any URL ``serial_for_url`` accepts): NMEA GPS, Plantower PMS5003/7003, and
line protocols from microcontrollers (JSON lines, CSV with a header, key=value).

This module stays light: no pyserial import until a driver is built.
"""

from typing import Any

SENSOR_DRIVERS: dict[str, str] = {
    "nmea_gps": "sensors.serial.gps:build",
    "pms5003": "sensors.serial.pms:build",
    "pms7003": "sensors.serial.pms:build",
    "serial_lines": "sensors.serial.lines:build",
}

DEMO: list[dict[str, Any]] = [
    {"id": "gps", "driver": "nmea_gps", "interval_s": 0, "simulate": True},
    {"id": "air", "driver": "pms5003", "interval_s": 0, "simulate": True},
    {
        "id": "mcu",
        "driver": "serial_lines",
        "interval_s": 0,
        "simulate": True,
        "format": "kv",
        "fields": [
            {"name": "soil_moisture_pct", "key": "soil", "type": "float", "unit": "%", "min": 0, "max": 100},
            {"name": "light_lux", "key": "lux", "type": "float", "unit": "lx", "min": 0},
            {"name": "pump_on", "key": "pump", "type": "bool"},
            {"name": "uptime_s", "key": "ms", "type": "float", "unit": "s", "scale": 0.001},
        ],
    },
]
