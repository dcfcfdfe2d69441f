"""Hub.break_chain: an upstream loss shows to clients as a broken prev chain, exactly like a local one."""

from __future__ import annotations

from gateway.hub import Hub


async def test_break_chain_makes_the_next_reading_chain_to_a_seq_never_sent() -> None:
    """After break_chain("s"), s's next reading's prev is a seq no reading carries; other sensors are unaffected."""
    hub = Hub("fleet", "boot", flush_interval_ms=0)
    got: list[tuple[int, int, str]] = []
    hub.add_sink(lambda batch: got.extend((r[0], r[1], r[3]) for r in batch))
    hub.publish("s", {"a": 1})
    hub.publish("t", {"a": 1})
    hub.break_chain("s")
    hub.publish("s", {"a": 2})
    hub.publish("t", {"a": 2})
    assert got == [(1, 0, "s"), (2, 0, "t"), (4, 3, "s"), (5, 2, "t")]
    assert [r[0] for r in hub.ring.after(0, 5)] == [1, 2, 4, 5]  # a resume sees the same hole
