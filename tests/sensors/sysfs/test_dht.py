"""DHT11/DHT22 via IIO: values, transient EIO/ETIMEDOUT as retries, persistent faults as failures."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from sensors.errors import ConfigError, SensorError
from sensors.sim.emulators import context_with_emulators
from sensors.sim.sysfs import FakeSysfs
from sensors.spec import DeviceSpec
from sensors.sysfs.dht import DhtSensor, build


@pytest.fixture
def tree(tmp_path: Path) -> FakeSysfs:
    t = FakeSysfs(str(tmp_path))
    t.write("sys/bus/iio/devices/iio:device0/name", "mcp3008\n")  # another IIO device comes first
    t.set_dht(23.4, 45.6, device="iio:device1")
    return t


class Clock:
    """Seconds that advance by what the driver sleeps, plus a fixed cost per read."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def make(tree: FakeSysfs, clock: Clock | None = None, **options: object) -> DhtSensor:
    spec = DeviceSpec("climate", str(options.pop("driver", "dht22")), "sensors[1]", 3.0, False, dict(options))
    sensor = build(spec, context_with_emulators(sysfs_root=tree.sysfs_root))
    # Same device directory, but with the tree's fault-injecting reader and a test clock.
    c = clock or Clock()
    return DhtSensor(
        sensor.info,
        sensor.device_dir,
        reader=tree.read_text,
        retries=sensor.retries,
        retry_delay_s=sensor.retry_delay_s,
        max_transient_polls=sensor.max_transient_polls,
        sleep=c.sleep,
        clock=c,
    )


def test_finds_the_device_by_name_and_reads_milli_units(tree: FakeSysfs) -> None:
    """The IIO device named dht11 is found; milli-°C and milli-%RH become °C and %."""
    sensor = make(tree)
    assert sensor.bus_id == "iio:iio:device1"
    sensor.open()
    assert sensor.read() == {"temperature_c": 23.4, "humidity_pct": 45.6}
    assert [(f.name, f.min, f.max) for f in sensor.info.fields] == [
        ("temperature_c", -40.0, 80.0),
        ("humidity_pct", 0.0, 100.0),
    ]
    assert [(f.min, f.max) for f in make(tree, driver="dht11").info.fields] == [(0.0, 50.0), (20.0, 90.0)]


def test_transient_errors_are_retried_within_the_poll(tree: FakeSysfs) -> None:
    """EIO then ETIMEDOUT then success: one poll returns the value after two short pauses."""
    clock = Clock()
    sensor = make(tree, clock)
    tree.inject(tree.path("sys/bus/iio/devices/iio:device1/in_temp_input"), errno.EIO, errno.ETIMEDOUT)
    assert sensor.read() == {"temperature_c": 23.4, "humidity_pct": 45.6}
    assert clock.slept == [0.1, 0.1]
    assert sensor.transient_errors == 2


def test_persistent_transient_errors_give_empty_polls_then_a_failure(tree: FakeSysfs) -> None:
    """Only-EIO polls return {} (no error) until max_transient_polls, then raise; a value resets it."""
    sensor = make(tree, max_transient_polls=3)
    path = tree.path("sys/bus/iio/devices/iio:device1/in_humidityrelative_input")
    tree.inject(path, *[errno.EIO] * 9)
    assert sensor.read() == {}
    assert sensor.read() == {}
    with pytest.raises(SensorError, match="no valid DHT reading in 3 polls"):
        sensor.read()
    reads = tree.reads_total
    with pytest.raises(SensorError, match="no valid DHT reading in 3 polls"):
        sensor.read()  # the poller's immediate retry does not wake the sensor again
    assert tree.reads_total == reads
    sensor._clock.now += 1.0  # type: ignore[attr-defined]  # the next poll, a moment later
    assert sensor.read() == {"temperature_c": 23.4, "humidity_pct": 45.6}
    assert sensor.transient_streak == 0


def test_retry_budget_stops_attempts_after_slow_timeouts(tree: FakeSysfs) -> None:
    """When a timed-out kernel read already took the budget, no further attempt starts in this poll."""
    clock = Clock()
    sensor = make(tree, clock)
    path = tree.path("sys/bus/iio/devices/iio:device1/in_temp_input")
    original = tree.read_text

    def slow_timeout(p: str) -> str:
        if p == path:
            clock.now += 1.0  # the kernel waits HZ for the sensor before -ETIMEDOUT
            raise OSError(errno.ETIMEDOUT, "Connection timed out", p)
        return original(p)

    sensor._read = slow_timeout
    assert sensor.read() == {}
    assert clock.now == pytest.approx(1.1)  # one attempt, one pause, then the budget (0.9 s) is spent


def test_device_gone_is_a_failure_at_once(tree: FakeSysfs) -> None:
    """ENODEV (overlay removed) raises immediately; a missing device directory fails open()."""
    sensor = make(tree)
    tree.inject(tree.path("sys/bus/iio/devices/iio:device1/in_temp_input"), errno.ENODEV)
    with pytest.raises(SensorError, match="cannot read"):
        sensor.read()
    tree.remove("sys/bus/iio/devices/iio:device1")
    with pytest.raises(SensorError, match="dtoverlay=dht11"):
        sensor.open()
    with pytest.raises(SensorError):
        sensor.read()


def test_config_errors(tree: FakeSysfs, tmp_path: Path) -> None:
    """A malformed device name is a ConfigError; no dht11 device yet is an OSError (build retried)."""
    with pytest.raises(ConfigError, match="iio:device0") as info:
        make(tree, device="dht0")
    assert info.value.key == "sensors[1].device"
    empty = FakeSysfs(str(tmp_path / "empty"))
    with pytest.raises(SensorError, match="dtoverlay=dht11,gpiopin=N"):
        make(empty)
    assert make(tree, device="iio:device1").device_dir.endswith("iio:device1")


def test_simulated_dht22_reads_through_its_flaky_emulated_driver() -> None:
    """simulate=true: the demo DHT22 answers despite its 10 % EIO rate (retries absorb it)."""
    ctx = context_with_emulators(simulate=True)
    sensor = build(DeviceSpec("climate", "dht22", "sensors[0]", 3.0, True, {}), ctx)
    try:
        sensor.open()
        readings = [sensor.read() for _ in range(30)]
        assert sum(1 for r in readings if r) >= 28
        assert all(set(r) == {"temperature_c", "humidity_pct"} for r in readings if r)
        assert sensor.info.simulated
    finally:
        ctx.resources["sim:sysfs"].close()
