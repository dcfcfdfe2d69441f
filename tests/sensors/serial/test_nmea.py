"""NMEA 0183 validation and decoding: values, checksum, truncation, interleaving, implausible values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sensors.serial.nmea import NmeaDecoder, encode_sentence, nmea_checksum, utc_ns
from sensors.sim.nmea import NmeaEmulator

GGA = b"$GPGGA,184353.07,1929.045,S,02410.506,E,1,04,2.6,100.00,M,-33.9,M,,0000*6D"
RMC = b"$GPRMC,081836,A,3751.65,S,14507.36,E,000.0,360.0,130998,011.3,E*62"
VTG = b"$GPVTG,054.7,T,034.4,M,005.5,N,010.2,K*48"
GSA = b"$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39"
GSV = b"$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74"


def test_known_sentences_decode_to_exact_fields() -> None:
    """Published example sentences of each supported type give the expected values."""
    d = NmeaDecoder()
    assert d.decode_line(GGA) == {
        "fix_quality": 1,
        "satellites": 4,
        "hdop": 2.6,
        "lat_deg": -19.48408333,
        "lon_deg": 24.1751,
        "alt_m": 100.0,
    }
    assert d.decode_line(RMC) == {
        "lat_deg": -37.86083333,
        "lon_deg": 145.12266667,
        "speed_ms": 0.0,
        "course_deg": 360.0,
        "gps_time_ns": 905674716_000_000_000,
    }
    assert d.decode_line(VTG) == {"speed_ms": 2.8333, "course_deg": 54.7}
    assert d.decode_line(GSA) == {"fix_type": 3, "pdop": 2.5, "hdop": 1.3, "vdop": 2.1}
    assert d.decode_line(GSV) == {"satellites_in_view": 11}
    assert d.stats.as_dict() == {
        "ok": 5,
        "unsupported": 0,
        "bad_checksum": 0,
        "truncated": 0,
        "malformed": 0,
        "implausible": 0,
    }


def test_satellites_in_view_sum_over_constellations() -> None:
    """GPS and GLONASS GSV counts add up; a new count from one talker replaces only its own."""
    d = NmeaDecoder()
    assert d.decode_line(encode_sentence("GPGSV,1,1,08").rstrip()) == {"satellites_in_view": 8}
    assert d.decode_line(encode_sentence("GLGSV,1,1,05").rstrip()) == {"satellites_in_view": 13}
    assert d.decode_line(encode_sentence("GPGSV,1,1,09").rstrip()) == {"satellites_in_view": 14}


def test_gps_time_is_exact_utc_nanoseconds() -> None:
    """RMC date and time with centiseconds become an exact ns timestamp (no float rounding)."""
    d = NmeaDecoder()
    line = encode_sentence("GNRMC,235959.99,A,5212.34495,N,00007.30800,W,0.0,,311224,,,A").rstrip()
    values = d.decode_line(line)
    assert values["gps_time_ns"] == 1735689599_990_000_000
    assert values["lon_deg"] == -0.1218
    import datetime as dt

    assert utc_ns(dt.date(1970, 1, 2), dt.time(0, 0, 1, 5)) == 86401_000_005_000


def test_no_fix_sentences_give_no_position() -> None:
    """A receiver without a fix reports quality 0 and no position; RMC 'V' is skipped (but not an error)."""
    d = NmeaDecoder()
    lines = [s.rstrip() for s in NmeaEmulator(fix_after_s=10).epoch(0.0, 1_700_000_000_000_000_000)]
    merged: dict[str, object] = {}
    for line in lines:
        merged.update(d.decode_line(line))
    assert merged == {
        "fix_quality": 0,
        "satellites": 0,
        "hdop": 99.99,
        "fix_type": 1,
        "pdop": 99.99,
        "vdop": 99.99,
        "satellites_in_view": 9,
    }
    assert d.stats.errors == 0


def test_interleaved_sentence_counts_the_cut_one_and_keeps_the_next() -> None:
    """'$GPGGA,1843$GPRMC,...*62': the cut GGA is counted truncated, the RMC inside is decoded."""
    d = NmeaDecoder()
    assert d.decode_line(b"$GPGGA,184353.07,19" + RMC)["lat_deg"] == -37.86083333
    assert (d.stats.truncated, d.stats.ok) == (1, 1)


def test_noise_and_faults_are_classified() -> None:
    """Noise is malformed, a missing tail truncated, a wrong sum bad_checksum, bad minutes implausible."""
    d = NmeaDecoder()
    bad_minutes = encode_sentence("GPGGA,120000,5275.000,N,00010.000,E,1,05,1.0,10.0,M,,,,").rstrip()
    inputs = [
        b"\xff\xfe garbage",
        GGA[:40],
        GGA[:-2] + b"6E",
        bad_minutes,
        b"$GPGGA,12\x01,*00",
        encode_sentence("GPZDA,201530.00,04,07,2002,00,00").rstrip(),
    ]
    assert [d.decode_line(line) for line in inputs] == [{}] * 6
    assert d.stats.as_dict() == {
        "ok": 0,
        "unsupported": 1,
        "bad_checksum": 1,
        "truncated": 1,
        "malformed": 2,
        "implausible": 1,
    }
    assert d.stats.errors == 5


def test_unparseable_fields_are_malformed_not_crashes() -> None:
    """A checksum-valid sentence with a non-numeric field or an impossible date is skipped as malformed."""
    d = NmeaDecoder()
    lines = [
        encode_sentence("GPGGA,120000,5212.0,N,00010.0,E,X,05,1.0,10.0,M,,,,"),
        encode_sentence("GPRMC,120000,A,5212.0,N,00010.0,E,1.0,90.0,320199,,,A"),
        encode_sentence("GPGGA,120000,5212.0,Q,00010.0,E,1,05,1.0,10.0,M,,,,"),
    ]
    assert [d.decode_line(line.rstrip()) for line in lines] == [{}, {}, {}]
    assert d.stats.malformed == 3


def test_missing_checksum_is_accepted_only_when_configured() -> None:
    """A bare sentence is truncated by default and decoded with require_checksum=False."""
    bare = b"$GPGSV,1,1,07"
    assert NmeaDecoder().decode_line(bare) == {}
    assert NmeaDecoder(require_checksum=False).decode_line(bare) == {"satellites_in_view": 7}


_BODY = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="$*,"), max_size=40
)


@given(_BODY)
def test_checksum_is_the_xor_of_the_body(body: str) -> None:
    """encode_sentence appends the XOR of the body as two upper-case hex digits."""
    full = "GPTXT," + body
    expected = 0
    for ch in full.encode():
        expected ^= ch
    assert encode_sentence(full) == b"$" + full.encode() + f"*{expected:02X}\r\n".encode()
    assert nmea_checksum(full.encode()) == expected


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=255), st.data())
def test_any_single_byte_corruption_is_rejected(t_s: int, xor: int, data: st.DataObject) -> None:
    """Changing any one byte of a valid sentence body to another printable byte never yields values."""
    sentence = NmeaEmulator().epoch(float(t_s), 1_700_000_000_000_000_000 + t_s * 10**9)[0].rstrip()
    pos = data.draw(st.integers(min_value=1, max_value=len(sentence) - 4))  # inside the body
    new = sentence[pos] ^ xor
    if not 0x20 <= new <= 0x7E or new in b"$*":
        new = 0x7F  # non-printable: must be rejected too
    corrupted = sentence[:pos] + bytes([new]) + sentence[pos + 1 :]
    d = NmeaDecoder()
    assert d.decode_line(corrupted) == {}
    assert d.stats.errors == 1
    # One changed byte always changes the XOR: a printable change is a checksum failure wherever it lands.
    assert (d.stats.bad_checksum, d.stats.malformed) == ((0, 1) if new == 0x7F else (1, 0))


# Real receiver output, verbatim from gpsd's regression logs (test/daemon/*.log, BSD licence): SiRF II,
# u-blox NEO-M8N (GN/GL talkers), MediaTek MT3339.
REAL = [
    b"$GPGSV,3,3,12,24,58,220,,26,17,053,,29,20,063,,30,60,311,44*7F",
    b"$GLGSV,3,1,10,66,37,078,27,67,62,349,26,68,20,296,25,75,04,018,*6E",
    b"$GNGGA,171926.00,4404.14063,N,12118.85478,W,1,12,0.91,1147.2,M,-21.3,M,,*44",
    b"$GNRMC,171926.00,A,4404.14063,N,12118.85478,W,0.117,,180315,,,A*76",
    b"$GPGSA,A,1,,,,,,,,,,,,,0.0,0.0,0.0*30",
]


def test_damage_in_the_address_field_of_real_sentences_is_a_bad_checksum() -> None:
    """'$G^GSV,...*7F': a printable byte hit in the talker/type field counts bad_checksum, as documented."""
    d = NmeaDecoder()
    assert all(d.decode_line(s) != {} or s.startswith(b"$GPGSA") for s in REAL)  # intact: they decode
    assert (d.stats.ok, d.stats.errors) == (5, 0)
    damaged = [s[:2] + b"^" + s[3:] for s in REAL] + [s[:1] + b"g" + s[2:] for s in REAL]
    assert damaged[0] == b"$G^GSV,3,3,12,24,58,220,,26,17,053,,29,20,063,,30,60,311,44*7F"
    assert [d.decode_line(s) for s in damaged] == [{}] * 10
    assert d.stats.as_dict() == {
        "ok": 5,
        "unsupported": 0,
        "bad_checksum": 10,
        "truncated": 0,
        "malformed": 0,
        "implausible": 0,
    }


def test_a_bad_address_with_a_matching_checksum_is_malformed() -> None:
    """A complete sentence whose address is not [A-Z0-9]{2,6} but whose sum matches is malformed."""
    d = NmeaDecoder()
    assert d.decode_line(encode_sentence("gpgga,1,2,3").rstrip()) == {}
    assert (d.stats.malformed, d.stats.bad_checksum, d.stats.truncated) == (1, 0, 0)


@given(st.integers(min_value=0, max_value=6), st.data())
def test_any_truncation_is_rejected(index: int, data: st.DataObject) -> None:
    """Any prefix of a sentence that lacks its checksum tail yields nothing and counts one error."""
    sentence = NmeaEmulator().epoch(0.0, 1_700_000_000_000_000_000)[index].rstrip()
    cut = data.draw(st.integers(min_value=1, max_value=len(sentence) - 1))
    d = NmeaDecoder()
    assert d.decode_line(sentence[:cut]) == {}
    assert d.stats.errors == 1
