"""The fake SMBus: SMBus call -> transaction mapping, auto-increment, write log, and every injected fault."""

from __future__ import annotations

import errno
import random
import threading

import pytest
from smbus2 import i2c_msg

from sensors.sim.smbus import FakeSMBus, LogEntry, RegisterChip
from tests.conftest import scaled


class ReadOnlyFirst(RegisterChip):
    """Register 0 is read-only; counts reset() calls."""

    def __init__(self) -> None:
        self.resets = 0
        super().__init__({0x00: 0xA5, 0x10: 0x12, 0x11: 0x34})

    def reset(self) -> None:
        self.resets += 1
        super().reset()

    def writable(self, reg: int) -> bool:
        return reg != 0


def bus_with_chip() -> tuple[FakeSMBus, ReadOnlyFirst]:
    bus = FakeSMBus(1, log_limit=16, rng=random.Random(3))
    chip = ReadOnlyFirst()
    bus.attach(0x40, chip)
    return bus, chip


def test_byte_word_and_block_calls_map_to_transactions() -> None:
    """Each SMBus call is a pointer write plus a read (or one write), logged in order; words little-endian."""
    bus, _chip = bus_with_chip()
    assert bus.read_byte_data(0x40, 0x10) == 0x12
    assert bus.read_word_data(0x40, 0x10) == 0x3412
    assert bus.read_i2c_block_data(0x40, 0x10, 3) == [0x12, 0x34, 0x00]
    bus.write_word_data(0x40, 0x20, 0xBEEF)
    bus.write_i2c_block_data(0x40, 0x30, [1, 2, 3])
    bus.write_byte_data(0x40, 0x00, 0xFF)
    assert list(bus.log)[:4] == [
        LogEntry("w", 0x40, b"\x10"), LogEntry("r", 0x40, b"\x12"),
        LogEntry("w", 0x40, b"\x10"), LogEntry("r", 0x40, b"\x12\x34"),
    ]  # fmt: skip
    assert bus.writes(0x40)[3:] == [b"\x20\xef\xbe", b"\x30\x01\x02\x03", b"\x00\xff"]
    assert bus.read_i2c_block_data(0x40, 0x20, 2) == [0xEF, 0xBE]
    assert bus.read_i2c_block_data(0x40, 0x30, 3) == [1, 2, 3]
    assert bus.read_byte_data(0x40, 0x00) == 0xA5  # read-only register kept its value


def test_auto_increment_wraps_and_pointer_persists() -> None:
    """Reads continue from the pointer (read_byte after a pointer write) and wrap from 0xFF to 0x00."""
    bus, _chip = bus_with_chip()
    bus.write_byte(0x40, 0x10)
    assert [bus.read_byte(0x40), bus.read_byte(0x40)] == [0x12, 0x34]
    assert bus.read_i2c_block_data(0x40, 0xFF, 2) == [0x00, 0xA5]


def test_i2c_rdwr_combined_messages() -> None:
    """i2c_rdwr runs a write then a read message and fills the read buffer in place."""
    bus, _chip = bus_with_chip()
    write, read = i2c_msg.write(0x40, [0x10]), i2c_msg.read(0x40, 2)
    bus.i2c_rdwr(write, read)
    assert list(read) == [0x12, 0x34]
    assert bus.calls == 1


def test_block_length_limits() -> None:
    """SMBus block transfers are limited to 32 bytes, like the kernel's I2C_SMBUS_BLOCK_MAX."""
    bus, _chip = bus_with_chip()
    with pytest.raises(ValueError):
        bus.read_i2c_block_data(0x40, 0, 33)
    with pytest.raises(ValueError):
        bus.write_i2c_block_data(0x40, 0, [0] * 33)
    with pytest.raises(ValueError):
        bus.attach(0x78, ReadOnlyFirst())


def test_absent_address_nacks() -> None:
    """A quick write to an empty address raises OSError errno 121 (EREMOTEIO), as i2c-bcm2835 does."""
    bus, _chip = bus_with_chip()
    bus.write_quick(0x40)
    with pytest.raises(OSError) as info:
        bus.write_quick(0x41)
    assert info.value.errno == errno.EREMOTEIO


def test_counted_faults_in_order() -> None:
    """Injected faults hit the next calls in order (address-specific first), then the bus is healthy again."""
    bus, _chip = bus_with_chip()
    bus.inject("nack", 0x40, count=2)
    bus.inject("eio", None, count=1)
    codes = []
    for _ in range(4):
        try:
            bus.read_byte_data(0x40, 0x10)
            codes.append(0)
        except OSError as exc:
            codes.append(exc.errno)
    assert codes == [errno.EREMOTEIO, errno.EREMOTEIO, errno.EIO, 0]


def test_garbage_replaces_read_data_and_clear_faults() -> None:
    """Garbage returns seeded random bytes instead of the registers; clear_faults restores true data."""
    bus, _chip = bus_with_chip()
    bus.inject("garbage", 0x40, count=None)
    got = [bytes(bus.read_i2c_block_data(0x40, 0x10, 2)) for _ in range(5)]
    expected_rng = random.Random(3)
    assert got == [bytes(expected_rng.randrange(256) for _ in range(2)) for _ in range(5)]
    bus.clear_faults()
    assert bus.read_i2c_block_data(0x40, 0x10, 2) == [0x12, 0x34]


def test_error_rate_is_statistical_and_removable() -> None:
    """A 5 % error rate fails about 5 % of 4000 calls with the given errno; rate 0 removes it."""
    bus, _chip = bus_with_chip()
    bus.error_rate(0.05, 0x40)
    failures = 0
    for _ in range(4000):
        try:
            bus.read_byte_data(0x40, 0x10)
        except OSError as exc:
            assert exc.errno == errno.EREMOTEIO
            failures += 1
    assert 120 <= failures <= 280
    bus.error_rate(0.0, 0x40)
    assert all(bus.read_byte_data(0x40, 0x10) == 0x12 for _ in range(200))


def test_disappear_and_reappear_power_cycles_chip() -> None:
    """A chip that disappears NACKs; when it reappears its registers are back at reset values."""
    bus, chip = bus_with_chip()
    bus.write_byte_data(0x40, 0x10, 0x99)
    bus.disappear(0x40)
    with pytest.raises(OSError) as info:
        bus.read_byte_data(0x40, 0x10)
    assert info.value.errno == errno.EREMOTEIO
    bus.reappear(0x40)
    assert bus.read_byte_data(0x40, 0x10) == 0x12
    assert chip.resets == 2  # construction + power cycle


def test_stuck_bus_blocks_every_call_until_release() -> None:
    """While stuck, a call blocks; release() lets it finish with the right data."""
    bus, _chip = bus_with_chip()
    bus.stick()
    assert bus.stuck
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(bus.read_byte_data(0x40, 0x10)), daemon=True)
    t.start()
    t.join(scaled(0.2))
    assert t.is_alive() and out == []
    bus.release()
    t.join(scaled(5))
    assert out == [0x12] and not bus.stuck


def test_log_is_bounded() -> None:
    """The transaction log keeps only the newest log_limit entries."""
    bus, _chip = bus_with_chip()
    for reg in range(20):
        bus.write_byte_data(0x40, 0x20, reg)
    assert len(bus.log) == 16
    assert bus.log[-1] == LogEntry("w", 0x40, bytes([0x20, 19]))
    bus.close()
