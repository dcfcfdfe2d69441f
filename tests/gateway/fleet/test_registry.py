"""gateway.fleet.registry: the gateway list, its rates and bounds, and the ``fleet`` frame."""

from __future__ import annotations

import msgpack

from gateway.fleet import registry as R
from gateway.fleet.registry import Registry, encode_fleet


def test_rate_clock_flag_and_entry() -> None:
    """The rate is readings per second over a closed window; a silent gateway drops to 0 at the next tick."""
    reg = Registry()
    gw = reg.get("g1")
    assert gw is not None and reg.get("g1") is gw
    gw.seen(123)
    for i in range(11):
        gw.reading(i * 0.5, 1 if i else 0)
    assert gw.rate_hz == 2.0 and gw.clock_synced is True
    reg.tick(5.0 + R.RATE_WINDOW_S)
    assert gw.rate_hz == 0.0
    entry = reg.listing()[0]
    assert (entry["id"], entry["last_seen"], entry["readings"], entry["online"], entry["gaps_open"]) == (
        "g1",
        123,
        0,
        False,
        0,
    )


def test_the_table_is_bounded() -> None:
    """Past MAX_GATEWAYS a new gateway id is refused and counted."""
    reg = Registry()
    for i in range(R.MAX_GATEWAYS):
        reg.get(f"g{i}")
    assert reg.get("extra") is None and reg.refused == 1


def test_fleet_frame_with_and_without_the_catalogue() -> None:
    """``fleet`` carries the gateway list, and the sensor/actuator lists only when given."""
    assert msgpack.unpackb(encode_fleet([{"id": "g"}])) == {"t": "fleet", "gateways": [{"id": "g"}]}
    frame = msgpack.unpackb(encode_fleet([], {"sensors": [1], "actuators": [2], "rules": []}))
    assert frame == {"t": "fleet", "gateways": [], "sensors": [1], "actuators": [2]}
