"""The history room as the app sees it: the store (a hub sink) plus queries run off the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.history.config import HistoryConfig
from gateway.history.reader import MAX_POINTS, HistoryReader, HistoryResult
from gateway.history.store import HistoryStore
from gateway.metrics import Metrics

if TYPE_CHECKING:
    from gateway.catalogue import Catalogue
    from gateway.hub import Hub

log = logging.getLogger(__name__)
T = TypeVar("T")

QUERY_TIMEOUT_S = 10.0
"""A query that takes longer is answered with an error (its thread finishes it and the result is dropped)."""
QUERY_THREADS = 1
"""Queries run one at a time in their own thread: a Pi has few cores, and the writer must keep up."""


class HistoryService:
    """Owns the store and the query thread. Built by the composition root when ``[history] enabled``."""

    def __init__(self, config: HistoryConfig, data_dir: Path, metrics: Metrics) -> None:
        self.config = config
        self.path = config.db_path(data_dir)
        self.store = HistoryStore(
            self.path,
            commit_interval_s=config.commit_interval_s,
            compact_interval_s=config.compact_interval_s,
            max_bytes=config.max_bytes,
            retention_s=config.retention_s,
            metrics=metrics,
        )
        self.reader = HistoryReader(self.path)
        self._pool = concurrent.futures.ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="history-query")
        self._remove_sink: Callable[[], None] | None = None
        self._remove_event_sink: Callable[[], None] | None = None

    def start(self, hub: Hub, catalogue: Catalogue) -> None:
        """Set each sensor's policy and units from the catalogue, then start writing every batch the hub
        flushes. The writer logs whether history runs once it has opened the database (one story per run)."""
        listing = catalogue.listing()
        for info in listing.sensors:
            self.store.policies[info.id] = self.config.policy_for(info.id, info.interval_s)
            self.store.describe(info.id, {f.name: f.unit or "" for f in info.fields})
        for actuator in listing.actuators:
            self.store.policies[actuator.id] = self.config.policies.get(actuator.id, "raw")
        self.store.start()
        self._remove_sink = hub.add_sink(self.store.on_batch)
        self._remove_event_sink = hub.add_event_sink(self.store.on_event)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run a blocking reader call in the query thread, within :data:`QUERY_TIMEOUT_S`."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(QUERY_TIMEOUT_S):
            return await loop.run_in_executor(self._pool, fn)

    async def query(
        self,
        sensor: str,
        fields: tuple[str, ...],
        from_ns: int,
        to_ns: int,
        *,
        points: int | None = None,
        period_ns: int | None = None,
        limit: int | None = None,
    ) -> HistoryResult | None:
        """:meth:`HistoryReader.query` off the event loop."""
        if limit is None:
            limit = MAX_POINTS
        return await self.run(
            lambda: self.reader.query(
                sensor, fields, from_ns, to_ns, points=points, period_ns=period_ns, limit=limit
            )
        )

    async def events(
        self, from_ns: int, to_ns: int, sensor: str | None = None, limit: int | None = None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """:meth:`HistoryReader.events` off the event loop."""
        kw = {} if limit is None else {"limit": limit}
        return await self.run(lambda: self.reader.events(from_ns, to_ns, sensor, **kw))

    async def close(self) -> None:
        """Stop taking batches, write what is pending, stop the threads."""
        if self._remove_sink is not None:
            self._remove_sink()
        if self._remove_event_sink is not None:
            self._remove_event_sink()
        await asyncio.to_thread(self.store.close)
        self._pool.shutdown(wait=False, cancel_futures=True)
