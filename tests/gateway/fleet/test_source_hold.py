"""The fleet's source holds readings that carry no boot until the gateway's meta, and lets them go past a limit
under boot ``?`` (messages fed straight to the source, no broker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

from bridges.mqtt.config import config_from_url
from gateway.fleet.app import FleetApp
from gateway.fleet.hold import MAX_HOLD_S, BootHold
from tests.integration.helpers import make_config

META = json.dumps({"gw": "gm", "boot": "b1", "payload": "msgpack", "sensors": ["s"], "outputs": []}).encode()


def _app(tmp_path: Path) -> tuple[FleetApp, list[int]]:
    cfg = make_config(gateway={"id": "fleet", "data_dir": str(tmp_path)})
    app = FleetApp(cfg, config_from_url("mqtt://127.0.0.1:1"))  # not started: no broker needed
    got: list[int] = []
    app.hub.add_sink(lambda batch: got.extend(r[4]["a"] for r in batch))  # type: ignore[misc]
    return app, got


def _reading(app: FleetApp, seq: int, now_s: float) -> None:
    payload = msgpack.packb([seq, seq - 1, 1_700_000_000_000_000_000 + seq, "s", {"a": seq}, 1])
    app.source.on_message("sensorcast/gm/s/data", payload, None, now_s, 1)


def _boots(app: FleetApp) -> Any:
    return [b for b, _ in app.source.registry.gateways["gm"].ledger.snapshot()["boots"]]


async def test_a_gateway_without_a_meta_has_its_readings_delayed_once_then_filed_under_unknown_boot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Readings 1 and 2 are held; at MAX_HOLD_S after the first the periodic expiry offers both (under ``?``,
    one warning); reading 3 then goes straight through; the meta comes and reading 4 is filed under b1."""
    app, got = _app(tmp_path)
    _reading(app, 1, 0.0)
    _reading(app, 2, 1.0)
    app.hub.flush()
    assert (got, len(app.source.held)) == ([], 2)
    app.source.expire_held(MAX_HOLD_S)
    _reading(app, 3, MAX_HOLD_S + 1)
    app.hub.flush()
    assert (got, app.source.boot_unknown, len(app.source.held)) == ([1, 2, 3], 3, 0)
    app.source.on_message("sensorcast/gm/meta", META, None, MAX_HOLD_S + 2, 1, retained=True)
    _reading(app, 4, MAX_HOLD_S + 3)
    app.hub.flush()
    assert (got, _boots(app)) == ([1, 2, 3, 4], ["?", "b1"])
    assert [r.getMessage()[:40] for r in caplog.records] == ["fleet: readings of gateway gm offered wi"]


async def test_past_the_count_limit_the_oldest_held_reading_is_offered_under_unknown_boot(
    tmp_path: Path,
) -> None:
    """With room for 2 held readings, the third pushes out the first (under ``?``); the retained meta then files
    2 and 3 under b1, in order; the stop drains nothing (nothing left held)."""
    app, got = _app(tmp_path)
    app.source.held = BootHold(2)
    for seq in (1, 2, 3):
        _reading(app, seq, 0.0)
    app.source.on_message("sensorcast/gm/meta", META, None, 0.5, 1, retained=True)
    app.hub.flush()
    led = app.source.registry.gateways["gm"].ledger.snapshot()
    assert (got, app.source.boot_unknown) == ([1, 2, 3], 1)
    assert led["boots"] == [["?", {"s": [1, []]}], ["b1", {"s": [3, [[0, 1, False]]]}]]


async def test_readings_still_held_at_the_stop_are_offered_under_unknown_boot(tmp_path: Path) -> None:
    """A reading held when the source drains (the fleet stops) is delivered under ``?``, not dropped."""
    app, got = _app(tmp_path)
    _reading(app, 7, 0.0)
    app.source.drain_held(0.1)
    app.hub.flush()
    assert (got, _boots(app), len(app.source.held)) == ([7], ["?"], 0)
