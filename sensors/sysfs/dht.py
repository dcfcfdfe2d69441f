"""Aosong DHT11 / DHT22 (AM2302) through the kernel's IIO ``dht11`` driver (``dtoverlay=dht11,gpiopin=N``).

Reference: Linux ``drivers/iio/humidity/dht11.c`` (handles both models; values in milli-°C and milli-%RH;
a reading is cached for 2 s; a bad checksum or a lost edge returns ``EIO``, no answer ``ETIMEDOUT``);
Aosong AM2302 datasheet (range -40..80 °C, 0..100 %RH; DHT11: 0..50 °C, 20..90 %RH).

The bit-banged protocol fails often on a busy Linux system, so ``EIO``/``ETIMEDOUT``/``EAGAIN`` are retried
within the poll and, if they persist, the poll yields no reading rather than an error. Only a run of
``max_transient_polls`` such polls, or the device disappearing, is reported as a failure.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable

from sensors import buses
from sensors.base import BuildContext, FieldSpec, Sensor, SensorInfo, Values
from sensors.buses import ListDir, PathTest
from sensors.errors import SensorError
from sensors.spec import DeviceSpec
from sensors.sysfs.files import TextReader, read_text

TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.ETIMEDOUT, errno.EAGAIN})
RANGES = {"dht11": ((0.0, 50.0), (20.0, 90.0)), "dht22": ((-40.0, 80.0), (0.0, 100.0))}


def find_device(
    iio_dir: str, reader: TextReader = read_text, list_dir: ListDir = buses.list_dir
) -> str | None:
    """Return the first IIO device directory named ``dht11`` (the kernel driver's name for both models)."""
    try:
        names = list_dir(iio_dir)
    except OSError:
        return None
    for path in (os.path.join(iio_dir, n) for n in sorted(names) if n.startswith("iio:device")):
        try:
            if reader(os.path.join(path, "name")).strip() == "dht11":
                return path
        except OSError:
            continue
    return None


class DhtSensor(Sensor):
    """DHT11/DHT22 via IIO: fields ``temperature_c`` and ``humidity_pct``.

    Args:
        info: catalogue entry.
        device_dir: ``<sysfs>/bus/iio/devices/iio:deviceN``.
        reader: sysfs reader.
        retries: extra attempts within one poll after a transient error.
        retry_delay_s: pause between attempts (the sensor needs a moment after a failed start signal).
        max_transient_polls: consecutive polls without a reading before the sensor is reported failing.
        retry_budget_s: no new attempt starts after this long in one poll (a timed-out kernel read takes 1 s,
            and the poll must finish within the gateway's read timeout, 2 s by default).
        sleep: sleep function (injected for tests).
        clock: monotonic seconds (injected for tests).
        is_dir: directory test (the build context's tree: recorded and replayed with the reads).
    """

    def __init__(
        self,
        info: SensorInfo,
        device_dir: str,
        *,
        reader: TextReader = read_text,
        retries: int = 2,
        retry_delay_s: float = 0.1,
        max_transient_polls: int = 5,
        retry_budget_s: float = 0.9,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        is_dir: PathTest = os.path.isdir,
    ) -> None:
        super().__init__(info)
        self.device_dir = device_dir
        self.bus_id = f"iio:{os.path.basename(device_dir)}"
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self.max_transient_polls = max_transient_polls
        self._read = reader
        self._sleep = sleep
        self._clock = clock
        self._is_dir = is_dir
        self.retry_budget_s = retry_budget_s
        self.transient_errors = 0
        self.transient_streak = 0
        self._gave_up_s: float | None = None

    def open(self) -> None:
        """Check that the IIO device exists.

        Raises:
            SensorError: the overlay is not loaded or the device directory vanished.
        """
        if not self._is_dir(self.device_dir):
            raise SensorError(errno.ENODEV, f"{self.device_dir} not found (is dtoverlay=dht11 loaded?)")

    def _attempt(self) -> tuple[float, float]:
        temp_mc = int(self._read(os.path.join(self.device_dir, "in_temp_input")))
        rh_m = int(self._read(os.path.join(self.device_dir, "in_humidityrelative_input")))
        return temp_mc / 1000.0, rh_m / 1000.0

    def read(self) -> Values:
        """Return temperature and humidity, or ``{}`` after transient errors (not a failure).

        Raises:
            SensorError: the device is gone, or ``max_transient_polls`` polls in a row produced nothing.
        """
        start_s = self._clock()
        if self._gave_up_s is not None and start_s - self._gave_up_s < self.retry_budget_s:
            # The poller re-reads at once after a failure; another round of slow attempts would only run past
            # its read timeout, so the verdict of a moment ago stands.
            raise SensorError(errno.EIO, f"no valid DHT reading in {self.transient_streak} polls")
        self._gave_up_s = None
        for attempt in range(self.retries + 1):
            if attempt and self._clock() - start_s > self.retry_budget_s:
                break
            try:
                temp_c, rh_pct = self._attempt()
            except OSError as exc:
                if exc.errno not in TRANSIENT_ERRNOS:
                    raise SensorError(exc.errno or errno.EIO, f"cannot read {self.device_dir}") from exc
                self.transient_errors += 1
                if attempt < self.retries:
                    self._sleep(self.retry_delay_s)
                continue
            except ValueError as exc:
                raise SensorError(errno.EIO, f"unexpected text in {self.device_dir}") from exc
            self.transient_streak = 0
            return {"temperature_c": round(temp_c, 2), "humidity_pct": round(rh_pct, 2)}
        self.transient_streak += 1
        if self.transient_streak >= self.max_transient_polls:
            self._gave_up_s = self._clock()
            raise SensorError(errno.EIO, f"no valid DHT reading in {self.transient_streak} polls")
        return {}


def build(spec: DeviceSpec, ctx: BuildContext) -> DhtSensor:
    """Build a DHT11/DHT22 from config.

    Options: ``device`` (``iio:device0``; default: the first IIO device named ``dht11``), ``retries`` (2),
    ``retry_delay_s`` (0.1), ``max_transient_polls`` (5). ``interval_s`` should be at least 2 (the kernel
    caches a reading for 2 s; the sensor itself needs 1 s (DHT11) or 2 s (DHT22) between conversions).
    """
    spec.check_unknown(["device", "retries", "retry_delay_s", "max_transient_polls"])
    if spec.simulate:
        ctx.emulated().sysfs(ctx).ensure_dht_demo()
    tree = ctx.files(spec.simulate)
    sysfs_root, reader = tree.sysfs_root, tree.read_text
    iio_dir = os.path.join(sysfs_root, "bus", "iio", "devices")
    device = spec.opt_str("device", "")
    if device:
        if not device.startswith("iio:device") or not device[10:].isdigit():
            raise spec.error("device", f"expected an IIO device name like 'iio:device0', got {device!r}")
        device_dir = os.path.join(iio_dir, device)
    else:
        found = find_device(iio_dir, reader, tree.list_dir)
        if found is None:
            # The overlay may not be loaded yet: an OSError lets the gateway retry the build with backoff.
            raise SensorError(
                errno.ENODEV,
                f"no IIO device named dht11 under {iio_dir} (add dtoverlay=dht11,gpiopin=N to config.txt, "
                'or name it: device = "iio:device0")',
            )
        device_dir = found
    (t_lo, t_hi), (h_lo, h_hi) = RANGES["dht11" if spec.driver == "dht11" else "dht22"]
    fields = (
        FieldSpec("temperature_c", "°C", "float", "temperature", t_lo, t_hi),
        FieldSpec("humidity_pct", "%", "float", "humidity", h_lo, h_hi),
    )
    info = SensorInfo(
        spec.id,
        spec.driver,
        fields,
        spec.interval_s,
        simulated=spec.simulate,
        description="temperature and humidity (IIO dht11 driver)",
        model=spec.driver.upper(),
    )
    return DhtSensor(
        info,
        device_dir,
        reader=reader,
        retries=spec.opt_int("retries", 2, min=0, max=10),
        retry_delay_s=spec.opt_float("retry_delay_s", 0.1, min=0.0, max=1.0),
        max_transient_polls=spec.opt_int("max_transient_polls", 5, min=1, max=1000),
        sleep=ctx.sleep,
        clock=ctx.clock(spec.id),
        is_dir=tree.is_dir,
    )
