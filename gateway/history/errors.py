"""History errors."""

from __future__ import annotations

from sensors.errors import SensorcastError


class HistoryError(SensorcastError, ValueError):
    """Stored history cannot be read back (a damaged chunk) or a query cannot be answered."""


MAX_ECHO_CHARS = 40
"""A user's value echoed in an error is cut to this many characters (its repr): the message stays one line."""
MAX_LISTED_NAMES = 10
"""Sensors or fields an error lists at most, then "... N more": a big fleet must not make a page of text."""


def echo(value: str) -> str:
    """``value`` as an error quotes it: its repr, cut to :data:`MAX_ECHO_CHARS` characters."""
    return repr(value if len(value) <= MAX_ECHO_CHARS else value[:MAX_ECHO_CHARS] + "...")


def listing(names: list[str]) -> str:
    """``a, b, c`` - the first :data:`MAX_LISTED_NAMES` of ``names``, then ``... N more``."""
    shown = ", ".join(names[:MAX_LISTED_NAMES])
    rest = len(names) - MAX_LISTED_NAMES
    return f"{shown}, ... {rest} more" if rest > 0 else shown


def unknown_sensor(sensor: str, with_history: list[str]) -> str:
    """The one-line answer to a query for a sensor with no history, naming those that have some."""
    if not with_history:
        return f"no history for sensor {echo(sensor)} (no sensor has history yet)"
    return f"no history for sensor {echo(sensor)} (sensors with history: {listing(with_history)})"


class UnknownField(HistoryError):
    """A query named a field the sensor never had; the text names it and lists the known ones."""

    def __init__(self, sensor: str, field: str, known: list[str]) -> None:
        super().__init__(
            f"fields: sensor {echo(sensor)} has no field {echo(field)} (its fields: {listing(known) or 'none'})"
        )
