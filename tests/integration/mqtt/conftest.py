"""Fixtures for tests against a real Mosquitto (``/usr/sbin/mosquitto``; scripts/test.sh installs it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.mqtt.broker import MOSQUITTO, Mosquitto, running_broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running broker on a free 127.0.0.1 port with a temporary config; stopped by PID afterwards."""
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.fail(f"{MOSQUITTO} not found: install the 'mosquitto' Debian package (scripts/test.sh does)")
    with running_broker(tmp_path / "broker") as b:
        yield b
