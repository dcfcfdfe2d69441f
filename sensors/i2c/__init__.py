"""I2C sensor drivers on smbus2 (or any object with its methods): one registers / codec / driver set per chip.

This module stays light: no smbus2 or driver import happens until a configured driver is built. Every
driver takes ``bus`` (default 1, i.e. /dev/i2c-1) and ``address``; docs/sensors/i2c.md lists the rest.
"""

from typing import Any

SENSOR_DRIVERS: dict[str, str] = {
    "bme280": "sensors.i2c.bme280:build",
    "bmp280": "sensors.i2c.bme280:build",
    "sht3x": "sensors.i2c.sht3x:build",
    "bh1750": "sensors.i2c.bh1750:build",
    "ads1115": "sensors.i2c.ads1x15:build",
    "ads1015": "sensors.i2c.ads1x15:build",
    "ina219": "sensors.i2c.ina219:build",
    "mpu6050": "sensors.i2c.mpu6050:build",
}

DEMO: list[dict[str, Any]] = [
    {"id": "env", "driver": "bme280", "simulate": True, "interval_s": 1.0, "bus": 1, "address": 0x76},
    {"id": "rh", "driver": "sht3x", "simulate": True, "interval_s": 2.0, "bus": 1, "address": 0x44},
    {"id": "light", "driver": "bh1750", "simulate": True, "interval_s": 1.0, "bus": 1, "address": 0x23},
    {
        "id": "adc",
        "driver": "ads1115",
        "simulate": True,
        "interval_s": 0.5,
        "bus": 1,
        "address": 0x48,
        "channels": [
            {"field": "pot_v", "input": "a0"},
            {"field": "thermistor_v", "input": "a1", "full_scale_v": 2.048},
            {"field": "ref_v", "input": "a2"},
        ],
    },
    {"id": "power", "driver": "ina219", "simulate": True, "interval_s": 0.5, "bus": 1, "address": 0x40},
    {
        "id": "imu",
        "driver": "mpu6050",
        "simulate": True,
        "interval_s": 0.2,
        "bus": 1,
        "address": 0x68,
        "fifo": True,
        "sample_rate_hz": 100.0,
    },
]
