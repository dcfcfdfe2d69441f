"""Streaming drivers over loop://: framing across reads, noise, partial frames, silence and port faults."""

from __future__ import annotations

import time

import pytest
import serial

from sensors.base import SensorInfo
from sensors.errors import SensorError
from sensors.serial.gps import FIELDS as GPS_FIELDS
from sensors.serial.gps import NmeaGps
from sensors.serial.lines import LineSensor
from sensors.serial.lines_codec import LineField, LineParser
from sensors.serial.pms import FIELDS as PMS_FIELDS
from sensors.serial.pms import PmsSensor
from sensors.serial.pms_codec import PmsFrame, encode_pms_frame
from sensors.sim.nmea import NmeaEmulator
from tests.sensors.serial.helpers import LoopPorts

T0_NS = 1_700_000_000_000_000_000


class FakeClock:
    """Monotonic seconds advanced by the test and by every port read (each read 'waits' its slice)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.05
        return self.now


def gps(ports: LoopPorts, clock: FakeClock | None = None, stale_after_s: float = 10.0) -> NmeaGps:
    info = SensorInfo("gps", "nmea_gps", GPS_FIELDS, 0.0)
    return NmeaGps(
        info,
        "loop://",
        ports.factory(),
        timeout_s=0.3,
        stale_after_s=stale_after_s,
        clock=clock or time.monotonic,
    )


def test_gps_merges_one_epoch_and_counts_noise_and_partial_sentences() -> None:
    """Noise, a cut sentence and a bad checksum around one epoch: one reading with every field, 3 errors."""
    ports = LoopPorts()
    sensor = gps(ports)
    sensor.open()
    assert sensor.bus_id == "serial:loop://"
    epoch = NmeaEmulator().epoch(0.0, T0_NS)
    bad = bytearray(epoch[1])
    bad[10] ^= 0x01
    ports.device_writes(b"\x00\xffnoise\r\n" + b"$GPGGA,1200" + b"\r\n" + bytes(bad) + b"".join(epoch))
    values = sensor.read()
    assert values == {
        "fix_quality": 1,
        "satellites": 7,
        "hdop": 0.92,
        "lat_deg": 52.20574917,
        "lon_deg": 0.1218,
        "alt_m": 12.0,
        "fix_type": 3,
        "pdop": 1.65,
        "vdop": 1.37,
        "satellites_in_view": 9,
        "speed_ms": 1.4,
        "course_deg": 90.0,
        "gps_time_ns": T0_NS,
        "nmea_errors_total": 3,
    }
    assert sensor.read() == {}
    sensor.close()


def test_gps_sentence_split_across_reads_is_decoded_once() -> None:
    """Bytes arriving in two pieces (a read boundary inside a sentence) still form one sentence."""
    ports = LoopPorts()
    sensor = gps(ports)
    sensor.open()
    rmc = NmeaEmulator().epoch(0.0, T0_NS)[5]
    ports.device_writes(rmc[:20])
    assert sensor.read() == {}
    ports.device_writes(rmc[20:])
    assert sensor.read()["gps_time_ns"] == T0_NS
    assert sensor.decoder.stats.ok == 1


def test_reopen_discards_a_partial_sentence_from_before() -> None:
    """After close/open the half sentence buffered before is dropped, not glued to new bytes."""
    ports = LoopPorts()
    sensor = gps(ports)
    sensor.open()
    ports.device_writes(b"$GPGGA,1200,52")
    assert sensor.read() == {}
    sensor.close()
    sensor.open()
    assert ports.opened == 2
    ports.device_writes(NmeaEmulator().epoch(0.0, T0_NS)[4])
    assert sensor.read() == {"satellites_in_view": 9, "nmea_errors_total": 0}


def test_silence_raises_after_stale_limit_and_again_after_reopen_until_data_flows() -> None:
    """No sentence for stale_after_s -> SensorError; a re-opened but still silent port fails at once."""
    ports = LoopPorts()
    clock = FakeClock()
    sensor = gps(ports, clock, stale_after_s=1.0)
    sensor.open()
    opened_s = clock.now
    empty: list[object] = []
    with pytest.raises(SensorError, match="no data from loop:// for 1 s"):
        while len(empty) < 50:
            empty.append(sensor.read())
    assert empty == [{}] * len(empty)
    assert len(empty) >= 2
    assert 1.0 < clock.now - opened_s <= 1.0 + 0.3 + 0.2
    sensor.close()
    sensor.open()
    reopened_s = clock.now
    with pytest.raises(SensorError, match="since it was re-opened"):
        sensor.read()
    waited_s = clock.now - reopened_s
    assert 0.3 <= waited_s <= 0.5
    with pytest.raises(SensorError, match="since it was re-opened"):
        sensor.read()  # an immediate retry only polls one slice more: the open's window is used up
    assert clock.now - reopened_s - waited_s <= 0.25
    ports.device_writes(NmeaEmulator().epoch(0.0, T0_NS)[4])
    assert sensor.read()["satellites_in_view"] == 9
    assert sensor.read() == {}


def test_open_failure_and_closed_port_raise_sensor_error() -> None:
    """A missing device at open, and a read on a closed sensor, raise SensorError (an OSError)."""
    ports = LoopPorts()
    sensor = gps(ports)
    ports.fail_next = True
    with pytest.raises(SensorError, match="cannot open loop://") as info:
        sensor.open()
    assert isinstance(info.value.__cause__, serial.SerialException)
    with pytest.raises(SensorError, match="is not open"):
        sensor.read()
    sensor.close()
    sensor.close()


def test_read_error_on_the_port_becomes_sensor_error() -> None:
    """A port that fails on read (pyserial's 'device disconnected') raises SensorError and counts it."""
    ports = LoopPorts()
    sensor = gps(ports)
    sensor.open()
    assert ports.current is not None
    ports.current.close()  # the loop port now raises PortNotOpenError (a SerialException) on read
    with pytest.raises(SensorError, match="read from loop:// failed"):
        sensor.read()
    assert sensor.port_errors_total == 1


def test_pms_frames_split_and_surrounded_by_garbage() -> None:
    """Frames cut across reads with garbage between them come out one per read, in order."""
    ports = LoopPorts()
    info = SensorInfo("air", "pms5003", PMS_FIELDS, 0.0)
    sensor = PmsSensor(info, "loop://", ports.factory(), wake_on_open=False, timeout_s=0.2)
    sensor.open()
    f1 = PmsFrame(3, 5, 6, 3, 5, 6, 600, 180, 30, 2, 0, 0)
    f2 = PmsFrame(10, 15, 20, 10, 15, 20, 2000, 600, 100, 8, 1, 0)
    stream = b"\x13\x37" + encode_pms_frame(f1)[:7] + encode_pms_frame(f1) + b"BMx" + encode_pms_frame(f2)
    ports.device_writes(stream[:20])
    assert sensor.read() == {}
    ports.device_writes(stream[20:])
    first = sensor.read()
    second = sensor.read()
    assert (first["pm2_5_ugm3"], first["n0_3_per_dl"], second["pm2_5_ugm3"], second["pm10_cf1_ugm3"]) == (
        5,
        600,
        15,
        20,
    )
    assert second["frame_errors_total"] == sensor.decoder.errors
    assert sensor.decoder.errors >= 2
    assert sensor.read() == {}


def test_pms_wake_commands_are_written_on_open() -> None:
    """wake_on_open sends 'wake up' then 'active mode' (they loop back on loop:// and are skipped)."""
    ports = LoopPorts()
    sensor = PmsSensor(
        SensorInfo("air", "pms5003", PMS_FIELDS, 0.0), "loop://", ports.factory(), timeout_s=0.1
    )
    sensor.open()
    assert ports.current is not None
    assert ports.current.read(14).hex() == "424de400010174424de100010171"


def test_line_sensor_one_reading_per_line_and_bad_lines_counted() -> None:
    """JSON lines: each valid line is one reading in order; bad JSON and a wrong type are counted."""
    ports = LoopPorts()
    parser = LineParser(
        "jsonl", [LineField("temperature_c", "t", "float", "°C"), LineField("count", "n", "int")]
    )
    info = SensorInfo("mcu", "serial_lines", tuple(f.spec() for f in parser.fields), 0.0)
    sensor = LineSensor(info, "loop://", ports.factory(), parser, timeout_s=0.2)
    sensor.open()
    ports.device_writes(
        b'{"t": 21.5, "n": 1}\n{"t": oops}\n{"t": "x"}\n{"t": 21.7, "n": 2, "other": true}\n{"n"'
    )
    assert sensor.read() == {"temperature_c": 21.5, "count": 1, "line_errors_total": 2}
    assert sensor.read() == {"temperature_c": 21.7, "count": 2, "line_errors_total": 2}
    assert sensor.read() == {}
    ports.device_writes(b": 3}\r\n")
    assert sensor.read() == {"count": 3, "line_errors_total": 2}
