"""Display labels for field ids (pure): ``temperature_c`` -> ``Temperature``, ``cpu_temp_c`` -> ``CPU temp``.

The hub puts one in each catalogue field (``hello.sensors[].fields[].label``) so every client - the dashboard,
the Home Assistant discovery configs - shows the same human name; the unit travels separately, so a unit suffix
in the id is dropped from the label.
"""

from __future__ import annotations

ACRONYMS = frozenset(
    {"cpu", "gpu", "gps", "pm", "hdop", "pdop", "vdop", "rx", "tx", "adc", "nmea", "ph", "co2", "uv"}
)
"""Words written in capitals (``cpu`` -> ``CPU``)."""
UNIT_SUFFIXES = frozenset({
    "c", "f", "k", "pa", "hpa", "pct", "v", "mv", "a", "ma", "w", "hz", "s", "ms", "ns", "m", "mm", "cm", "kmh",
    "lx", "lux", "deg", "dps", "ms2", "ugm3", "bps", "ppm", "dl",
})  # fmt: skip
"""Last words of a field id that only name its unit (``_c``, ``_pa``...): dropped, the unit is shown apart."""


def human_name(name: str) -> str:
    """A display name from a field id.

    ``temperature_c`` -> ``Temperature``, ``cpu_temp_c`` -> ``CPU temp``, ``pm2_5_ugm3`` -> ``PM2.5``,
    ``net_rx_bps`` -> ``Net RX rate``, ``nmea_errors_total`` -> ``NMEA errors`` (the unit and the series kind
    travel separately, so their suffixes are dropped). An empty id stays empty.
    """
    words = name.split("_")
    if len(words) > 1 and words[-1] == "bps":
        words[-1] = "rate"  # net_rx_bps beside the net_rx_bytes counter: "Net RX rate", "Net RX"
    if len(words) > 1 and words[-1] == "total":
        words.pop()
    if len(words) > 1 and (words[-1] in UNIT_SUFFIXES or words[-1] == "bytes"):
        words.pop()
    if len(words) > 1 and words[-1] == "per":
        words.pop()
    out: list[str] = []
    for w in words:
        if out and w.isdigit() and out[-1][-1:].isdigit():
            out[-1] += "." + w  # pm2_5 -> PM2.5, n0_3 -> N0.3
        elif w in ACRONYMS or (w[:2] == "pm" and w[2:].isdigit()):
            out.append(w.upper())
        else:
            out.append(w)
    text = " ".join(out).strip() or name
    return text[:1].upper() + text[1:]
