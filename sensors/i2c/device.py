"""What every I2C driver shares: the bus protocol, one addressed device, plausibility checks, bus lookup.

Drivers take any object with the ``smbus2.SMBus`` methods (:class:`SMBusLike`): a real ``smbus2.SMBus`` on a
board, the emulated bus a simulated build context hands out in demo mode and tests.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sensors.base import BuildContext, FieldSpec
from sensors.buses import SMBusLike as SMBusLike
from sensors.errors import ImplausibleReading, SensorError
from sensors.spec import DeviceSpec

I2C_M_RD = 0x0001
T = TypeVar("T")


class I2CDevice:
    """One chip at one address; turns bus ``OSError`` into :class:`SensorError` naming bus and address.

    Multi-byte registers are read as I2C block reads (big-endian chips: ADS1115, INA219, MPU-6050,
    SHT3x) rather than SMBus word reads, which are little-endian on the wire.

    A transfer NACKed (errno 121) is repeated ``nack_retries`` times at once. That is safe for every
    transfer these drivers make: a NACK on the address byte means the chip took no part; a NACK on a
    register-pointer byte leaves nothing half done; re-writing a configuration value or re-sending a
    measurement command is idempotent. Long cables and marginal pull-ups make single NACKs common on a Pi.

    Args:
        bus: the SMBus-like object.
        address: 7-bit address.
        bus_name: for messages, e.g. ``i2c-1``.
        nack_retries: immediate repeats of a NACKed transfer.
    """

    def __init__(self, bus: SMBusLike, address: int, bus_name: str = "i2c", nack_retries: int = 1) -> None:
        self.bus = bus
        self.address = address
        self.bus_name = bus_name
        self.nack_retries = nack_retries
        self.nacks_retried = 0

    def _fail(self, exc: OSError, what: str) -> SensorError:
        code = exc.errno if exc.errno is not None else errno.EIO
        return SensorError(code, f"{self.bus_name} {self.address:#04x}: {what} failed: {os.strerror(code)}")

    def _call(self, fn: Callable[[], T], what: Callable[[], str]) -> T:
        for attempt in range(self.nack_retries + 1):
            try:
                return fn()
            except OSError as exc:
                if exc.errno == errno.EREMOTEIO and attempt < self.nack_retries:
                    self.nacks_retried += 1
                    continue
                raise self._fail(exc, what()) from exc
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def read_u8(self, register: int) -> int:
        """Read one byte register."""
        return self._call(
            lambda: self.bus.read_byte_data(self.address, register),
            lambda: f"read of register {register:#04x}",
        )

    def write_u8(self, register: int, value: int) -> None:
        """Write one byte register."""
        self._call(
            lambda: self.bus.write_byte_data(self.address, register, value & 0xFF),
            lambda: f"write of register {register:#04x}",
        )

    def read_block(self, register: int, length: int) -> bytes:
        """Read ``length`` bytes from ``register`` on (auto-increment), as one transfer."""
        return self._call(
            lambda: bytes(self.bus.read_i2c_block_data(self.address, register, length)),
            lambda: f"read of {length} bytes at {register:#04x}",
        )

    def write_block(self, register: int, data: Sequence[int]) -> None:
        """Write ``data`` from ``register`` on, as one transfer."""
        self._call(
            lambda: self.bus.write_i2c_block_data(self.address, register, list(data)),
            lambda: f"write of {len(data)} bytes at {register:#04x}",
        )

    def read_be16(self, register: int) -> int:
        """Read a big-endian unsigned 16-bit register."""
        data = self.read_block(register, 2)
        return (data[0] << 8) | data[1]

    def write_be16(self, register: int, value: int) -> None:
        """Write a big-endian 16-bit register."""
        self.write_block(register, [(value >> 8) & 0xFF, value & 0xFF])

    def send(self, data: Sequence[int]) -> None:
        """Write raw bytes (a command without register semantics) as one transfer."""

        def write() -> None:
            if len(data) == 1:
                self.bus.write_byte(self.address, data[0])
            else:
                self.bus.write_i2c_block_data(self.address, data[0], list(data[1:]))

        self._call(write, lambda: f"command {bytes(data).hex()}")

    def receive(self, length: int) -> bytes:
        """Read ``length`` raw bytes (no register pointer write first), via a plain I2C read message."""
        from smbus2 import i2c_msg  # pure Python, no hardware access; lazy to keep imports light

        def read() -> bytes:
            msg = i2c_msg.read(self.address, length)
            self.bus.i2c_rdwr(msg)
            return bytes(msg)

        return self._call(read, lambda: f"read of {length} bytes")

    def read_long(self, register: int, length: int) -> bytes:
        """Read ``length`` bytes from ``register`` in ONE combined transfer (pointer write + read).

        Unlike SMBus block reads this is not limited to 32 bytes (Linux I2C_RDWR allows 8192 per message),
        which is what makes FIFO bursts cheap.
        """
        from smbus2 import i2c_msg  # pure Python, no hardware access

        def read() -> bytes:
            write, msg = i2c_msg.write(self.address, [register]), i2c_msg.read(self.address, length)
            self.bus.i2c_rdwr(write, msg)
            return bytes(msg)

        return self._call(read, lambda: f"burst read of {length} bytes at {register:#04x}")


def check_plausible(fields: Iterable[FieldSpec], values: Mapping[str, Any], where: str) -> None:
    """Raise :class:`ImplausibleReading` if a value is outside its field's ``min``/``max``.

    Args:
        fields: the sensor's field specs.
        values: the reading.
        where: sensor id for the message.
    """
    for spec in fields:
        value = values.get(spec.name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
            raise ImplausibleReading(
                errno.ERANGE, f"{where}: {spec.name}={value} outside plausible {spec.min}..{spec.max}"
            )


def bus_options(spec: DeviceSpec, default_address: int, addresses: Sequence[int]) -> tuple[int, int]:
    """Return the validated ``(bus, address)`` options of ``spec``.

    Args:
        spec: the config entry.
        default_address: address used when the option is absent.
        addresses: addresses the chip can be strapped to.
    """
    bus = spec.opt_int("bus", 1, min=0, max=255)
    address = spec.opt_int("address", default_address, min=0x03, max=0x77)
    if address not in addresses:
        choices = ", ".join(f"{a:#04x}" for a in addresses)
        raise spec.error("address", f"expected one of {choices} for {spec.driver}, got {address:#04x}")
    return bus, address


def open_bus(
    spec: DeviceSpec, ctx: BuildContext, bus: int, address: int, chip: str, **params: Any
) -> SMBusLike:
    """Return the bus for ``spec`` from the build context: the shared real bus or, when simulated, the context's
    emulated bus with an emulated ``chip`` (built with ``params``) attached at ``address``.
    """
    simulate = spec.simulate or ctx.simulate
    if simulate:
        emulated = ctx.emulated()
        fake: Any = emulated.i2c_bus(ctx, bus)
        if address in fake.chips:
            raise spec.error(
                "address", f"{address:#04x} on simulated bus {bus} is already used by another sensor"
            )
        fake.attach(address, emulated.i2c_chip(chip, **params))
    return ctx.i2c_bus(bus, simulate)
