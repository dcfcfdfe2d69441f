"""``replay --check``'s comparison (gateway/capture/check.py): matched by reading, field by field, bounded."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.capture.check import MAX_SHOWN, MAX_VALUE_CHARS, CheckReport, compare_dumps


def reading(sensor: str, n: int, t_s: float = 0.0, **values: Any) -> dict[str, Any]:
    return {"sensor": sensor, "n": n, "t_s": t_s, "values": values}


def test_equal_dumps_match_whatever_the_times() -> None:
    """Readings equal but for ``t_s`` (and NaN against NaN) match: no report."""
    got = [reading("env", 0, 0.1, t=20.5, p=math.nan), reading("env", 1, 0.2, t=20.6, p=1.0)]
    expected = [reading("env", 0, 9.0, t=20.5, p=math.nan), reading("env", 1, 9.1, t=20.6, p=1.0)]
    assert compare_dumps(got, expected) is None


def test_one_changed_value_names_sensor_reading_field_expected_and_got() -> None:
    """One changed field is told as sensor, reading number, field, expected value and replayed value."""
    got = [reading("gps", 3, hdop=0.92, sats=7), reading("gps", 4, hdop=0.9, sats=7)]
    expected = [reading("gps", 3, hdop=0.921, sats=7), reading("gps", 4, hdop=0.9, sats=7)]
    assert compare_dumps(got, expected) == CheckReport(
        1, 2, ("sensor gps reading 3: hdop expected 0.921, replay gave 0.92",)
    )


def test_a_missing_line_is_one_difference_not_a_shift_of_every_later_line() -> None:
    """A reading removed from the file, or one the replay lacks, is reported once; later ones still match."""
    got = [reading("imu", n, ax=float(n)) for n in range(10)]
    expected = [line for line in got if line["n"] != 2]
    assert compare_dumps(got, expected) == CheckReport(
        1, 9, ("sensor imu reading 2: in the replay, not in the --check file",)
    )
    assert compare_dumps(expected, got) == CheckReport(
        1, 10, ("sensor imu reading 2: in the --check file, not in the replay",)
    )


def test_fields_errors_and_health_are_compared() -> None:
    """A missing or extra field, another error, errno or health state are differences too."""
    got = [
        reading("a", 0, x=1),
        reading("b", 0, x=1, y=2),
        {"sensor": "c", "n": 0, "t_s": 0, "error": "nack", "errno": 121},
        {**reading("d", 0, x=1), "health": "ok"},
        {"sensor": "e", "n": 0, "t_s": 0, "error": "timeout", "errno": 110},
    ]
    expected = [
        reading("a", 0, x=1, y=2),
        reading("b", 0, x=1),
        {"sensor": "c", "n": 0, "t_s": 0, "error": "nack", "errno": 5},
        reading("d", 0, x=1),
        reading("e", 0, x=1),
    ]
    assert compare_dumps(got, expected) == CheckReport(
        5,
        5,
        (
            "sensor a reading 0: y expected 2, replay has no y",
            "sensor b reading 0: y not expected, replay gave 2",
            "sensor c reading 0: errno expected 5, replay gave 121",
            'sensor d reading 0: health expected null, replay gave "ok"',
            'sensor e reading 0: values expected {"x":1}, replay gave null; error expected null, replay gave '
            '"timeout"; errno expected null, replay gave 110',
        ),
    )


def test_the_report_is_bounded_in_lines_and_value_length() -> None:
    """Thousands of differing readings, each with many long fields, give MAX_SHOWN short lines and the total."""
    long = "x" * 10_000
    got = [reading("s", n, **{f"f{i}": long for i in range(50)}) for n in range(2000)]
    expected = [reading("s", n, **{f"f{i}": long + "y" for i in range(50)}) for n in range(2000)]
    report = compare_dumps(got, expected)
    assert report is not None and report.differing == 2000 and report.compared == 2000
    assert len(report.shown) == MAX_SHOWN
    assert all(len(line) < 3 * (2 * MAX_VALUE_CHARS + 60) + 60 for line in report.shown)  # 3 fields shown
    assert report.shown[0].startswith("sensor s reading 0: f0 expected ") and report.shown[0].endswith(
        "(and 47 more)"
    )


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 20), st.floats(allow_nan=False)), max_size=30)
)
def test_a_dump_always_matches_itself_and_a_changed_value_is_always_found(
    rows: list[tuple[str, int, float]],
) -> None:
    """Any dump matches itself; changing one value gives exactly one difference, for that reading."""
    unique = {(s, n): v for s, n, v in rows}
    lines = [reading(s, n, v=v) for (s, n), v in unique.items()]
    assert compare_dumps(lines, lines) is None
    if lines:
        changed = [dict(line) for line in lines]
        changed[0] = reading(lines[0]["sensor"], lines[0]["n"], v="other")
        report = compare_dumps(lines, changed)
        assert report is not None and report.differing == 1
        assert report.shown[0].startswith(f"sensor {lines[0]['sensor']} reading {lines[0]['n']}: v expected")
