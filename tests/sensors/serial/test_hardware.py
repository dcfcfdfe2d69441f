"""On a board with real devices (pytest --run-hardware; ports named by environment variables).

SENSORCAST_HW_GPS_URL  e.g. /dev/serial0 (baud from SENSORCAST_HW_GPS_BAUD, default 9600)
SENSORCAST_HW_PMS_URL  e.g. /dev/serial/by-id/usb-1a86_USB_Serial-if00-port0
"""

from __future__ import annotations

import os
import time

import pytest

from sensors.serial.gps import build as build_gps
from sensors.serial.pms import build as build_pms
from sensors.sim.emulators import context_with_emulators
from sensors.spec import DeviceSpec
from tests.conftest import scaled

pytestmark = pytest.mark.hardware


def _url(name: str) -> str:
    url = os.environ.get(name)
    if not url:
        pytest.skip(f"set {name} to the device's port")
    return url


def test_real_gps_streams_valid_sentences() -> None:
    """A real receiver delivers readings within 5 s and at most 1 % of its sentences are faulty."""
    url = _url("SENSORCAST_HW_GPS_URL")
    baud = int(os.environ.get("SENSORCAST_HW_GPS_BAUD", "9600"))
    sensor = build_gps(
        DeviceSpec("gps", "nmea_gps", "hw", 0.0, False, {"url": url, "baudrate": baud}),
        context_with_emulators(),
    )
    sensor.open()
    try:
        deadline = time.monotonic() + scaled(5.0)
        readings = []
        while time.monotonic() < deadline:
            values = sensor.read()
            if values:
                readings.append(values)
    finally:
        sensor.close()
    assert readings, "no NMEA reading in 5 s (wrong baud rate or wiring?)"
    stats = sensor.decoder.stats
    assert stats.errors <= max(1, stats.ok // 100), stats.as_dict()


def test_real_pms_sends_frames_after_wake() -> None:
    """A real PMS5003/7003 is woken, put in active mode and sends a valid frame within 5 s."""
    url = _url("SENSORCAST_HW_PMS_URL")
    sensor = build_pms(DeviceSpec("air", "pms5003", "hw", 0.0, False, {"url": url}), context_with_emulators())
    sensor.open()
    try:
        deadline = time.monotonic() + scaled(5.0)
        values: dict[str, object] = {}
        while not values and time.monotonic() < deadline:
            values = dict(sensor.read())
    finally:
        sensor.close()
    assert values, "no PMS frame in 5 s (5 V supply? TX/RX swapped?)"
    assert 0 <= int(values["pm2_5_ugm3"]) <= 1000  # type: ignore[call-overload]
