"""Fixtures shared by the gateway's unit tests."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gateway.buses import BusWorker


@pytest.fixture
def shutdown() -> Any:
    """Collects workers and releases blocked threads at the end of a test."""
    workers: list[BusWorker] = []
    gates: list[threading.Event] = []
    yield workers, gates
    for gate in gates:
        gate.set()
    for w in workers:
        w.shutdown()
