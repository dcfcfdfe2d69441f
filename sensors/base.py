"""The contract between drivers and whoever polls them.

A *sensor* is a blocking object on an injected resource (an SMBus-like bus, a pyserial port, a gpiozero pin
factory, a sysfs root). The gateway calls :meth:`Sensor.open`, then :meth:`Sensor.read` on the sensor's own bus
worker thread (one thread per ``bus_id``, so transactions on one physical bus are serialised), and
:meth:`Sensor.close` at shutdown or before re-initialising after a failure.

Push sources (GPIO edges, streaming serial devices) additionally receive an ``emit`` callable through
:meth:`Sensor.attach`; they may call it from any thread with values and the event's own timestamp.

An *actuator* is an output (relay, LED, PWM, servo) that the gateway drives on an ``operator`` command.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sensors.buses import BusTap, Clock, FileTree, Hardware, PortFactory, Sleep, SMBusLike
from sensors.errors import SensorError
from sensors.hardware import REAL_HARDWARE

Value = float | int | bool | str | None
"""A field value as it travels on the wire (msgpack scalar)."""

Values = Mapping[str, Value]

Emit = Callable[[Values, int | None], None]
"""``emit(values, ts_ns)``: thread-safe push of one reading; ``ts_ns=None`` means 'now'."""

FieldKind = Literal["float", "int", "bool", "str"]
FieldSeries = Literal["gauge", "counter", "state"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field a sensor produces.

    Attributes:
        name: field name, unique within the sensor, with its unit in the name where it helps (``temperature_c``).
        unit: unit symbol for display (``"°C"``, ``"Pa"``, ``"%"``, ``""`` for unitless).
        kind: wire type of the value.
        device_class: optional Home Assistant device class (``temperature``, ``pressure``…), used by bridges.
        min: lowest plausible value; readings below are flagged implausible. None: no check.
        max: highest plausible value; None: no check.
        series: what the values mean over time: ``gauge`` (a measurement, the default), ``counter`` (only
            grows, resets at restart: activations, bytes sent, errors) or ``state`` (a category such as a fix
            type: averaging or charting it as a line means nothing). Bridges map it to Home Assistant's
            ``state_class`` (``measurement`` / ``total_increasing`` / none).
    """

    name: str
    unit: str = ""
    kind: FieldKind = "float"
    device_class: str | None = None
    min: float | None = None
    max: float | None = None
    series: FieldSeries = "gauge"


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """Catalogue entry for one configured sensor (what the hello frame advertises)."""

    id: str
    driver: str
    fields: tuple[FieldSpec, ...]
    interval_s: float
    """Nominal poll interval; 0 for push-only / streaming sources."""
    simulated: bool = False
    description: str = ""
    model: str = ""
    """Chip or device model, e.g. ``BME280``; may be refined by :meth:`Sensor.open` (chip-id detection)."""
    readings_per_poll: int = 1
    """Readings a poll delivers (a FIFO burst: every sample of the burst is a reading); the catalogue states the
    reading rate a client sees, ``readings_per_poll / interval_s``."""


class Sensor(abc.ABC):
    """A blocking sensor driver. Subclasses implement :meth:`read`; see the module docstring for the threading."""

    #: Serialisation domain: sensors with the same bus_id are never read concurrently (``"i2c-1"``,
    #: ``"serial:/dev/ttyUSB0"``, ``"sysfs"``, ``"gpio"``).
    bus_id: str = "default"

    #: True for a driver whose ``open``/``read``/``close`` never wait on a device, a file or a lock (pure
    #: computation, e.g. the synthetic source): the poller then calls it on the event loop, not on a bus
    #: thread, so a reading costs no thread handoff (issue 13). A driver that touches a bus, even an
    #: emulated one (which can be told to hang), leaves it False.
    never_blocks: bool = False

    def __init__(self, info: SensorInfo) -> None:
        self.info = info

    def open(self) -> None:  # noqa: B027 - optional hook
        """Initialise the device (probe chip id, read calibration, configure). Called again after a failure."""

    @abc.abstractmethod
    def read(self) -> Values:
        """Take one reading and return its values (blocking).

        Streaming sources block until the next frame arrives or their port timeout passes; they return an empty
        mapping when nothing arrived (which is not an error).

        Raises:
            SensorError: the device could not be read; the poller retries with backoff.
            ImplausibleReading: the device answered with a value it cannot mean.
        """

    def attach(self, emit: Emit) -> None:  # noqa: B027 - optional hook
        """Receive the push callback (edge events). Called once, before :meth:`open`."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device. Must be safe to call more than once and after a failed :meth:`open`."""


@dataclass(frozen=True, slots=True)
class ActuatorInfo:
    """Catalogue entry for one output the gateway may drive.

    Attributes:
        id: target name used in ``command`` messages.
        kind: ``"switch"`` (bool), ``"number"`` (float in [min, max]).
        min: lowest accepted value for numbers.
        max: highest accepted value for numbers.
        safe_value: value applied at shutdown (and on loss of the last operator, if configured).
        min_interval_s: shortest time between two commanded changes (0: no limit). Drivers leave it at 0; the
            gateway sets it from the config key ``min_interval_s`` or the driver's default
            (``gateway.protocol.actuation``).
    """

    id: str
    driver: str
    kind: Literal["switch", "number"]
    min: float = 0.0
    max: float = 1.0
    safe_value: Value = None
    unit: str = ""
    simulated: bool = False
    safe_on_disconnect: bool = False
    min_interval_s: float = 0.0


class Actuator(abc.ABC):
    """A blocking output driver (relay, LED, PWM, servo)."""

    bus_id: str = "gpio"

    def __init__(self, info: ActuatorInfo) -> None:
        self.info = info

    def open(self) -> None:  # noqa: B027 - optional hook
        """Claim the output and put it in its safe state."""

    @abc.abstractmethod
    def apply(self, value: Value) -> Value:
        """Drive the output to ``value`` (already validated) and return the state actually applied."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the output (after the gateway applied the safe value)."""


class Emulators(Protocol):
    """Emulated hardware that a :class:`BuildContext` hands to a driver built with ``simulate``.

    Drivers ask for it through :meth:`BuildContext.emulated` and never import the emulators: the emulator side
    (``sensors.sim.EMULATORS``) depends on the drivers, and the composition root wires it into the context.
    The emulated objects are returned as ``Any``: a driver uses them as it uses the real bus, port or tree.
    """

    def i2c_bus(self, ctx: BuildContext, bus: int) -> Any:
        """The context's shared emulated I2C bus ``bus`` (``attach(address, chip)``, ``chips``)."""

    def i2c_chip(self, chip: str, **params: Any) -> object:
        """A fresh emulated chip of kind ``chip`` (the driver's name for it), built with ``params``."""

    def gpio(self, ctx: BuildContext) -> Any:
        """The context's one emulated GPIO board (``factory``, ``drive_input``, ``adc``)."""

    def attach_echo(
        self, factory: Any, trigger_pin: int, echo_pin: int, distance_m: Callable[[], float]
    ) -> Any:
        """Wire an emulated HC-SR04 to ``factory``'s pins before a distance sensor claims them."""

    def serial_port(
        self,
        ctx: BuildContext,
        key: str,
        device: str,
        period_s: float,
        noise: float,
        seed: int,
        **params: Any,
    ) -> str:
        """Start (once per ``key``) an emulated serial ``device`` on a pty; return the pty's path."""

    def sysfs(self, ctx: BuildContext) -> Any:
        """The context's emulated sysfs tree (``sysfs_root``, ``read_text``, ``write_text``, demo devices)."""

    def host_board(self, ctx: BuildContext, board: str) -> Any:
        """The context's emulated /sys and /proc of a ``board`` (``pi``, ``jetson``)."""


@dataclass(slots=True)
class BuildContext:
    """What a driver factory may use to construct itself, and the one place that hands out buses.

    A driver asks the context for every bus it talks to (:meth:`i2c_bus`, :meth:`serial_port`, :meth:`files`,
    :meth:`pin_factory`, :meth:`clock`, :attr:`sleep`): the context opens the real one (:attr:`hardware`) or
    takes the emulated one (:attr:`emulators`, for devices built with ``simulate``), and passes it through
    :attr:`tap` when the composition root set one (recording, replaying). Drivers never open hardware
    themselves and never learn which kind of bus they got.

    Attributes:
        simulate: build every device on emulated hardware (:attr:`emulators`) instead of real hardware.
        resources: shared objects keyed by name, so sensors on one bus share one bus object
            (e.g. ``"bus:i2c-1"`` -> an ``smbus2.SMBus`` or the emulated bus). Factories use :meth:`shared`.
        sysfs_root: root of /sys (tests point it at a fake tree).
        procfs_root: root of /proc.
        devfs_root: root of /dev.
        data_dir: the gateway's data directory (e.g. for a disk-usage field), when known.
        hardware: opens this machine's real buses.
        tap: wraps (records) or replaces (replays) every bus handed out; None hands them out as they are.
    """

    simulate: bool = False
    resources: dict[str, Any] = field(default_factory=dict)
    sysfs_root: str = "/sys"
    procfs_root: str = "/proc"
    devfs_root: str = "/dev"
    data_dir: str | None = None
    emulators: Emulators | None = None
    """The emulated hardware for devices built with ``simulate`` (wired in by the composition root)."""
    hardware: Hardware = REAL_HARDWARE
    tap: BusTap | None = None

    def emulated(self) -> Emulators:
        """The emulators for a device built with ``simulate``.

        Raises:
            SensorError: this context was built without emulators (a composition root that forgot to wire them).
        """
        if self.emulators is None:
            raise SensorError("simulate needs emulated hardware, and this build context was given none")
        return self.emulators

    def i2c_bus(self, bus: int, simulate: bool) -> SMBusLike:
        """The shared I2C bus ``bus``: ``/dev/i2c-<bus>``, or the emulated bus when ``simulate``.

        Raises:
            SensorError: the real bus cannot be opened (an OSError: the gateway retries the build later).
        """
        key = f"sim:i2c-{bus}" if simulate else f"i2c-{bus}"

        def make() -> SMBusLike:
            if simulate:
                fake: SMBusLike = self.emulated().i2c_bus(self, bus)
                return fake
            return self.hardware.i2c_bus(bus)

        tap = self.tap
        smbus: SMBusLike = self.shared(f"bus:{key}", make if tap is None else lambda: tap.i2c(key, make))
        return smbus

    def serial_port(self, name: str, url: str, baudrate: int, timeout_s: float) -> PortFactory:
        """A factory opening the serial port ``url`` (a path or a ``serial_for_url`` URL) at ``baudrate``, 8N1,
        ``timeout_s`` per read; ``name`` is the device's stable name (its sensor id) for recordings."""

        def make() -> Any:
            return self.hardware.serial_port(url, baudrate, timeout_s)

        return make if self.tap is None else self.tap.serial(f"serial:{name}", make)

    def files(self, simulate: bool, board: str | None = None) -> FileTree:
        """The /sys and /proc tree: this machine's, or when ``simulate`` the emulated sysfs tree (``board``:
        the emulated /sys and /proc of a ``pi`` or ``jetson``)."""
        key = "files" if not simulate else f"sim:files:{board}" if board else "sim:files"

        def make() -> FileTree:
            if simulate:
                emulated = self.emulated()
                tree = emulated.host_board(self, board) if board else emulated.sysfs(self)
                # the disk is this machine's even on an emulated board (the data directory is real)
                usage = self.hardware.disk_usage
                return FileTree(tree.sysfs_root, tree.procfs_root, tree.read_text, tree.write_text, usage)
            hw = self.hardware
            return FileTree(self.sysfs_root, self.procfs_root, hw.read_text, hw.write_text, hw.disk_usage)

        tap = self.tap
        tree: FileTree = self.shared(f"bus:{key}", make if tap is None else lambda: tap.files(key, make))
        return tree

    def pin_factory(self, simulate: bool) -> Any:
        """The shared gpiozero pin factory: the emulated board's when ``simulate``, else the first that works.

        Raises:
            SensorError: no gpiozero pin factory works on this machine.
        """
        key = "sim:gpio" if simulate else "gpio"

        def make() -> Any:
            return self.emulated().gpio(self).factory if simulate else self.hardware.pin_factory()

        tap = self.tap
        shared_key = "gpio-factory" if key == "gpio" else f"bus:{key}"  # tests inject a MockFactory there
        return self.shared(shared_key, make if tap is None else lambda: tap.pin_factory(key, make))

    def gpio_backend(self, key: str, make: Callable[[], Any]) -> Any:
        """The shared GPIO backend ``key`` (``gpiozero``, ``jetson``, ``sim``) that ``make`` builds on the pin
        factory or module this context handed out: input lines and their edges go through :attr:`tap` too."""
        tap = self.tap
        return self.shared(f"gpio-backend:{key}", make if tap is None else lambda: tap.gpio(key, make))

    def jetson_gpio(self) -> Any:
        """The shared ``Jetson.GPIO`` module."""
        return self.shared("jetson-gpio", self.hardware.jetson_gpio)

    def clock(self, name: str) -> Clock:
        """The monotonic clock (seconds) of the driver ``name``: what it reads is part of its exchange."""
        return time.monotonic if self.tap is None else self.tap.clock(f"clock:{name}", time.monotonic)

    @property
    def sleep(self) -> Sleep:
        """The sleep drivers wait with (conversion times)."""
        return time.sleep if self.tap is None else self.tap.sleep(time.sleep)

    def close(self) -> None:
        """Close every shared resource that has a ``close()`` (buses, ports, emulator threads), once."""
        for key, res in list(self.resources.items()):
            close = getattr(res, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):  # best effort: one failure must not skip the rest
                    close()
            del self.resources[key]

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        """Return the resource under ``key``, creating it with ``make`` the first time."""
        if key not in self.resources:
            self.resources[key] = make()
        return self.resources[key]
