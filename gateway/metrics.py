"""Counters and gauges, rendered in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    """Escape a label value: backslash, double quote and newline."""
    return _escape_help(value).replace('"', '\\"')


def _escape_help(text: str) -> str:
    """Escape HELP text: backslash and newline only (a newline would end the comment line early)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


_EXACT_INT_LIMIT = 2**53
"""Integral floats below this are exact integers; render them without an exponent or a fraction."""


def _format_value(value: float) -> str:
    """Render a sample value so that Prometheus parses back exactly the same number.

    Counters must not be rounded (``{:g}`` keeps 6 digits: 1234567 became ``1.23457e+06`` and rate() saw
    steps). Integers are written out in full, other floats with ``repr`` (the shortest string that round-trips),
    and the non-finite values in the exposition format's spelling.
    """
    if isinstance(value, int):  # bool included: True is 1
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < _EXACT_INT_LIMIT:
        return str(int(value))
    return repr(float(value))


class Metrics:
    """A tiny registry: monotonic counters, set-able gauges, and gauge callbacks evaluated at scrape time."""

    def __init__(self) -> None:
        self._help: dict[str, tuple[str, str]] = {}
        self._values: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._callbacks: list[Callable[[], Iterable[tuple[str, Labels, float]]]] = []

    def describe(self, name: str, kind: str, help_text: str) -> None:
        """Declare metric ``name`` of ``kind`` (counter or gauge)."""
        self._help[name] = (kind, help_text)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` to counter ``name``."""
        key = tuple(sorted(labels.items()))
        series = self._values[name]
        series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set gauge ``name``."""
        self._values[name][tuple(sorted(labels.items()))] = value

    def get(self, name: str, **labels: str) -> float:
        """Return the current value (0 if never touched)."""
        return self._values.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def add_callback(self, fn: Callable[[], Iterable[tuple[str, Labels, float]]]) -> None:
        """Register ``fn`` returning ``(name, labels, value)`` samples computed at scrape time."""
        self._callbacks.append(fn)

    def render(self) -> str:
        """Return the exposition text."""
        samples: dict[str, dict[Labels, float]] = {k: dict(v) for k, v in self._values.items()}
        for fn in self._callbacks:
            for name, labels, value in fn():
                samples.setdefault(name, {})[labels] = value
        lines: list[str] = []
        for name in sorted(set(samples) | set(self._help)):
            kind, help_text = self._help.get(name, ("gauge", ""))
            lines.append(f"# HELP {name} {_escape_help(help_text)}")
            lines.append(f"# TYPE {name} {kind}")
            series = samples.get(name) or ({(): 0.0} if not name.endswith("}") else {})
            for labels, value in sorted(series.items()):
                lab = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                text = _format_value(value)
                lines.append(f"{name}{{{lab}}} {text}" if lab else f"{name} {text}")
        return "\n".join(lines) + "\n"
