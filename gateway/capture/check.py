"""``replay --check``: the differences between the readings a replay decoded and a ``--dump`` file (PURE).

Readings are matched by ``(sensor, n)``, not by line, so one missing or extra reading is reported once instead
of shifting every line after it. Everything but ``t_s`` is compared, field by field for ``values``. The report
is bounded: the first :data:`MAX_SHOWN` differing readings, each value cut to :data:`MAX_VALUE_CHARS`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_SHOWN = 5
"""Differing readings listed in a report: the first few locate a regression, the total says how big it is."""
MAX_VALUE_CHARS = 60
"""Longest rendering of one value in a report (a string field or a nested value can be any size)."""
COMPARED = ("error", "errno", "health")
"""The keys of a dump line compared as a whole, besides ``values`` (field by field) and ``t_s`` (ignored)."""


@dataclass(frozen=True)
class CheckReport:
    """What differs: ``shown`` holds one line per differing reading (at most :data:`MAX_SHOWN`)."""

    differing: int
    """Readings that differ, are missing from the replay, or are extra in it."""
    compared: int
    """Readings in the ``--check`` file."""
    shown: tuple[str, ...]


def _short(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


Key = tuple[str, str]
"""A reading's identity: its sensor and its number, both as text (so ``"n": "3"`` in a file matches 3)."""


def reading_key(line: dict[str, Any]) -> Key:
    """The :data:`Key` of one dump line."""
    return (str(line.get("sensor")), str(line.get("n")))


def _field_diffs(got: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    out: list[str] = []
    gv, ev = got.get("values"), expected.get("values")
    if isinstance(gv, dict) and isinstance(ev, dict):
        for name in [*ev, *(k for k in gv if k not in ev)]:
            if name not in gv:
                out.append(f"{name} expected {_short(ev[name])}, replay has no {name}")
            elif name not in ev:
                out.append(f"{name} not expected, replay gave {_short(gv[name])}")
            elif not _same(gv[name], ev[name]):
                out.append(f"{name} expected {_short(ev[name])}, replay gave {_short(gv[name])}")
    elif not _same(gv, ev):
        out.append(f"values expected {_short(ev)}, replay gave {_short(gv)}")
    for name in COMPARED:
        if not _same(got.get(name), expected.get(name)):
            out.append(f"{name} expected {_short(expected.get(name))}, replay gave {_short(got.get(name))}")
    return out


def compare_dumps(got: Sequence[dict[str, Any]], expected: Sequence[dict[str, Any]]) -> CheckReport | None:
    """The differences between a replay's readings ``got`` and a dump's ``expected``; None when they match."""
    by_key = {reading_key(line): line for line in got}

    def extra() -> Iterable[Key]:
        wanted = {reading_key(line) for line in expected}
        return (key for key in by_key if key not in wanted)

    return compare_readings(expected, by_key.get, extra)


def compare_readings(
    expected: Iterable[dict[str, Any]],
    got: Callable[[Key], dict[str, Any] | None],
    extra: Callable[[], Iterable[Key]],
) -> CheckReport | None:
    """The differences between a replay's readings and a dump's, each side behind a lookup, so neither has to
    be held in memory (``replay --check`` keeps them in a temporary database); None when they match.

    Args:
        expected: the ``--check`` file's readings, in the file's order (iterated once).
        got: the replay's reading with a key, or None.
        extra: called once ``expected`` is consumed: the keys of the replay's readings that are not in
            ``expected``, each once, in the replay's order.
    """
    differing = 0
    compared = 0
    shown: list[str] = []

    def note(key: Key, what: str) -> None:
        nonlocal differing
        differing += 1
        if len(shown) < MAX_SHOWN:
            shown.append(f"sensor {key[0]} reading {key[1]}: {what}")

    for line in expected:
        compared += 1
        key = reading_key(line)
        mine = got(key)
        if mine is None:
            note(key, "in the --check file, not in the replay")
            continue
        diffs = _field_diffs(mine, line)
        if diffs:
            more = f" (and {len(diffs) - 3} more)" if len(diffs) > 3 else ""
            note(key, "; ".join(diffs[:3]) + more)
    for key in extra():
        note(key, "in the replay, not in the --check file")
    return CheckReport(differing, compared, tuple(shown)) if differing else None
