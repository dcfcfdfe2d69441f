"""SHT3x: Sensirion CRC example and conversions, and the driver on the emulated bus with every fault."""

from __future__ import annotations

import errno
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.base import SensorInfo
from sensors.errors import ChecksumError, ConfigError, SensorError
from sensors.i2c import sht3x_codec as codec
from sensors.i2c import sht3x_registers as R
from sensors.i2c.sht3x import FIELDS, SHT3xSensor, build
from sensors.sim.emulators import context_with_emulators
from sensors.sim.i2c.sht3x import SHT3xChip
from sensors.sim.smbus import FakeSMBus
from sensors.spec import DeviceSpec


def test_crc_datasheet_example() -> None:
    """CRC-8 of 0xBEEF is 0x92 (datasheet section 4.12); of 0x0000 it is 0x81."""
    assert codec.crc8(b"\xbe\xef") == 0x92
    assert codec.crc8(b"\x00\x00") == 0x81


def test_conversion_end_points() -> None:
    """Raw 0 and 0xFFFF map to -45/130 °C and 0/100 %RH; 0x6666 is 25 °C-ish (-45 + 175 * 0.4)."""
    assert (codec.temperature_c(0), codec.temperature_c(0xFFFF)) == (-45.0, 130.0)
    assert (codec.humidity_pct(0), codec.humidity_pct(0xFFFF)) == (0.0, 100.0)
    assert codec.temperature_c(0x6666) == pytest.approx(25.0)
    assert (codec.raw_temperature(-100.0), codec.raw_temperature(200.0)) == (0, 0xFFFF)
    assert (codec.raw_humidity(-1.0), codec.raw_humidity(101.0)) == (0, 0xFFFF)


def test_parse_words_rejects_bad_crc_and_length() -> None:
    """A flipped bit fails the CRC with the word index; a partial word is refused."""
    good = codec.encode_words([0xBEEF, 0x1234])
    assert good[:3] == b"\xbe\xef\x92"
    assert codec.parse_words(good) == [0xBEEF, 0x1234]
    with pytest.raises(ChecksumError, match="word 1"):
        codec.parse_words(good[:4] + bytes([good[4] ^ 0x01]) + good[5:])
    with pytest.raises(ChecksumError, match="not a whole number"):
        codec.parse_words(good[:4])


@given(st.lists(st.integers(0, 0xFFFF), max_size=8))
def test_words_round_trip(words: list[int]) -> None:
    """encode_words then parse_words is the identity."""
    assert codec.parse_words(codec.encode_words(words)) == words


@given(st.integers(0, 0xFFFF), st.integers(0, 7))
def test_any_single_bit_error_is_detected(word: int, bit: int) -> None:
    """CRC-8 detects every single-bit error in the data byte pair."""
    data = bytearray(codec.encode_words([word]))
    data[bit % 2] ^= 1 << bit
    with pytest.raises(ChecksumError):
        codec.parse_words(bytes(data))


def make(busy_reads: int = 0, seed: int = 1) -> tuple[SHT3xSensor, FakeSMBus, SHT3xChip]:
    bus = FakeSMBus(1, rng=random.Random(seed))
    chip = SHT3xChip(clock=lambda: 50.0, busy_reads=busy_reads)
    bus.attach(0x44, chip)
    info = SensorInfo("rh", "sht3x", FIELDS, 1.0, simulated=True, model="SHT3x")
    return SHT3xSensor(info, bus, 0x44, "i2c-1", "medium", sleep=lambda _s: None), bus, chip


def test_open_and_read_command_sequence() -> None:
    """open(): soft reset, read status (0x8010 after reset), clear status; read(): medium single shot."""
    sensor, bus, chip = make()
    sensor.open()
    assert sensor.status == 0x8010
    values = sensor.read()
    t, h = chip.physical()
    assert values == {"temperature_c": pytest.approx(t, abs=0.01), "humidity_pct": pytest.approx(h, abs=0.01)}
    assert chip.commands == [R.CMD_SOFT_RESET, R.CMD_READ_STATUS, R.CMD_CLEAR_STATUS, 0x240B]
    assert chip.status == 0
    assert [e.data for e in bus.log if e.op == "r"][-1][2] == codec.crc8(bus.log[-1].data[:2])


def test_not_ready_nack_is_retried() -> None:
    """Two not-ready NACKs after the measurement command are absorbed by the driver's read retries."""
    sensor, _bus, _chip = make(busy_reads=2)
    sensor.open()
    assert set(sensor.read()) == {"temperature_c", "humidity_pct"}


def test_conversion_that_never_finishes_fails() -> None:
    """A chip that keeps NACKing past the retries raises SensorError errno 121."""
    sensor, _bus, _chip = make(busy_reads=10)
    sensor.open()
    with pytest.raises(SensorError) as info:
        sensor.read()
    assert info.value.errno == errno.EREMOTEIO


def test_garbage_is_caught_by_crc() -> None:
    """Garbage on the bus is detected by the CRC: ChecksumError (flagged, never published)."""
    sensor, bus, _chip = make(seed=11)
    sensor.open()
    bus.inject("garbage", 0x44, count=None)
    errors = 0
    for _ in range(100):
        try:
            sensor.read()
        except ChecksumError:
            errors += 1
    assert errors >= 98  # two random CRC bytes both match with probability 1/65536


@pytest.mark.parametrize(("kind", "code", "count"), [("nack", errno.EREMOTEIO, 2), ("eio", errno.EIO, 1)])
def test_bus_faults_raise_and_recover(kind: str, code: int, count: int) -> None:
    """A NACK / EIO on the command write raises with that errno; the next read succeeds."""
    sensor, bus, _chip = make()
    sensor.open()
    bus.inject(kind, 0x44, count)  # type: ignore[arg-type]
    with pytest.raises(SensorError) as info:
        sensor.read()
    assert info.value.errno == code
    assert set(sensor.read()) == {"temperature_c", "humidity_pct"}


def test_chip_disappears_and_returns() -> None:
    """Reads fail while the chip is gone; after it returns, open() sees the reset flag and reads resume."""
    sensor, bus, _chip = make()
    sensor.open()
    bus.disappear(0x44)
    with pytest.raises(SensorError):
        sensor.read()
    bus.reappear(0x44)
    sensor.open()
    assert sensor.status is not None and sensor.status & R.STATUS_RESET_DETECTED
    assert set(sensor.read()) == {"temperature_c", "humidity_pct"}


def test_build_options() -> None:
    """build() validates address and repeatability and attaches an emulator in simulate mode."""
    ctx = context_with_emulators()
    sensor = build(DeviceSpec("rh", "sht3x", "sensors[0]", 1.0, True, {"address": 0x45}), ctx)
    assert sensor.bus_id == "i2c-1" and 0x45 in ctx.resources["sim-i2c-1"].chips
    with pytest.raises(ConfigError, match="'high', 'medium', 'low'"):
        build(DeviceSpec("rh", "sht3x", "sensors[0]", 1.0, True, {"repeatability": "max"}), ctx)
    with pytest.raises(ConfigError, match="0x44, 0x45"):
        build(DeviceSpec("rh", "sht3x", "sensors[0]", 1.0, True, {"address": 0x40}), ctx)


def test_emulator_status_and_heater_commands() -> None:
    """Heater on/off sets/clears status bit 13; an unknown or malformed command sets 'command failed'."""
    chip = SHT3xChip()
    for cmd in (R.CMD_HEATER_ENABLE, R.CMD_READ_STATUS):
        chip.write(bytes(codec.command_bytes(cmd)))
    assert codec.parse_words(chip.read(3)) == [0x8010 | R.STATUS_HEATER]
    chip.write(bytes(codec.command_bytes(R.CMD_HEATER_DISABLE)))
    chip.write(bytes(codec.command_bytes(R.CMD_BREAK)))
    chip.write(b"\x12\x34")
    chip.write(b"\x01")
    chip.write(bytes(codec.command_bytes(R.CMD_READ_STATUS)))
    assert codec.parse_words(chip.read(3)) == [0x8010 | R.STATUS_COMMAND_FAILED]
    with pytest.raises(OSError):
        chip.read(3)
