"""NMEA field rules: optional fields, ranges, statuses and unknown types (every branch of the decoder)."""

from __future__ import annotations

import pytest

from sensors.serial.nmea import NmeaDecoder, encode_sentence


def decode(body: str) -> tuple[dict[str, object], dict[str, int]]:
    d = NmeaDecoder()
    values = d.decode_line(encode_sentence(body).rstrip())
    return values, d.stats.as_dict()


@pytest.mark.parametrize(
    ("body", "values"),
    [
        (
            "GPGGA,120000,5212.000,N,00010.000,E,1,,,,M,,,,",
            {"fix_quality": 1, "lat_deg": 52.2, "lon_deg": 0.16667},
        ),
        ("GPGGA,120000,,,,,1,05,1.2,10.0,M,,,,", {"fix_quality": 1, "satellites": 5, "hdop": 1.2}),
        ("GPGGA,120000,,,,,,,,,,,,,", {"fix_quality": 0}),
        ("GPRMC,120000,A,5212.000,S,00010.000,W,,,,,,A", {"lat_deg": -52.2, "lon_deg": -0.16667}),
        ("GPRMC,120000,V,,,,,,,010124,,,N", {}),
        ("GPVTG,,T,,M,2.0,N,,K,A", {"speed_ms": 1.0289}),
        ("GPVTG,12.5,T,,M,,N,,K,A", {"course_deg": 12.5}),
        ("GPVTG,12.5,T,,M,2.0,N,3.6,K,N", {}),
        ("GPGSA,A,,,,,,,,,,,,,,,,", {}),
        ("GPGSA,A,2,01,,,,,,,,,,,,,2.5,", {"fix_type": 2, "hdop": 2.5}),
        ("GPGSV,1,1,", {}),
    ],
)
def test_optional_and_empty_fields(body: str, values: dict[str, object]) -> None:
    """Empty fields are simply absent from the update; the sentence still counts as ok."""
    got, stats = decode(body)
    got = {k: round(v, 5) if isinstance(v, float) else v for k, v in got.items()}
    assert got == values
    assert stats["ok"] == 1


@pytest.mark.parametrize(
    ("body", "counter"),
    [
        ("GPGGA,120000,9530.000,N,00010.000,E,1,05,1.0,10.0,M,,,,", "implausible"),  # latitude 95.5
        ("GPGGA,120000,5212.000,N,00010.000,E,9,05,1.0,10.0,M,,,,", "implausible"),  # fix quality 9
        ("GPGGA,120000,5212.000,N,00010.000,E,1,05,150,10.0,M,,,,", "implausible"),  # HDOP 150
        ("GPGGA,120000,5212.000,N,00010.000,E,1,05,1.0,99999999,M,,,,", "implausible"),  # altitude
        ("GPRMC,120000,A,5212.000,N,00010.000,E,1.0,400.0,010124,,,A", "implausible"),  # course 400
        ("GPRMC,120000,X,5212.000,N,00010.000,E,1.0,90.0,010124,,,A", "malformed"),  # status X
        ("GPGGA,1", "malformed"),  # too few fields
        ("GPGSA,A,3,01,02", "malformed"),
        ("GPVTG,12.5,T,,M,2.0,N", "malformed"),
        ("ABCDEF,1", "malformed"),  # an address that is neither talker + type nor proprietary
        ("GPXYZ,1,2,3", "unsupported"),  # a type pynmea2 does not know
        ("PUBX,00,120000", "unsupported"),  # proprietary
    ],
)
def test_sentences_skipped_by_rule(body: str, counter: str) -> None:
    """Out-of-range values, bad statuses, short and unknown sentences give nothing and are counted."""
    got, stats = decode(body)
    assert got == {}
    assert stats[counter] == 1
    assert sum(stats.values()) == 1


def test_rmc_without_date_gives_no_time() -> None:
    """An RMC with an empty date field updates position but not gps_time_ns."""
    got, _ = decode("GPRMC,120000,A,5212.000,N,00010.000,E,0.0,,,,,A")
    assert "gps_time_ns" not in got and got["speed_ms"] == 0.0


def test_noise_before_a_sentence_is_not_a_truncation() -> None:
    """Bytes without '$' or ',' before a sentence (line noise) are dropped; the sentence counts ok."""
    d = NmeaDecoder()
    assert d.decode_line(b"\x00\xfe" + encode_sentence("GPGSV,1,1,04").rstrip()) == {"satellites_in_view": 4}
    assert d.stats.as_dict()["truncated"] == 0


def test_reset_forgets_constellations_but_keeps_counters() -> None:
    """After reset, satellites in view restart from the next GSV; the counters are totals."""
    d = NmeaDecoder()
    d.decode_line(encode_sentence("GPGSV,1,1,04").rstrip())
    d.decode_line(b"junk")
    d.reset()
    assert d.decode_line(encode_sentence("GLGSV,1,1,03").rstrip()) == {"satellites_in_view": 3}
    assert (d.stats.ok, d.stats.malformed) == (2, 1)
