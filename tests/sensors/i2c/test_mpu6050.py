"""MPU-6050: sensitivity tables, sample-rate arithmetic, driver (direct and FIFO burst) on the emulator."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.catalogue import Catalogue
from gateway.metrics import Metrics
from sensors.base import SensorInfo, Values
from sensors.errors import ConfigError, ImplausibleReading, SensorError
from sensors.i2c import mpu6050_codec as codec
from sensors.i2c import mpu6050_registers as R
from sensors.i2c.mpu6050 import MPU6050Sensor, MPU6050Settings, build
from sensors.sim.emulators import context_with_emulators
from sensors.sim.i2c.mpu6050 import MPU6050Chip
from sensors.sim.smbus import FakeSMBus
from sensors.spec import DeviceSpec

G = codec.STANDARD_GRAVITY_MS2


def test_sensitivity_tables() -> None:
    """Full scale in LSB: 1 g is 16384/8192/4096/2048 LSB; 1 deg/s is 131/65.5/32.8/16.4 LSB (PS rev 3.4)."""
    for fs_g, lsb in zip(R.ACCEL_RANGES_G, (16384, 8192, 4096, 2048), strict=True):
        values = codec.to_values(codec.RawSample(lsb, -lsb, 0, 0, 0, 0, 0), fs_g, 250)
        assert (values["accel_x_ms2"], values["accel_y_ms2"]) == (round(G, 4), round(-G, 4))
    for fs_dps, lsb in zip(R.GYRO_RANGES_DPS, (131, 65.5, 32.8, 16.4), strict=True):
        values = codec.to_values(codec.RawSample(0, 0, 0, 0, round(lsb * 100), 0, 0), 2, fs_dps)
        assert values["gyro_x_dps"] == pytest.approx(100.0, abs=0.02)


def test_temperature_formula() -> None:
    """TEMP_OUT 0 is 36.53 deg C; -340 LSB is one degree less; the inverse rounds and saturates."""
    assert codec.temperature_c(0) == 36.53
    assert codec.temperature_c(-340) == pytest.approx(35.53)
    assert codec.raw_temperature(25.0) == -3920
    assert codec.raw_temperature(1000.0) == 32767 and codec.raw_temperature(-1000.0) == -32768


def test_sample_rate_arithmetic() -> None:
    """Rate = 8 kHz (DLPF off) or 1 kHz over (1 + SMPLRT_DIV); rates that are not a divisor are refused."""
    assert codec.sample_rate_hz(0, R.DLPF_HZ[44]) == 1000.0
    assert codec.sample_rate_hz(7, R.DLPF_HZ[260]) == 1000.0
    assert codec.divider_for(200.0, R.DLPF_HZ[44]) == 4
    assert codec.divider_for(4000.0, 0) == 1
    assert codec.divider_for(1000.0 / 256, 3) == 255
    for rate in (300.0, 2.0):
        with pytest.raises(ValueError):
            codec.divider_for(rate, 3)


@given(st.lists(st.integers(-32768, 32767), min_size=7, max_size=7))
def test_sample_round_trip(fields: list[int]) -> None:
    """parse_sample(encode_sample(s)) == s for every signed 16-bit value (big-endian, two's complement)."""
    sample = codec.RawSample(*fields)
    data = codec.encode_sample(sample)
    assert len(data) == 14 and codec.parse_sample(data) == sample
    assert codec.parse_fifo(data * 3 + data[:5]) == [sample] * 3


@given(st.integers(-(2**20), 2**20))
def test_saturate16(value: int) -> None:
    """saturate16 clamps to int16 and is the identity inside it."""
    assert codec.saturate16(value) == max(-32768, min(32767, value))


class Clock:
    def __init__(self) -> None:
        self.t_s = 100.0

    def __call__(self) -> float:
        return self.t_s

    def ns(self) -> int:
        return round(self.t_s * 1e9)


def make(
    settings: MPU6050Settings, who_am_i: int = 0x68
) -> tuple[MPU6050Sensor, FakeSMBus, MPU6050Chip, Clock]:
    clock = Clock()
    bus = FakeSMBus(1)
    chip = MPU6050Chip(clock, motion=lambda t: ((0.0, 0.5, 1.0), (10.0, -20.0, 0.5), 30.0), who_am_i=who_am_i)
    bus.attach(0x68, chip)
    info = SensorInfo("imu", "mpu6050", settings.fields(), 0.05)
    sensor = MPU6050Sensor(info, bus, 0x68, "i2c-1", settings, sleep=lambda _s: None, clock_ns=clock.ns)
    return sensor, bus, chip, clock


EXPECTED = {
    "accel_x_ms2": 0.0, "accel_y_ms2": round(0.5 * G, 4), "accel_z_ms2": round(G, 4),
    "gyro_x_dps": pytest.approx(10.0, abs=0.02), "gyro_y_dps": pytest.approx(-20.0, abs=0.02),
    "gyro_z_dps": pytest.approx(0.5, abs=0.02), "temperature_c": pytest.approx(30.0, abs=0.01),
}  # fmt: skip


def test_direct_mode_open_and_read() -> None:
    """open() resets, wakes on the PLL and configures; read() checks it is awake, reads 14 bytes."""
    sensor, bus, _chip, clock = make(MPU6050Settings(accel_range_g=4, gyro_range_dps=500, dlpf_hz=94))
    sensor.open()
    assert bus.writes(0x68) == [
        b"\x75", b"\x6b\x80", b"\x6b\x01", b"\x19\x09", b"\x1a\x02", b"\x1b\x08", b"\x1c\x08", b"\x3a",
    ]  # fmt: skip
    clock.t_s += 0.02
    assert sensor.read() == EXPECTED
    assert bus.writes(0x68)[-2:] == [b"\x6b", b"\x3b"]


def test_fifo_burst_one_transfer_for_fifty_samples() -> None:
    """At 1 kHz, 50 ms of samples come back in one burst transfer; 49 emitted with 1 ms spaced stamps."""
    sensor, bus, chip, clock = make(MPU6050Settings(fifo=True, sample_rate_hz=1000.0))
    pushed: list[tuple[Values, int | None]] = []
    sensor.attach(lambda values, ts_ns: pushed.append((values, ts_ns)))
    sensor.open()
    assert bus.writes(0x68)[-4:] == [b"\x6a\x04", b"\x6a\x40", b"\x23\xf8", b"\x3a"]
    start_calls = bus.calls
    clock.t_s += 0.050
    newest = sensor.read()
    assert bus.calls - start_calls == 3  # INT_STATUS, FIFO_COUNT, one burst
    assert bus.log[-1].op == "r" and len(bus.log[-1].data) == 50 * 14
    assert newest == EXPECTED
    assert len(pushed) == 49 and all(values == EXPECTED for values, _ in pushed)
    stamps = [ts for _, ts in pushed]
    assert stamps == [clock.ns() - (49 - i) * 1_000_000 for i in range(49)]
    assert (sensor.samples_read, sensor.bursts, len(chip.fifo)) == (50, 1, 0)


def test_fifo_overflow_resets_and_recovers() -> None:
    """A poll that comes too late finds FIFO_OFLOW: the FIFO is reset, counted, and the next poll is clean."""
    sensor, _bus, _chip, clock = make(MPU6050Settings(fifo=True, sample_rate_hz=1000.0))
    sensor.open()
    clock.t_s += 0.200
    assert sensor.read() == {}
    assert sensor.fifo_overflows == 1
    clock.t_s += 0.010
    assert sensor.read() == EXPECTED
    assert sensor.samples_read == 10


def test_empty_fifo_and_reset_chip() -> None:
    """No new sample yet returns {}; a chip that was power-cycled (asleep) is reported, not read as zeros."""
    sensor, bus, _chip, clock = make(MPU6050Settings(fifo=True, sample_rate_hz=200.0))
    sensor.open()
    clock.t_s += 0.001
    assert sensor.read() == {}
    bus.disappear(0x68)
    bus.reappear(0x68)
    clock.t_s += 0.1
    with pytest.raises(SensorError, match="asleep"):
        sensor.read()
    sensor.open()
    clock.t_s += 0.1
    assert sensor.read() == EXPECTED


def test_direct_mode_detects_reset_chip() -> None:
    """In direct mode, too, a reset chip is an error rather than a reading of zeros."""
    sensor, bus, _chip, _clock = make(MPU6050Settings())
    sensor.open()
    bus.disappear(0x68)
    with pytest.raises(SensorError) as info:
        sensor.read()
    assert info.value.errno == errno.EREMOTEIO
    bus.reappear(0x68)
    with pytest.raises(SensorError, match="asleep"):
        sensor.read()


def test_wrong_who_am_i() -> None:
    """A chip answering WHO_AM_I 0x70 (an MPU-6500) is refused with ENODEV."""
    sensor, _bus, _chip, _clock = make(MPU6050Settings(), who_am_i=0x70)
    with pytest.raises(SensorError) as info:
        sensor.open()
    assert info.value.errno == errno.ENODEV


def test_emulator_fifo_mask_and_manual_push() -> None:
    """With only the accelerometer in the FIFO each sample is 6 bytes; FIFO_R_W writes push bytes."""
    clock = Clock()
    chip = MPU6050Chip(clock, motion=lambda t: ((0.0, 0.0, 1.0), (0.0, 0.0, 0.0), 36.53))
    chip.write(bytes([R.REG_PWR_MGMT_1, 0x01]))
    chip.write(bytes([R.REG_SMPLRT_DIV, 9]))
    chip.write(bytes([R.REG_CONFIG, 3]))
    chip.write(bytes([R.REG_FIFO_EN, R.FIFO_EN_ACCEL]))
    chip.write(bytes([R.REG_USER_CTRL, R.USER_CTRL_FIFO_EN]))
    clock.t_s += 0.0305
    chip.write(bytes([R.REG_FIFO_COUNT_H]))
    assert chip.read(2) == bytes([0, 18])
    chip.write(bytes([R.REG_FIFO_R_W]))
    assert chip.read(6) == bytes([0, 0, 0, 0, 0x40, 0])
    chip.write(bytes([R.REG_FIFO_R_W, 0xAB]))
    assert chip.fifo[-1] == 0xAB and len(chip.fifo) == 13


def spec(interval_s: float = 0.05, **options: object) -> DeviceSpec:
    return DeviceSpec("imu", "mpu6050", "sensors[0]", interval_s, True, options)


def test_build_and_validation() -> None:
    """FIFO mode defaults to 1 kHz; rates must divide the gyro rate; the poll interval must fit the FIFO."""
    sensor = build(spec(fifo=True), context_with_emulators())
    assert sensor.settings.sample_rate_hz == 1000.0 and sensor.settings.divider == 0
    assert [f.name for f in sensor.info.fields][:3] == ["accel_x_ms2", "accel_y_ms2", "accel_z_ms2"]
    cases = [
        (spec(sample_rate_hz=300.0), "sensors[0].sample_rate_hz"),
        (spec(accel_range_g=3), "sensors[0].accel_range_g"),
        (spec(gyro_range_dps=300), "sensors[0].gyro_range_dps"),
        (spec(dlpf_hz=100), "sensors[0].dlpf_hz"),
        (spec(0.1, fifo=True), "sensors[0].interval_s"),
        (spec(address=0x6A), "sensors[0].address"),
    ]
    for bad, key in cases:
        with pytest.raises(ConfigError) as info:
            build(bad, context_with_emulators())
        assert info.value.key == key


def test_direct_read_before_first_sample_is_implausible() -> None:
    """Right after wake the data registers are all zero: that is flagged, not published as 0 g."""
    sensor, _bus, _chip, clock = make(MPU6050Settings())
    sensor.open()
    with pytest.raises(ImplausibleReading, match="all-zero"):
        sensor.read()
    clock.t_s += 0.02
    assert sensor.read() == EXPECTED


def test_the_catalogue_states_the_reading_rate_of_a_fifo_burst() -> None:
    """In FIFO mode a 5 Hz poll of a 100 Hz FIFO delivers 20 readings a poll: the hello says 100 Hz, not 5;
    without the FIFO one reading a poll (issue 13)."""
    ctx = context_with_emulators()
    burst = build(spec(0.2, fifo=True, sample_rate_hz=100.0), ctx)
    direct = build(DeviceSpec("imu2", "mpu6050", "sensors[1]", 0.2, True, {"address": 0x69}), ctx)
    assert (burst.info.readings_per_poll, direct.info.readings_per_poll) == (20, 1)
    catalogue = Catalogue(Metrics())
    catalogue.register_sensor(burst.info)
    catalogue.register_sensor(direct.info)
    assert [(s["id"], s["interval_s"], s["rate_hz"]) for s in catalogue.entries()["sensors"]] == [
        ("imu", 0.2, 100.0),
        ("imu2", 0.2, 5.0),
    ]
