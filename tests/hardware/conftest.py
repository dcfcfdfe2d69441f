"""The build context of the hardware tests: the real board, the real board recorded (``--record FILE``), or a
capture of such a run replayed (``--replay FILE``, no board needed: CI runs the board's tests this way)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway import __version__
from gateway.capture.recorder import CaptureWriter, RecordingTap
from gateway.capture.replayer import Capture, ReplayTap
from sensors.base import BuildContext
from sensors.buses import BusTap
from sensors.sim.emulators import context_with_emulators


@pytest.fixture(scope="session")
def bus_tap(request: pytest.FixtureRequest) -> Iterator[BusTap | None]:
    """None on a board; a recording tap with --record; a replaying tap (as recorded, speed 1) with --replay."""
    record, replay = request.config.getoption("--record"), request.config.getoption("--replay")
    if replay:
        yield ReplayTap(Capture.load(replay), 1.0)
        return
    if not record:
        yield None
        return
    from gateway.cli.record import board_model

    writer = CaptureWriter(
        record, {"sensorcast": __version__, "board": board_model(), "config": {"tests": True}}
    )
    yield RecordingTap(writer)
    writer.close()


@pytest.fixture(scope="session")
def hw_ctx(bus_tap: BusTap | None) -> Iterator[BuildContext]:
    """The context every hardware test builds its drivers on (one shared bus per number, as in the gateway)."""
    ctx = context_with_emulators(tap=bus_tap)
    yield ctx
    ctx.close()
