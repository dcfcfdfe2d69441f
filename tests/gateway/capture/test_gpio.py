"""GPIO inputs in captures: the claim, level reads and every edge are recorded at the backend, and a replay at
recorded speed feeds the same driver the same edges, so it reports the same events."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from gateway.capture.recorder import CaptureWriter, RecordingTap
from gateway.capture.replayer import Capture, ReplayTap
from gateway.capture.session import replay_context
from sensors.base import BuildContext
from sensors.gpio.inputs import build_input
from sensors.sim.emulators import EMULATORS, context_with_emulators
from sensors.spec import DeviceSpec
from tests.conftest import scaled

SPEC = DeviceSpec(
    "door", "digital_input", "sensors[0]", 5.0, True, {"pin": 17, "pull": "up", "bounce_time_s": 0.02}
)
TOGGLES = 12
TOGGLE_S = 0.15
"""Edges this far apart are far outside the 20 ms debounce, whatever the replay's scheduling jitter."""


def events_of(ctx: BuildContext, during: Any) -> list[dict[str, Any]]:
    """Build the door on ``ctx``, open it, run ``during()``, and return what it emitted (values only)."""
    sensor = build_input(SPEC, ctx)
    got: list[dict[str, Any]] = []
    lock = threading.Lock()

    def emit(values: Any, ts_ns: int | None) -> None:
        with lock:
            got.append(dict(values))

    sensor.attach(emit)
    sensor.open()
    try:
        during()
    finally:
        sensor.close()
    return got


def test_replayed_edges_give_the_recorded_events(tmp_path: Path) -> None:
    """At recorded speed the replay emits the recorded door events, in order, with the same counts."""
    path = tmp_path / "door.scap"
    writer = CaptureWriter(str(path), {"sensorcast": "test", "board": "emulated", "config": {"tests": True}})
    ctx = context_with_emulators(tap=RecordingTap(writer))
    board = EMULATORS.gpio(ctx)

    def toggle() -> None:
        pin = board.factory.pin(17)
        for i in range(TOGGLES):
            time.sleep(TOGGLE_S)
            pin.drive_low() if i % 2 == 0 else pin.drive_high()
        time.sleep(TOGGLE_S)

    recorded = events_of(ctx, toggle)
    ctx.close()
    writer.close()
    capture = Capture.load(str(path))
    assert [c.op for c in capture.calls("gpio:sim:17")] == ["input", "level", "close"]
    assert capture.counts["gpio-edges:sim:17"] >= TOGGLES
    tap = ReplayTap(capture, 1.0)
    edges = capture.counts["gpio-edges:sim:17"]

    def until_every_edge_is_delivered() -> None:
        # Not a fixed sleep: on a loaded machine the replay thread runs late, and a test that stopped after the
        # capture's duration plus a margin closed the line before the last edges (seen in a merged-suite run).
        deadline = time.monotonic() + capture.duration_ns / 1e9 + scaled(20)
        while tap.edge_positions.get("gpio-edges:sim:17", 0) < edges and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(scaled(0.3))  # the driver's debounce settles on the last edge

    replayed = events_of(replay_context(tap, EMULATORS), until_every_edge_is_delivered)
    assert tap.first_mismatch is None
    assert replayed == recorded
    assert recorded[-1]["activations"] >= TOGGLES // 2
