"""Unplug and replug on a real pty behind a stable symlink (what /dev/serial/by-id/... is), end to end."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.buses import BusWorker
from gateway.catalogue import Catalogue
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.poller import SensorRunner
from gateway.protocol.model import Reading
from sensors.base import BuildContext, SensorInfo
from sensors.errors import SensorError
from sensors.health import HealthPolicy
from sensors.serial.gps import FIELDS, NmeaGps
from sensors.sim.nmea import NmeaEmulator
from sensors.sim.serial import Noise, PtyLink, SerialEmulator
from tests.conftest import scaled


def plug(link_path: str, period_s: float = 0.2, noise: float = 0.0) -> SerialEmulator:
    """A GPS emulator on a fresh pty, with ``link_path`` pointing at it."""
    return SerialEmulator(PtyLink(link_path), NmeaEmulator(), period_s, Noise(noise, seed=7)).start()


def make_gps(url: str) -> NmeaGps:
    info = SensorInfo("gps", "nmea_gps", FIELDS, 0.0)
    return NmeaGps(
        info, url, BuildContext().serial_port("gps", url, 9600, 0.05), timeout_s=0.3, stale_after_s=2.0
    )


def read_until(sensor: NmeaGps, key: str, timeout_s: float) -> dict[str, object]:
    """Read until a reading has ``key`` (the first one after open may be the tail of an epoch)."""
    deadline = time.monotonic() + scaled(timeout_s)
    while time.monotonic() < deadline:
        values = sensor.read()
        if key in values:
            return dict(values)
    raise AssertionError(f"no reading with {key} arrived")


def test_unplug_fails_reads_and_replug_on_the_same_path_streams_again(tmp_path: Path) -> None:
    """Pulling the device fails the read; while absent open() fails; the re-pointed link streams again."""
    link = str(tmp_path / "usb-u-blox_GNSS-if00")
    first = plug(link)
    sensor = make_gps(link)
    try:
        sensor.open()
        assert sensor.bus_id == f"serial:{link}"
        assert read_until(sensor, "fix_quality", 3.0)["fix_quality"] == 1
        spare = PtyLink()  # the tty the kernel will give the device when it comes back (ttyUSB1, say)
        first.close()  # unplug: the pty master goes away, reads on the slave fail with EIO
        with pytest.raises(SensorError, match=r"read from .* failed"):
            for _ in range(20):
                sensor.read()
        sensor.close()
        os.unlink(link)
        with pytest.raises(SensorError, match="cannot open"):
            sensor.open()
        spare.point(link)  # re-enumerated: a different tty behind the same stable name
        second = SerialEmulator(spare, NmeaEmulator(), 0.2).start()
        try:
            assert spare.port_path != first.link.port_path
            second.link.write(b"$GPGGA,12345")  # a partial sentence as the device powers up
            sensor.open()
            assert read_until(sensor, "satellites_in_view", 3.0)["satellites_in_view"] == 9
            assert sensor.opens_total == 2
        finally:
            second.close()
    finally:
        sensor.close()
        first.close()


async def test_poller_takes_sensor_offline_and_back_after_replug(tmp_path: Path) -> None:
    """Via the poller: ok -> failing/offline on unplug, recovering -> ok after replug, and data again."""
    link = str(tmp_path / "ttyGPS")
    device = plug(link, noise=0.05)
    sensor = make_gps(link)
    metrics = Metrics()
    catalogue = Catalogue(metrics)
    hub = Hub("test", "boot", metrics=metrics, catalogue=catalogue)
    catalogue.register_sensor(sensor.info)
    states: list[str] = []
    published: list[Reading] = []
    hub.add_status_sink(lambda sensor_id, state, error: states.append(state))
    hub.add_sink(lambda batch: published.extend(Reading(*r) for r in batch))
    policy = HealthPolicy(retries=0, offline_after=2, backoff_initial_s=0.05, backoff_max_s=0.2, jitter=0.0)
    worker = BusWorker(sensor.bus_id)
    runner = SensorRunner(
        sensor, worker, hub, policy, read_timeout_s=2.0, catalogue=catalogue, metrics=metrics
    )
    task = asyncio.create_task(runner.run())

    async def wait_for(cond: Callable[[], object], timeout_s: float) -> None:
        deadline = time.monotonic() + scaled(timeout_s)
        while not cond():
            assert time.monotonic() < deadline, f"timed out; states={states}"
            await asyncio.sleep(0.05)

    replug: SerialEmulator | None = None
    try:
        await wait_for(lambda: "ok" in states and published, 5.0)
        device.close()
        os.unlink(link)
        await wait_for(lambda: states[-1] == "offline", 8.0)
        before = len(published)
        replug = plug(link)
        await wait_for(lambda: states[-1] == "ok" and len(published) > before, 8.0)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await runner.close()
        worker.shutdown()
        device.close()
        if replug:
            replug.close()
    assert states[0] == "ok"
    assert "failing" in states and "offline" in states
    assert states[-2:] == ["recovering", "ok"]
    assert sensor.opens_total >= 2
    assert {r.sensor for r in published} == {"gps"}
