"""Hub: stamping (seq, prev, flags), per-sensor publishers, batching by size and by timer, the encoded batch the
ring and the fan-out share, and what happens to a reading msgpack cannot encode."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import msgpack
import pytest

from gateway.catalogue import Catalogue
from gateway.hub import TIMER_SLACK_S, Hub
from gateway.metrics import Metrics
from gateway.protocol.model import FLAG_CLOCK_SYNCED, FLAG_SIMULATED, SEQ, ReadingTuple
from gateway.protocol.wire import decode_data_readings, encode_data
from sensors.base import FieldSpec, SensorInfo


def info(sensor_id: str, simulated: bool = False) -> SensorInfo:
    """A catalogue entry for ``sensor_id``."""
    return SensorInfo(
        id=sensor_id,
        driver="test",
        model="T",
        fields=(FieldSpec("v", ""),),
        interval_s=1.0,
        simulated=simulated,
    )


class Sinks:
    """Records what a hub hands to its plain and its encoded sinks."""

    def __init__(self, hub: Hub) -> None:
        self.batches: list[list[ReadingTuple]] = []
        self.encoded: list[tuple[list[ReadingTuple], bytes]] = []
        self.changed = asyncio.Event()
        hub.add_sink(self._plain)
        hub.add_encoded_sink(lambda batch, frame: self.encoded.append((list(batch), frame)))

    def _plain(self, batch: Sequence[ReadingTuple]) -> None:
        self.batches.append(list(batch))
        self.changed.set()

    async def wait_batches(self, n: int) -> None:
        """Wait (at most 5 s) until ``n`` batches have arrived."""
        async with asyncio.timeout(5):
            while len(self.batches) < n:
                self.changed.clear()
                await self.changed.wait()


def make_hub(**kwargs: Any) -> tuple[Hub, Sinks]:
    """A hub with recording sinks."""
    hub = Hub("gw", "boot", **kwargs)
    return hub, Sinks(hub)


async def test_readings_are_stamped_with_seq_prev_and_flags() -> None:
    """seq counts every reading; prev links each sensor's chain; flags combine the sensor's and the caller's."""
    cat = Catalogue(Metrics())
    hub, _ = make_hub(flush_interval_ms=20, clock_synced=True, catalogue=cat)
    cat.register_sensor(info("a", simulated=True))
    cat.register_sensor(info("b"))
    r1 = hub.publish("a", {"v": 1}, ts_ns=111)
    r2 = hub.publish("b", {"v": 2}, ts_ns=222, flags=64)
    r3 = hub.publish("a", {"v": 3}, ts_ns=333)
    assert r1 == (1, 0, 111, "a", {"v": 1}, FLAG_CLOCK_SYNCED | FLAG_SIMULATED)
    assert r2 == (2, 0, 222, "b", {"v": 2}, FLAG_CLOCK_SYNCED | 64)
    assert r3 == (3, 1, 333, "a", {"v": 3}, FLAG_CLOCK_SYNCED | FLAG_SIMULATED)
    assert type(r1) is tuple  # the hot path makes plain tuples
    assert hub.seq == 3


async def test_a_reading_without_a_timestamp_gets_the_wall_clock() -> None:
    """ts_ns defaults to time.time_ns() at publish."""
    import time

    hub, _ = make_hub()
    before = time.time_ns()
    r = hub.publish("a", {"v": 1})
    assert before <= r[2] <= time.time_ns()


async def test_publisher_and_publish_share_one_chain_per_sensor() -> None:
    """A sensor's publisher and hub.publish for the same id continue the same prev chain."""
    hub, _ = make_hub()
    pub = hub.publisher("a")
    first = pub({"v": 1})
    hub.publish("b", {"v": 0})
    second = hub.publish("a", {"v": 2})
    third = hub.publisher("a")({"v": 3})  # a second publisher for the same sensor: the same chain
    assert (first[1], second[1], third[1]) == (0, first[0], second[0])
    assert (hub.last_seq("a"), hub.last_seq("b"), hub.last_seq("never")) == (third[0], 2, 0)


async def test_clock_sync_changes_reach_existing_publishers() -> None:
    """set_clock_synced updates the flags of readings from publishers made before the change."""
    cat = Catalogue(Metrics())
    hub, _ = make_hub(catalogue=cat)
    cat.register_sensor(info("a"))
    pub = hub.publisher("a")
    assert pub({"v": 1})[5] == 0
    hub.set_clock_synced(True)
    assert hub.clock_synced()
    assert pub({"v": 2})[5] == FLAG_CLOCK_SYNCED
    hub.set_clock_synced(False)
    assert pub({"v": 3})[5] == 0


async def test_registering_or_updating_a_sensor_sets_its_simulated_flag() -> None:
    """A publisher made before registration, and a deferred driver's new info, both get the right flags."""
    cat = Catalogue(Metrics())
    hub, _ = make_hub(catalogue=cat)
    pub = hub.publisher("a")
    assert pub({"v": 1})[5] == 0
    cat.register_sensor(info("a", simulated=True))
    assert pub({"v": 2})[5] == FLAG_SIMULATED
    cat.update_info(info("a", simulated=False))
    assert pub({"v": 3})[5] == 0
    assert cat.simulated("a") is False
    assert cat.state("a") == ("starting", None)  # update_info keeps the state


async def test_full_batch_flushes_at_once_with_the_encoded_readings() -> None:
    """batch_size readings flush immediately; plain and encoded sinks see the same batch, the ring keeps it."""
    hub, sinks = make_hub(flush_interval_ms=10_000, batch_size=3)
    pub = hub.publisher("a")
    sent = [pub({"v": i}) for i in range(7)]
    assert sinks.batches == [sent[0:3], sent[3:6]]
    assert [b for b, _ in sinks.encoded] == sinks.batches
    for batch, frame in sinks.encoded:
        assert frame == encode_data(batch)
        assert decode_data_readings(frame) == batch
    assert hub.flushed_seq == 6
    assert [r[SEQ] for r in hub.ring.after(0, 100)] == [1, 2, 3, 4, 5, 6]
    hub.flush()
    assert sinks.batches[-1] == [sent[6]]
    assert hub.flushed_seq == 7


async def test_flush_interval_zero_sends_each_reading_alone() -> None:
    """flush_interval_ms = 0: one batch per reading."""
    hub, sinks = make_hub(flush_interval_ms=0)
    hub.publish("a", {"v": 1})
    hub.publish("a", {"v": 2})
    assert [len(b) for b in sinks.batches] == [1, 1]


async def busy(hub: Hub, sinks: Sinks) -> float:
    """Publish one reading on the idle hub, wait for it to go out; return the loop time of that flush."""
    loop = asyncio.get_running_loop()
    times: list[float] = []
    hub.add_sink(lambda batch: times.append(loop.time()))
    hub.publish("a", {"v": 0})
    await sinks.wait_batches(len(sinks.batches) + 1)
    return times[0]


async def test_timer_flushes_a_partial_batch_within_one_interval() -> None:
    """On a busy link, readings below batch_size go out when the flush timer fires, one window after the last
    flush."""
    hub, sinks = make_hub(flush_interval_ms=20, batch_size=100)
    flushed_at = await busy(hub, sinks)
    hub.publish("a", {"v": 1})
    hub.publish("a", {"v": 2})
    assert len(sinks.batches) == 1
    due = hub.flush_due()
    # Due one interval after the last flush, less the loop's timer slack (timers fire up to ~2 ms late).
    assert due is not None
    # (the flush's own clock reading comes just before its sinks run: within a millisecond of ``flushed_at``)
    assert flushed_at + 0.02 - TIMER_SLACK_S - 0.001 <= due <= flushed_at + 0.02 - TIMER_SLACK_S + 1e-9
    await sinks.wait_batches(2)
    assert [len(b) for b in sinks.batches] == [1, 2]


async def test_a_reading_on_an_idle_link_goes_out_at_once_with_its_loop_iteration() -> None:
    """Nothing sent for a window: the next readings are flushed at once (those of the same loop iteration
    together), then the link batches again; after a quiet window, at once again."""
    hub, sinks = make_hub(flush_interval_ms=20, batch_size=100)
    loop = asyncio.get_running_loop()
    hub.publish("a", {"v": 1})
    hub.publish("a", {"v": 2})
    due = hub.flush_due()
    assert due is not None and due <= loop.time()
    await sinks.wait_batches(1)
    hub.publish("a", {"v": 3})  # within the window of that flush: batched
    due = hub.flush_due()
    assert due is not None and due > loop.time() + 0.01
    await sinks.wait_batches(2)
    await asyncio.sleep(0.03)  # a quiet window
    hub.publish("a", {"v": 4})
    due = hub.flush_due()
    assert due is not None and due <= loop.time()
    await sinks.wait_batches(3)
    assert [[r[SEQ] for r in b] for b in sinks.batches] == [[1, 2], [3], [4]]


@pytest.mark.parametrize(
    ("interval_ms", "delay_s"), [(20, 0.018), (100, 0.098), (8, 0.006), (4, 0.003), (1, 0.00075)]
)
async def test_the_timer_is_armed_early_by_the_slack_at_most_a_quarter_of_the_window(
    interval_ms: int, delay_s: float
) -> None:
    """The timer is due TIMER_SLACK_S before the window ends, or a quarter of the window early when that is less."""
    hub, sinks = make_hub(flush_interval_ms=interval_ms, batch_size=100)
    flushed_at = await busy(hub, sinks)
    hub.publish("a", {"v": 1})
    due = hub.flush_due()
    assert due is not None
    now = asyncio.get_running_loop().time()
    assert max(flushed_at + delay_s - 0.001, now) - 1e-9 <= due <= max(flushed_at + delay_s, now) + 1e-9
    hub.flush()
    await asyncio.sleep(delay_s * 2)  # the armed timer fires with nothing pending
    assert hub.flush_due() is None


async def test_a_size_flush_leaves_the_timer_armed_for_what_comes_next() -> None:
    """After a full batch, readings published later still go out with the timer (no reading is stranded)."""
    hub, sinks = make_hub(flush_interval_ms=20, batch_size=2)
    hub.publish("a", {"v": 1})  # arms the timer
    hub.publish("a", {"v": 2})  # full: flushed now, the timer stays armed
    hub.publish("a", {"v": 3})
    assert [len(b) for b in sinks.batches] == [2]
    await sinks.wait_batches(2)
    assert [len(b) for b in sinks.batches] == [2, 1]
    hub.publish("a", {"v": 4})  # the timer fired: a new one is armed for this reading
    await sinks.wait_batches(3)
    assert [len(b) for b in sinks.batches] == [2, 1, 1]


async def test_flush_with_nothing_pending_sends_nothing() -> None:
    """An empty flush calls no sink."""
    hub, sinks = make_hub()
    hub.flush()
    assert sinks.batches == [] and sinks.encoded == []


class Odd:
    """A value msgpack cannot encode (what a buggy driver might return)."""


async def test_unencodable_reading_is_dropped_alone_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reading msgpack cannot encode is dropped with an error naming the sensor; its batch still goes out."""
    metrics = Metrics()
    hub, sinks = make_hub(flush_interval_ms=10_000, batch_size=4, metrics=metrics)
    with caplog.at_level(logging.ERROR, logger="gateway.hub"):
        hub.publish("a", {"v": 1})
        hub.publish("bad", {"v": Odd()})
        hub.publish("big", {"v": 2**70})  # out of msgpack's integer range
        hub.publish("a", {"v": 4})
    assert [[r[SEQ] for r in b] for b in sinks.batches] == [[1, 4]]
    batch, frame = sinks.encoded[0]
    assert msgpack.unpackb(frame) == {"t": "data", "r": [[*r[:4], dict(r[4]), r[5]] for r in batch]}
    assert hub.flushed_seq == 4
    assert [r[SEQ] for r in hub.ring.after(0, 10)] == [1, 4]
    text = metrics.render()
    assert 'sensorcast_readings_unencodable_total{sensor="bad"} 1' in text
    assert 'sensorcast_readings_unencodable_total{sensor="big"} 1' in text
    assert "sensor bad: reading 2 dropped" in caplog.text
    assert "sensor big: reading 3 dropped" in caplog.text
    # the encoder recovered: the next batch goes out normally
    hub.publish("a", {"v": 5})
    hub.flush()
    assert [r[SEQ] for r in sinks.batches[-1]] == [5]


async def test_a_batch_of_only_unencodable_readings_sends_nothing() -> None:
    """Nothing encodable: no sink is called, flushed_seq does not move."""
    hub, sinks = make_hub(flush_interval_ms=10_000, batch_size=10)
    hub.publish("bad", {"v": Odd()})
    hub.flush()
    assert sinks.batches == [] and hub.flushed_seq == 0 and len(hub.ring) == 0


async def test_a_failing_sink_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    """An exception in one sink (plain or encoded) is logged and counted; the other sinks still get the batch."""
    metrics = Metrics()
    hub = Hub("gw", "boot", flush_interval_ms=0, metrics=metrics)

    def broken(*_: object) -> None:
        raise RuntimeError("sink bug")

    hub.add_encoded_sink(broken)
    hub.add_sink(broken)
    got: list[ReadingTuple] = []
    hub.add_sink(got.extend)
    with caplog.at_level(logging.ERROR, logger="gateway.hub"):
        hub.publish("a", {"v": 1})
    assert [r[SEQ] for r in got] == [1]
    assert "sensorcast_sink_errors_total 2" in metrics.render()
    assert caplog.text.count("batch sink failed") == 2


async def test_removed_sinks_get_nothing_more() -> None:
    """The removers returned by add_sink / add_encoded_sink / add_status_sink work, and twice is harmless."""
    cat = Catalogue(Metrics())
    hub = Hub("gw", "boot", flush_interval_ms=0, catalogue=cat)
    plain: list[object] = []
    encoded: list[object] = []
    status: list[object] = []
    removers = [
        hub.add_sink(plain.append),
        hub.add_encoded_sink(lambda b, p: encoded.append(p)),
        hub.add_status_sink(lambda *a: status.append(a)),
    ]
    cat.register_sensor(info("a"))
    hub.publish("a", {"v": 1})
    cat.set_state("a", "ok")
    for remove in removers:
        remove()
        remove()
    hub.publish("a", {"v": 2})
    cat.set_state("a", "failing", "EIO")
    assert (len(plain), len(encoded), len(status)) == (1, 1, 1)


async def test_a_running_gateway_keeps_its_startup_heap_out_of_the_collectors_way() -> None:
    """While a GatewayApp serves, everything alive after start-up is frozen (gc.freeze: full collections only
    walk newer objects); leaving the app unfreezes it."""
    import gc

    from gateway.app import GatewayApp
    from gateway.config import parse_config

    assert gc.get_freeze_count() == 0
    async with GatewayApp(parse_config({"gateway": {"id": "gw", "port": 0}})):
        assert gc.get_freeze_count() > 1000
    assert gc.get_freeze_count() == 0


async def test_flushing_by_hand_does_not_upset_batch_sizes_or_the_timer() -> None:
    """After an explicit flush (shutdown does one), the next batch still fills to batch_size exactly and a
    partial one still leaves with the timer."""
    hub, sinks = make_hub(flush_interval_ms=20, batch_size=3)
    pub = hub.publisher("a")
    pub({"v": 1})
    pub({"v": 2})
    hub.flush()
    for i in range(3, 9):
        pub({"v": i})
    pub({"v": 9})
    assert [[r[SEQ] for r in b] for b in sinks.batches] == [[1, 2], [3, 4, 5], [6, 7, 8]]
    await sinks.wait_batches(4)
    assert [r[SEQ] for r in sinks.batches[3]] == [9]
    for i in range(10, 14):  # after the timer flush: full batches again, then one pending
        pub({"v": i})
    assert [[r[SEQ] for r in b] for b in sinks.batches[4:]] == [[10, 11, 12]]
    assert hub.seq == 13 and hub.flushed_seq == 12
