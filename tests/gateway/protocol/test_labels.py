"""gateway.protocol.labels: field ids become human labels without their unit suffix."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.labels import ACRONYMS, UNIT_SUFFIXES, human_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("temperature_c", "Temperature"),
        ("cpu_temp_c", "CPU temp"),
        ("pm2_5_ugm3", "PM2.5"),
        ("n0_3_per_dl", "N0.3"),
        ("net_rx_bps", "Net RX rate"),
        ("net_rx_bytes", "Net RX"),
        ("nmea_errors_total", "NMEA errors"),
        ("load_15m", "Load 15m"),
        ("pressure_pa", "Pressure"),
        ("relay1", "Relay1"),
        ("per", "Per"),
        ("bps", "Bps"),
        ("total", "Total"),
        ("c", "C"),
        ("_", "_"),
        ("", ""),
    ],
)
def test_human_name(name: str, expected: str) -> None:
    """Unit and `_total` suffixes are dropped, acronyms capitalised, digit pairs joined with a dot; a name that
    would become empty keeps its id."""
    assert human_name(name) == expected


@given(st.from_regex(r"[a-z0-9]{1,8}(_[a-z0-9]{1,8}){0,4}", fullmatch=True))
def test_every_id_gets_a_readable_label(name: str) -> None:
    """Any snake_case id gets a non-empty, capitalised label of space-separated words, acronyms in capitals,
    and a unit suffix dropped from an id of several words."""
    label = human_name(name)
    assert label and "_" not in label and label[0] == label[0].upper()
    assert all(w.upper() == w for w in label.split(" ") if w.lower() in ACRONYMS)
    words = name.split("_")
    if len(words) > 1 and words[-1] in UNIT_SUFFIXES - {"bps"}:
        assert len(label.split(" ")) < len(words)
