"""Shared pytest configuration.

* ``--run-hardware`` enables tests/hardware (real boards); they are skipped otherwise, by design.
  ``--record FILE`` records their bus traffic; ``--replay FILE`` runs them against such a capture, no board.
* ``SENSORCAST_TEST_TIMEOUT_SCALE`` (default 1) multiplies behavioural timeouts for slow boards; use
  :func:`scaled` for every wait in a test.
"""

from __future__ import annotations

import os
import tempfile

import pytest

TIMEOUT_SCALE = float(os.environ.get("SENSORCAST_TEST_TIMEOUT_SCALE", "1"))

# Gateways started by tests (in process or as subprocesses, which inherit this) keep their state - the history
# database, the MQTT outbox - in a throwaway directory, never in the home directory of whoever runs the tests.
os.environ.setdefault("SENSORCAST_DATA_DIR", tempfile.mkdtemp(prefix="sensorcast-test-data-"))
# The suite may itself run under a service manager (CI in a systemd unit, the fresh-Debian check in nspawn): the
# gateways it starts must not talk to that manager's notify socket or claim its journal stream. Tests that want
# them set their own (tests/gateway/test_sdnotify.py, tests/gateway/cli/test_logs.py).
for _var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "INVOCATION_ID"):
    os.environ.pop(_var, None)


def scaled(seconds: float) -> float:
    """Return ``seconds`` multiplied by the slow-board factor."""
    return seconds * TIMEOUT_SCALE


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-hardware",
        action="store_true",
        default=False,
        help="run tests/hardware against a real board (I2C bus, GPIO, serial)",
    )
    parser.addoption(
        "--record",
        metavar="FILE",
        help="with --run-hardware: record every bus transaction of tests/hardware to FILE (a .scap capture)",
    )
    parser.addoption(
        "--replay",
        metavar="FILE",
        help="run tests/hardware against a capture made with --record instead of a board (CI)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-hardware") or config.getoption("--replay"):
        return
    skip = pytest.mark.skip(
        reason="real hardware: pass --run-hardware on a board (see tests/hardware/README.md)"
    )
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)
