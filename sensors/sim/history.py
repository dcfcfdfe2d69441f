"""A bounded history for emulators: what a chip was told, or how a pin changed, kept for tests to inspect.

The emulators run the demo for weeks, so every such record must be bounded (issue 20: the idle demo grew by
~19 kB/s from gpiozero's mock pins keeping every edge).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")

COMMAND_HISTORY = 64
"""Commands an emulated chip remembers (tests look at the first few of a short sequence)."""


class BoundedList(list[T]):
    """A list that keeps only its last ``limit`` to ``2 * limit - 1`` appended items: it forgets the oldest half
    at a time (amortised O(1) per append). Still a list, so tests index, slice and compare it as one.

    Args:
        items: initial content.
        limit: see above (default: the class's ``limit``).
    """

    limit = COMMAND_HISTORY

    def __init__(self, items: Iterable[T] = (), limit: int | None = None) -> None:
        super().__init__(items)
        if limit is not None:
            self.limit = limit

    def append(self, item: T) -> None:
        """Append ``item``, forgetting the oldest ``limit`` items once the list holds ``2 * limit``."""
        super().append(item)
        if len(self) >= 2 * self.limit:
            del self[: self.limit]
