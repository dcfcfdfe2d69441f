"""I2CDevice error mapping and NACK retry, plausibility checks, and real-bus opening errors."""

from __future__ import annotations

import errno

import pytest

from sensors.base import FieldSpec
from sensors.errors import ImplausibleReading, SensorError
from sensors.i2c.bme280 import build as build_bme280
from sensors.i2c.device import I2CDevice, check_plausible
from sensors.sim.emulators import context_with_emulators
from sensors.sim.smbus import FakeSMBus, RegisterChip
from sensors.spec import DeviceSpec


def device(nack_retries: int = 1) -> tuple[I2CDevice, FakeSMBus]:
    bus = FakeSMBus(3)
    bus.attach(0x29, RegisterChip({0x10: 0xAB, 0x11: 0xCD}))
    return I2CDevice(bus, 0x29, "i2c-3", nack_retries), bus


def test_every_operation_round_trips() -> None:
    """Byte, block, big-endian word, raw command / receive and long reads all reach the registers."""
    dev, bus = device()
    dev.write_u8(0x20, 0x01)
    dev.write_be16(0x21, 0xBEEF)
    dev.write_block(0x30, [1, 2, 3])
    dev.send([0x40, 0x55])
    dev.send([0x10])
    assert dev.receive(2) == b"\xab\xcd"
    assert (dev.read_u8(0x20), dev.read_be16(0x21), dev.read_block(0x30, 3)) == (
        0x01,
        0xBEEF,
        b"\x01\x02\x03",
    )
    assert dev.read_long(0x00, 64)[0x10:0x12] == b"\xab\xcd"
    assert bus.writes(0x29)[:5] == [b"\x20\x01", b"\x21\xbe\xef", b"\x30\x01\x02\x03", b"\x40\x55", b"\x10"]


def test_single_nack_is_retried_and_counted() -> None:
    """One NACK is absorbed by the immediate repeat; nacks_retried counts it."""
    dev, bus = device()
    bus.inject("nack", 0x29)
    assert dev.read_u8(0x10) == 0xAB
    assert dev.nacks_retried == 1


@pytest.mark.parametrize(
    ("op", "fragment"),
    [
        (lambda d: d.read_u8(0x10), "read of register 0x10"),
        (lambda d: d.write_u8(0x10, 1), "write of register 0x10"),
        (lambda d: d.read_block(0x10, 2), "read of 2 bytes at 0x10"),
        (lambda d: d.write_block(0x10, [1, 2]), "write of 2 bytes at 0x10"),
        (lambda d: d.send([0x24, 0x00]), "command 2400"),
        (lambda d: d.receive(6), "read of 6 bytes"),
        (lambda d: d.read_long(0x74, 100), "burst read of 100 bytes at 0x74"),
    ],
)
def test_errors_name_bus_address_and_operation(op: object, fragment: str) -> None:
    """Without retries a NACK becomes SensorError(121) whose message names bus, address and operation."""
    dev, bus = device(nack_retries=0)
    bus.inject("nack", 0x29)
    with pytest.raises(SensorError) as info:
        op(dev)  # type: ignore[operator]
    assert info.value.errno == errno.EREMOTEIO
    assert str(info.value).startswith(f"[Errno 121] i2c-3 0x29: {fragment} failed: Remote I/O error")


def test_eio_is_not_retried() -> None:
    """EIO (arbitration lost, controller timeout) is reported at once, not repeated."""
    dev, bus = device()
    bus.inject("eio", 0x29)
    with pytest.raises(SensorError) as info:
        dev.read_u8(0x10)
    assert info.value.errno == errno.EIO and dev.nacks_retried == 0


def test_oserror_without_errno_maps_to_eio() -> None:
    """An OSError carrying no errno is reported as EIO rather than crashing the message formatting."""

    class Broken(FakeSMBus):
        def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
            raise OSError("adapter gone")

    dev = I2CDevice(Broken(1), 0x29, "i2c-1")
    with pytest.raises(SensorError) as info:
        dev.read_u8(0)
    assert info.value.errno == errno.EIO


def test_check_plausible() -> None:
    """Values outside min/max raise ImplausibleReading; None, bools, strings and unbounded fields pass."""
    fields = [FieldSpec("t_c", min=-40.0, max=85.0), FieldSpec("ok", kind="bool", min=0, max=0),
              FieldSpec("free"), FieldSpec("lo", min=0.0)]  # fmt: skip
    check_plausible(fields, {"t_c": 85.0, "ok": True, "free": 1e9, "lo": None}, "s")
    with pytest.raises(ImplausibleReading, match=r"t_c=85\.5"):
        check_plausible(fields, {"t_c": 85.5}, "s")
    with pytest.raises(ImplausibleReading, match="lo=-1"):
        check_plausible(fields, {"lo": -1}, "s")


def test_real_bus_that_does_not_exist() -> None:
    """Building a non-simulated sensor on a missing /dev/i2c-N raises SensorError ENOENT with the fix."""
    spec = DeviceSpec("env", "bme280", "sensors[0]", 1.0, False, {"bus": 250})
    ctx = context_with_emulators()
    with pytest.raises(SensorError) as info:
        build_bme280(spec, ctx)
    assert info.value.errno == errno.ENOENT
    assert "/dev/i2c-250 not found: enable I2C" in str(info.value)
    assert "i2c-250" not in ctx.resources  # nothing half-built is cached; the next attempt tries again
