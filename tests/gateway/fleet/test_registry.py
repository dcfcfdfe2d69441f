"""gateway.fleet.registry: the gateway list, its rates and bounds, and the ``fleet`` frame."""

from __future__ import annotations

import msgpack

from gateway.fleet import registry as R
from gateway.fleet.ledger import GatewayLedger
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


def test_restored_ledgers_join_their_gateway_when_it_is_heard_from_and_are_kept_until_then() -> None:
    """A restored ledger is not listed until its gateway is heard from, then becomes that gateway's ledger;
    ledgers() gives the seen gateways' ledgers then the restored ones still unseen, at most MAX_GATEWAYS."""
    led_a, led_b = GatewayLedger(), GatewayLedger()
    led_a.offer("b", "s", 5, 4)
    reg = Registry()
    reg.restore({"a": led_a, "b": led_b})
    assert reg.listing() == []
    gw_c, gw_a = reg.get("c"), reg.get("a")
    assert gw_a is not None and gw_a.ledger is led_a and gw_c is not None
    assert reg.ledgers() == {"c": gw_c.ledger, "a": led_a, "b": led_b}
    assert [g["id"] for g in reg.listing()] == ["a", "c"]


def test_restored_ledgers_never_take_the_file_past_max_gateways() -> None:
    """More restored ledgers than MAX_GATEWAYS are cut at it, and seen plus unseen ones stay within it."""
    reg = Registry()
    reg.restore({f"r{i}": GatewayLedger() for i in range(R.MAX_GATEWAYS + 1)})
    assert len(reg.restored) == R.MAX_GATEWAYS
    reg.get("new")
    ledgers = reg.ledgers()
    assert len(ledgers) == R.MAX_GATEWAYS and list(ledgers)[:2] == ["new", "r0"]
