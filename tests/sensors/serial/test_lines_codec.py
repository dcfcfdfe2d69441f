"""Line protocols: JSON lines, CSV with header, key=value, typed and scaled from config."""

from __future__ import annotations

import pytest

from sensors.serial.lines_codec import LineError, LineField, LineParser

FIELDS = [
    LineField("temperature_c", "t", "float", "°C"),
    LineField("count", "n", "int"),
    LineField("relay_on", "relay", "bool"),
    LineField("label", "label", "str"),
    LineField("uptime_s", "ms", "float", "s", scale=0.001),
]


def test_jsonl_typed_fields_and_unknown_keys_ignored() -> None:
    """JSON members map to typed fields; unnamed members and nulls are ignored."""
    p = LineParser("jsonl", FIELDS)
    assert p.parse('{"t": 21, "n": "7", "relay": 1, "label": "bench", "ms": 1500, "x": [1], "u": null}') == {
        "temperature_c": 21.0,
        "count": 7,
        "relay_on": True,
        "label": "bench",
        "uptime_s": 1.5,
    }


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"t": "warm"}', "t: expected a number"),
        ('{"n": 1.5}', "n: expected an integer"),
        ('{"relay": "maybe"}', "relay: expected true/false"),
        ('{"t": NaN}', "t: not a finite number"),
        ('{"label": {"a": 1}}', "label: expected text"),
        ('{"other": 1}', "none of the configured keys"),
    ],
)
def test_jsonl_rejections_name_the_reason(line: str, reason: str) -> None:
    """Each bad line is rejected whole with a short reason naming the key."""
    with pytest.raises(LineError, match=reason):
        LineParser("jsonl", FIELDS).parse(line)


def test_csv_header_then_rows_and_a_new_header_wins() -> None:
    """The header names the columns; data before it is an error; a reprinted header re-maps them."""
    p = LineParser("csv", FIELDS)
    with pytest.raises(LineError, match="before the CSV header"):
        p.parse("21.5,3")
    assert p.parse("t, n ,relay") is None
    assert p.parse("21.5, 3 ,on") == {"temperature_c": 21.5, "count": 3, "relay_on": True}
    with pytest.raises(LineError, match="expected 3 columns, got 2"):
        p.parse("21.5,3")
    assert p.parse("n,t") is None
    assert p.parse("4,19.0") == {"count": 4, "temperature_c": 19.0}
    p.reset()
    assert p.columns is None


def test_csv_configured_columns_and_delimiter() -> None:
    """Without a header line, configured columns apply; ';' works as delimiter; empty cells are skipped."""
    p = LineParser("csv", FIELDS, delimiter=";", columns=["n", "t"])
    assert p.parse("5;") == {"count": 5}
    p.parse("t;n")
    p.reset()
    assert p.columns == ("n", "t")


def test_kv_separators_and_quotes() -> None:
    """Pairs with '=' or ':' separated by spaces, commas or semicolons; quoted strings keep their spaces."""
    p = LineParser("kv", FIELDS)
    assert p.parse('t=21.5, n:3; relay=off label="bench 2" ms=250') == {
        "temperature_c": 21.5,
        "count": 3,
        "relay_on": False,
        "label": "bench 2",
        "uptime_s": 0.25,
    }
    with pytest.raises(LineError, match="no key=value pairs"):
        p.parse("hello world")


def test_int_scale_rounds_and_strings_are_bounded() -> None:
    """An int field with a scale stays an int; long strings are cut to 64 characters."""
    p = LineParser("jsonl", [LineField("dl", "v", "int", scale=10.0), LineField("s", "s", "str")])
    assert p.parse('{"v": 3, "s": "' + "x" * 100 + '"}') == {"dl": 30, "s": "x" * 64}


def test_json_types_for_bool_and_number_fields() -> None:
    """JSON true/false and 0/1 are booleans, 2 is not; a list is not a number."""
    p = LineParser("jsonl", FIELDS)
    assert p.parse('{"relay": false, "n": 0}') == {"relay_on": False, "count": 0}
    assert p.parse('{"relay": 1.0}') == {"relay_on": True}
    with pytest.raises(LineError, match="relay: expected true/false"):
        p.parse('{"relay": 2}')
    with pytest.raises(LineError, match="t: expected a number"):
        p.parse('{"t": [21.5]}')
