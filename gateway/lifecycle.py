"""What the gateway's and the fleet's composition roots share: the hub built from ``[gateway]``
(:func:`build_hub`) and running until asked to stop (:class:`Stoppable`)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.catalogue import Catalogue
from gateway.config import GatewaySection
from gateway.hub import Hub
from gateway.metrics import Metrics


def build_hub(
    gw: GatewaySection, boot_id: str, metrics: Metrics, catalogue: Catalogue, *, clock_synced: bool
) -> Hub:
    """The hub of gateway ``gw.id`` with ``[gateway]``'s flush interval, batch size and ring size."""
    return Hub(
        gw.id,
        boot_id,
        flush_interval_ms=gw.flush_interval_ms,
        batch_size=gw.batch_size,
        ring_size=gw.ring_size,
        metrics=metrics,
        catalogue=catalogue,
        clock_synced=clock_synced,
    )


class Stoppable:
    """An app that serves until :meth:`stop` (signal handlers call it) and stops its tasks on the way out.

    The base of :class:`gateway.app.GatewayApp` and :class:`gateway.fleet.app.FleetApp`; each keeps its own
    ``__aexit__``, since what a stop must flush, commit and close, and in which order, is the app's own.
    """

    def __init__(self) -> None:
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask the app to stop (signal handlers call this)."""
        self._stop.set()

    async def wait_closed(self) -> None:
        """Wait until :meth:`stop` is called, or the app stops itself (the gateway does when a task crashes)."""
        await self._stop.wait()

    @staticmethod
    async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
        """Cancel ``tasks`` and wait until each has ended (their exceptions are theirs: none is raised here)."""
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
