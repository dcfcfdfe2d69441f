"""ADS1115/ADS1015: datasheet output codes and config word, and the driver on the emulated bus."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.base import SensorInfo
from sensors.errors import ConfigError, SensorError, SensorTimeout
from sensors.i2c import ads1x15_codec as codec
from sensors.i2c import ads1x15_registers as R
from sensors.i2c.ads1x15 import ADS1x15Sensor, Channel, build
from sensors.sim.emulators import context_with_emulators
from sensors.sim.i2c.ads1x15 import ADS1x15Chip
from sensors.sim.smbus import FakeSMBus
from sensors.spec import DeviceSpec


def test_ads1115_full_scale_codes() -> None:
    """SBAS444D table 3: 0x7FFF = +FS*(2^15-1)/2^15, 0x0001 = +FS/2^15, 0xFFFF = -FS/2^15, 0x8000 = -FS."""
    fsr = 2.048
    assert codec.volts(0x7FFF, fsr, 16) == pytest.approx(fsr * 32767 / 32768)
    assert codec.volts(0x0001, fsr, 16) == pytest.approx(62.5e-6)
    assert codec.volts(0x0000, fsr, 16) == 0.0
    assert codec.volts(0xFFFF, fsr, 16) == pytest.approx(-62.5e-6)
    assert codec.volts(0x8000, fsr, 16) == -fsr
    assert [codec.register_for(v, fsr, 16) for v in (3.0, fsr, 62.5e-6, 0.0, -62.5e-6, -fsr, -5.0)] == [
        0x7FFF, 0x7FFF, 0x0001, 0x0000, 0xFFFF, 0x8000, 0x8000,
    ]  # fmt: skip


def test_ads1015_full_scale_codes() -> None:
    """SBAS473E table 3: 12-bit codes left-justified, 0x7FF0 = +FS*(2^11-1)/2^11, 0x0010 = 1 mV at 2.048 V."""
    fsr = 2.048
    assert codec.volts(0x7FF0, fsr, 12) == pytest.approx(fsr * 2047 / 2048)
    assert codec.volts(0x0010, fsr, 12) == pytest.approx(0.001)
    assert codec.volts(0xFFF0, fsr, 12) == pytest.approx(-0.001)
    assert codec.volts(0x8000, fsr, 12) == -fsr
    assert [codec.register_for(v, fsr, 12) for v in (9.0, 0.001, -0.001, -9.0)] == [
        0x7FF0,
        0x10,
        0xFFF0,
        0x8000,
    ]


def test_config_word_packing() -> None:
    """The reset value 0x8583 decodes to AIN0-AIN1, +/-2.048 V, 128 SPS, single-shot, comparator off."""
    reset = codec.decode_config(R.CONFIG_RESET)
    assert reset == codec.Config(mux=0, pga=2, data_rate=4, single_shot=True, start=True, comparator_queue=3)
    assert codec.encode_config(reset) == R.CONFIG_RESET
    assert codec.encode_config(codec.Config(R.MUX["a0"], R.PGA[4.096], R.DATA_RATE_ADS1115[128])) == 0xC383
    assert (
        codec.encode_config(codec.Config(R.MUX["a3"], R.PGA[0.256], 7, single_shot=False, start=False))
        == 0x7AE3
    )
    assert [codec.full_scale_v(p) for p in range(8)] == [
        6.144,
        4.096,
        2.048,
        1.024,
        0.512,
        0.256,
        0.256,
        0.256,
    ]
    assert codec.conversion_time_s(860) == pytest.approx(1 / 860)


@given(
    st.integers(0, 7), st.integers(0, 7), st.integers(0, 7), st.booleans(), st.booleans(), st.integers(0, 3)
)
def test_config_round_trip(mux: int, pga: int, dr: int, single: bool, start: bool, que: int) -> None:
    """decode_config(encode_config(c)) == c for every field combination."""
    config = codec.Config(mux, pga, dr, single, start, que)
    assert codec.decode_config(codec.encode_config(config)) == config


@given(st.floats(-6.144, 6.144), st.sampled_from(sorted(R.PGA)), st.sampled_from([12, 16]))
def test_volts_round_trip_within_half_lsb(input_v: float, fsr: float, bits: int) -> None:
    """Inside the range, conversion is accurate to half an LSB; outside it saturates at the range ends."""
    lsb = fsr / (1 << (bits - 1))
    got = codec.volts(codec.register_for(input_v, fsr, bits), fsr, bits)
    assert -fsr <= got <= fsr - lsb
    if -fsr <= input_v <= fsr - lsb:
        assert got == pytest.approx(input_v, abs=lsb / 2 + 1e-12)


@given(st.integers(0, 0xFFFF), st.integers(1, 16))
def test_sign_extend_property(value: int, bits: int) -> None:
    """sign_extend is two's complement of the low bits."""
    result = codec.sign_extend(value, bits)
    assert -(1 << (bits - 1)) <= result < (1 << (bits - 1)) and (result - value) % (1 << bits) == 0


def pins(_t: float) -> tuple[float, float, float, float]:
    return (1.5, 0.25, 3.0, -0.1)


def make(
    bits: int = 16, busy_reads: int = 1, channels: list[Channel] | None = None
) -> tuple[ADS1x15Sensor, FakeSMBus, ADS1x15Chip]:
    bus = FakeSMBus(1)
    chip = ADS1x15Chip(bits, clock=lambda: 0.0, inputs=pins, busy_reads=busy_reads)
    bus.attach(0x48, chip)
    channels = channels or [Channel("a0_v", R.MUX["a0"])]
    info = SensorInfo("adc", "ads1115", tuple(c.field_spec() for c in channels), 1.0, simulated=True)
    rate = 128 if bits == 16 else 1600
    return ADS1x15Sensor(info, bus, 0x48, "i2c-1", channels, bits, rate, sleep=lambda _s: None), bus, chip


def test_single_shot_wire_sequence() -> None:
    """A channel read writes config with OS=1, polls config until OS=1, then reads the conversion register."""
    sensor, bus, _chip = make(busy_reads=2)
    sensor.open()
    start = len(bus.log)
    assert sensor.read() == {"a0_v": 1.5}
    assert [(e.op, e.data) for e in list(bus.log)[start:]] == [
        ("w", b"\x01\xc3\x83"),
        ("w", b"\x01"), ("r", b"\x43\x83"), ("w", b"\x01"), ("r", b"\x43\x83"),
        ("w", b"\x01"), ("r", b"\xc3\x83"),
        ("w", b"\x00"), ("r", b"\x2e\xe0"),  # 1.5 V / 4.096 V * 32768 = 12000
    ]  # fmt: skip


def test_channels_differential_gain_and_calibration() -> None:
    """Differential inputs, a smaller gain and a linear calibration all come out as expected."""
    channels = [
        Channel("diff_v", R.MUX["a0-a1"], 2.048),
        Channel("ref_v", R.MUX["a2"], 6.144),
        Channel("neg_v", R.MUX["a3"], 0.256),
        Channel("level_pct", R.MUX["a0"], 2.048, scale=100 / 3.0, offset=-5.0, unit="%"),
    ]
    sensor, _bus, _chip = make(channels=channels)
    sensor.open()
    values = sensor.read()
    assert values == {
        "diff_v": pytest.approx(1.25, abs=62.5e-6),
        "ref_v": pytest.approx(3.0, abs=187.5e-6),
        "neg_v": pytest.approx(-0.1, abs=7.8125e-6),
        "level_pct": pytest.approx(45.0, abs=0.01),
    }


def test_ads1015_resolution() -> None:
    """The ADS1015 returns 12-bit values: 1.5 V at +/-4.096 V is a multiple of 2 mV."""
    sensor, _bus, _chip = make(bits=12)
    sensor.open()
    assert sensor.read() == {"a0_v": 1.5}


def test_conversion_never_ready_times_out() -> None:
    """An OS bit that never reports idle ends in SensorTimeout, not an endless loop."""
    sensor, _bus, _chip = make(busy_reads=100)
    sensor.open()
    with pytest.raises(SensorTimeout):
        sensor.read()


def test_nack_and_power_cycle() -> None:
    """One NACK is retried at once; two surface as errno 121; after a power cycle conversions are right."""
    sensor, bus, _chip = make()
    sensor.open()
    bus.inject("nack", 0x48)
    assert sensor.read() == {"a0_v": 1.5}
    assert sensor.device.nacks_retried == 1
    bus.inject("nack", 0x48, count=2)
    with pytest.raises(SensorError) as info:
        sensor.read()
    assert info.value.errno == errno.EREMOTEIO
    bus.disappear(0x48)
    bus.reappear(0x48)
    assert sensor.read() == {"a0_v": 1.5}


def test_field_spec_range() -> None:
    """A channel's plausible range is the calibrated full-scale interval, whatever the sign of scale."""
    spec = Channel("x", 4, 2.048, scale=-10.0, offset=5.0, unit="u").field_spec()
    assert (spec.min, spec.max, spec.unit) == (-15.48, 25.48, "u")


def spec(driver: str = "ads1115", **options: object) -> DeviceSpec:
    return DeviceSpec("adc", driver, "sensors[0]", 1.0, True, options)


def test_build_defaults_and_channels() -> None:
    """Without channels all four single-ended inputs are read as a0_v..a3_v; custom channels are honoured."""
    sensor = build(spec(), context_with_emulators())
    assert [f.name for f in sensor.info.fields] == ["a0_v", "a1_v", "a2_v", "a3_v"]
    assert sensor.data_rate_sps == 128
    sensor = build(
        spec("ads1015", channels=[{"field": "soil_pct", "input": "a1", "scale": 50.0}]),
        context_with_emulators(),
    )
    assert sensor.channels == (Channel("soil_pct", R.MUX["a1"], 4.096, 50.0, 0.0, ""),)
    assert sensor.data_rate_sps == 1600 and sensor.bits == 12


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"data_rate_sps": 100}, "sensors[0].data_rate_sps"),
        ({"channels": []}, "sensors[0].channels"),
        ({"channels": ["a0"]}, "sensors[0].channels[0]"),
        ({"channels": [{"field": "x_v", "input": "a4"}]}, "sensors[0].channels[0].input"),
        ({"channels": [{"field": "X", "input": "a0"}]}, "sensors[0].channels[0].field"),
        ({"channels": [{"field": "x_v\n", "input": "a0"}]}, "sensors[0].channels[0].field"),
        (
            {"channels": [{"field": "x_v", "input": "a0", "full_scale_v": 5.0}]},
            "sensors[0].channels[0].full_scale_v",
        ),
        ({"channels": [{"field": "x_v", "input": "a0", "scale": 0}]}, "sensors[0].channels[0].scale"),
        ({"channels": [{"field": "x_v", "input": "a0", "gain": 1}]}, "sensors[0].channels[0].gain"),
        (
            {"channels": [{"field": "x_v", "input": "a0"}, {"field": "x_v", "input": "a1"}]},
            "sensors[0].channels",
        ),
    ],
)
def test_build_rejects_bad_options(options: dict[str, object], key: str) -> None:
    """Each bad option is a ConfigError naming the exact key."""
    with pytest.raises(ConfigError) as info:
        build(spec(**options), context_with_emulators())
    assert info.value.key == key
