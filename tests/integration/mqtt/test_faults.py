"""Faults against a real Mosquitto: broker restarts and SIGKILLs, a SIGKILLed gateway, no broker at all."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridges.mqtt.bridge import OUTBOX_FILE, MqttBridge
from bridges.mqtt.outbox import Outbox
from tests.conftest import scaled
from tests.integration.mqtt.broker import Mosquitto, free_port
from tests.integration.mqtt.helpers import bridge_running, gateway_toml, mqtt_config, spawn_gateway, until
from tests.integration.mqtt.proxy import AckRecorder
from tests.integration.mqtt.seam_impl import TestCommands, TestSource
from tests.integration.mqtt.subscriber import Subscriber

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


def connected_times(bridge: MqttBridge, n: int) -> Callable[[], bool]:
    """A predicate: the bridge has connected at least ``n`` times."""
    return lambda: bridge.metrics()["sensorcast_mqtt_connects_total"] >= n


async def produce(src: TestSource, total: int, per_batch: int, period_s: float) -> None:
    """Emit ``total`` readings in batches, like the hub's flushes."""
    while src.seq < total:
        src.emit(min(per_batch, total - src.seq))
        await asyncio.sleep(period_s)


async def test_20000_readings_through_5_broker_restarts_none_lost_none_duplicated_after_dedup(
    tmp_path: Path,
) -> None:
    """20 000 readings while the broker restarts 5 times: every seq arrives, copies are identical (dedup by
    seq leaves exactly 20 000), and the backlog drains within 30 s of the last restart."""
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    sub = Subscriber(broker.port, ["sensorcast/gw1/+/data"], "restart-sub").start()
    src = TestSource()
    total = 20_000
    try:
        async with bridge_running(
            mqtt_config(broker.url, max_inflight=200), src, TestCommands(src), tmp_path / "data"
        ) as bridge:
            producer = asyncio.ensure_future(produce(src, total, 50, 0.02))
            for k in range(5):
                await asyncio.sleep(1.0)
                await until(connected_times(bridge, k + 1), what="reconnect")
                await asyncio.to_thread(broker.restart, down_s=0.3)
            last_restart = time.monotonic()
            await producer
            await until(connected_times(bridge, 6), what="reconnect after the last restart")

            seen: set[int] = set()

            def complete() -> bool:
                msgs = sub.snapshot()
                seen.update(json.loads(m.payload)["seq"] for m in msgs[complete.done :])  # type: ignore[attr-defined]
                complete.done = len(msgs)  # type: ignore[attr-defined]
                return len(seen) == total

            complete.done = 0  # type: ignore[attr-defined]
            try:
                await until(complete, timeout_s=30, what="every reading after the last restart")
            except AssertionError:
                missing = sorted(set(range(1, total + 1)) - seen)
                raise AssertionError(
                    f"{len(missing)} missing (first {missing[:5]}), metrics {bridge.metrics()}, "
                    f"forwarder {vars(bridge.forwarder) if bridge.forwarder else None}"[:3000]
                ) from None
            drained_s = time.monotonic() - last_restart
            await until(lambda: bridge.metrics()["sensorcast_mqtt_outbox_rows"] == 0, what="outbox empty")
            m = bridge.metrics()
            dropped = sum(bridge.drops().values())
    finally:
        sub.stop()
        broker.stop()
    by_seq: dict[int, set[bytes]] = {}
    for msg in sub.snapshot():
        by_seq.setdefault(json.loads(msg.payload)["seq"], set()).add(msg.payload)
    assert sorted(by_seq) == list(range(1, total + 1))
    assert all(len(copies) == 1 for copies in by_seq.values()), "a duplicate differed from its original"
    assert drained_s < scaled(30)
    assert m["sensorcast_mqtt_connects_total"] >= 6 and dropped == 0
    print(
        f"\n20000 readings, 5 restarts: {len(sub.snapshot()) - total} duplicates, drained {drained_s:.1f} s "
        f"after the last restart, {m['sensorcast_mqtt_replayed_total']:.0f} replayed from disk"
    )


async def test_broker_sigkilled_5_times_no_row_deleted_without_puback(tmp_path: Path) -> None:
    """With the broker SIGKILLed 5 times mid-stream, every outbox row deleted had been PUBACKed (observed on
    the wire by a proxy), every reading never written to the outbox had been PUBACKed, every written row was
    deleted in the end, and every reading was acknowledged."""
    data_dir = tmp_path / "data"
    ob = Outbox(data_dir / OUTBOX_FILE)
    ob.open()
    ob.db.executescript(
        "CREATE TABLE deleted_log (seq INTEGER); CREATE TABLE inserted_log (seq INTEGER);"
        "CREATE TRIGGER log_delete AFTER DELETE ON outbox BEGIN "
        "INSERT INTO deleted_log VALUES (old.seq); END;"
        "CREATE TRIGGER log_insert AFTER INSERT ON outbox BEGIN "
        "INSERT INTO inserted_log VALUES (new.seq); END;"
    )
    ob.close()
    broker = Mosquitto(tmp_path / "broker", persistence=False)
    broker.start()
    proxy = AckRecorder(broker.port)
    await proxy.start()
    src = TestSource()
    total = 6000
    try:
        async with bridge_running(
            mqtt_config(f"mqtt://127.0.0.1:{proxy.port}", max_inflight=200), src, TestCommands(src), data_dir
        ) as bridge:
            producer = asyncio.ensure_future(produce(src, total, 40, 0.02))
            for k in range(5):
                await until(connected_times(bridge, k + 1), what="reconnect")
                await asyncio.sleep(0.4)  # readings in flight when the broker dies
                await asyncio.to_thread(broker.restart, kill=True, down_s=0.2)
            await producer
            await until(connected_times(bridge, 6), what="reconnect after the last kill")
            await until(
                lambda: bridge.metrics()["sensorcast_mqtt_outbox_rows"] == 0 and src.seq == total,
                timeout_s=30,
                what="outbox drained",
            )
    finally:
        await proxy.close()
        broker.stop()
    with contextlib.closing(sqlite3.connect(data_dir / OUTBOX_FILE)) as db:
        deleted = [s for (s,) in db.execute("SELECT seq FROM deleted_log")]
        inserted = [s for (s,) in db.execute("SELECT seq FROM inserted_log")]
    everything = set(range(1, total + 1))
    assert set(deleted) <= proxy.acked, f"deleted without PUBACK: {sorted(set(deleted) - proxy.acked)[:10]}"
    never_written = everything - set(inserted)
    assert never_written <= proxy.acked, f"left memory unwritten without PUBACK: {sorted(never_written)[:10]}"
    assert sorted(deleted) == sorted(inserted) and len(set(inserted)) == len(inserted)
    assert proxy.acked >= everything and proxy.published >= total
    assert 0 < len(inserted) < total  # the outages were written, the healthy stretches were not
    print(
        f"\n{total} readings, 5 broker SIGKILLs: {len(inserted)} written to the outbox, all deleted after PUBACK"
    )


def crash_loss_ms(readings: dict[int, Any], kill_ns: int, bound_ms: float) -> float:
    """Check the readings of a killed boot (by seq; JSON docs): the last one, and every reading after which the
    prev chain has a hole, are stamped at most ``bound_ms`` (+ 0.5 s scaled slack for a starved CPU) before
    ``kill_ns``. Returns how long before the kill the last one was stamped (ms)."""
    cutoff_ns = kill_ns - int(bound_ms * 1e6 + scaled(0.5) * 1e9)
    last = max(readings.values(), key=lambda d: d["seq"])
    holes = sorted(d["prev"] for d in readings.values() if d["prev"] and d["prev"] not in readings)
    first_hole_ts = min((d["ts_ns"] for d in readings.values() if d["prev"] in holes), default=None)
    assert last["ts_ns"] >= cutoff_ns, f"lost {(kill_ns - last['ts_ns']) / 1e9:.2f} s before the kill"
    assert first_hole_ts is None or first_hole_ts >= cutoff_ns, f"holes {holes[:5]}"
    return float(kill_ns - last["ts_ns"]) / 1e6


def _outbox_rows(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as db:
        try:
            return [(b, s) for b, s in db.execute("SELECT boot, seq FROM outbox ORDER BY id")]
        except sqlite3.OperationalError:
            return []  # schema not created yet


async def test_gateway_sigkilled_mid_stream_outbox_intact_and_drains_after_restart(tmp_path: Path) -> None:
    """A gateway killed with SIGKILL while committing leaves a sound outbox (integrity_check ok); restarted,
    it sends every row of the killed boot; killing it again makes the broker publish its Last Will."""
    port = free_port()
    cfg = gateway_toml(tmp_path, "killme", port, commit_interval_ms=50)
    outbox = tmp_path / "data" / OUTBOX_FILE
    gw = spawn_gateway(cfg)
    try:
        await until(lambda: len(_outbox_rows(outbox)) >= 1000, timeout_s=20, what="1000 rows on disk")
    finally:
        os.kill(gw.pid, signal.SIGKILL)
        gw.wait(5)
    with contextlib.closing(sqlite3.connect(outbox)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    left = _outbox_rows(outbox)
    (old_boot,) = {b for b, _ in left}
    broker = Mosquitto(tmp_path / "broker", port)
    broker.start()
    sub = Subscriber(port, ["sensorcast/killme/#"], "kill-sub").start()
    gw = spawn_gateway(cfg)
    try:

        def old_seqs() -> set[int]:
            return {
                json.loads(m.payload)["seq"]
                for m in sub.snapshot()
                if m.topic.endswith("/data") and json.loads(m.payload)["boot"] == old_boot
            }

        await until(lambda: old_seqs() >= {s for _, s in left}, timeout_s=20, what="old boot's rows")
        await until(lambda: all(b != old_boot for b, _ in _outbox_rows(outbox)), what="old rows deleted")
        os.kill(gw.pid, signal.SIGKILL)
        gw.wait(5)
        await until(
            lambda: any(
                m.topic == "sensorcast/killme/status" and m.payload == b"offline" for m in sub.snapshot()
            ),
            what="Last Will",
        )
    finally:
        if gw.poll() is None:
            os.kill(gw.pid, signal.SIGKILL)
            gw.wait(5)
        sub.stop()
        broker.stop()
    assert sorted(s for _, s in left) == [s for _, s in left]  # FIFO on disk


async def test_gateway_sigkilled_while_its_broker_acknowledges_nothing_loses_at_most_the_ack_window(
    tmp_path: Path,
) -> None:
    """Connected through a proxy that swallows every reading (no PUBACK ever), a gateway is SIGKILLed after 3 s:
    its outbox holds every reading stamped more than ack_window_ms + commit_interval_ms before the kill, with no
    hole in the prev chain before that, and restarted against the broker it delivers all of them. The slack
    (0.5 s, scaled) is for a starved CPU on a shared machine; keeping everything in memory (no spill while
    connected) would lose all 3 s."""
    window_ms, commit_ms = 200, 50
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    proxy = AckRecorder(broker.port, black_hole=True)
    await proxy.start()
    cfg = gateway_toml(tmp_path, "hung", proxy.port, ack_window_ms=window_ms, commit_interval_ms=commit_ms)
    gw = spawn_gateway(cfg)
    try:
        await until(lambda: proxy.published >= 100, timeout_s=20, what="readings sent into the black hole")
        await asyncio.sleep(3.0)
        kill_ns = time.time_ns()
        os.kill(gw.pid, signal.SIGKILL)
        gw.wait(5)
    finally:
        if gw.poll() is None:
            os.kill(gw.pid, signal.SIGKILL)
            gw.wait(5)
        await proxy.close()
    outbox = tmp_path / "data" / OUTBOX_FILE
    with contextlib.closing(sqlite3.connect(outbox)) as db:
        left = {d["seq"]: d for d in (json.loads(p) for (p,) in db.execute("SELECT payload FROM outbox"))}
    old_boot = next(iter(left.values()))["boot"]
    sub = Subscriber(broker.port, ["sensorcast/hung/+/data"], "hung-sub").start()
    gw = spawn_gateway(gateway_toml(tmp_path, "hung", broker.port, commit_interval_ms=commit_ms))
    try:

        def delivered() -> set[int]:
            return {
                d["seq"] for d in (json.loads(m.payload) for m in sub.snapshot()) if d["boot"] == old_boot
            }

        await until(lambda: delivered() >= set(left), timeout_s=30, what="the killed boot's rows delivered")
    finally:
        os.kill(gw.pid, signal.SIGKILL)
        gw.wait(5)
        sub.stop()
        broker.stop()
    lost_ms = crash_loss_ms(left, kill_ns, window_ms + commit_ms)
    assert proxy.acked == set() and len(left) > 500  # nothing was acknowledged, and it ran long enough
    print(
        f"\nbroker acknowledging nothing, gateway SIGKILLed: {len(left)} readings on disk, all delivered after the "
        f"restart, the last stamped {lost_ms:.0f} ms before the kill"
    )


async def test_gateway_sigkilled_with_a_healthy_broker_loses_only_what_was_in_flight(tmp_path: Path) -> None:
    """A gateway publishing to a healthy broker is SIGKILLed; after its restart the broker has had every reading
    of the killed boot up to one stamped within ack_window_ms + commit_interval_ms (+ 0.5 s slack) of the kill,
    without a hole in the prev chain, and its outbox was (nearly) empty: almost nothing went to disk."""
    window_ms, commit_ms = 200, 50
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    sub = Subscriber(broker.port, ["sensorcast/healthy/+/data"], "healthy-sub").start()
    cfg = gateway_toml(
        tmp_path, "healthy", broker.port, ack_window_ms=window_ms, commit_interval_ms=commit_ms
    )
    outbox = tmp_path / "data" / OUTBOX_FILE

    def received(boot: str | None = None) -> dict[int, Any]:
        """The readings at the broker by seq (of one boot, or of every boot)."""
        docs = (json.loads(m.payload) for m in sub.snapshot())
        return {d["seq"]: d for d in docs if boot is None or d["boot"] == boot}

    gw = spawn_gateway(cfg)
    try:
        await until(lambda: len(received()) >= 100, timeout_s=20, what="readings at the broker")
        await asyncio.sleep(2.0)
        kill_ns = time.time_ns()
        os.kill(gw.pid, signal.SIGKILL)
        gw.wait(5)
        left = _outbox_rows(outbox)
        (old_boot,) = {d["boot"] for d in received().values()}
        gw = spawn_gateway(cfg)
        await until(
            lambda: {s for _, s in left} <= set(received(old_boot)), timeout_s=30, what="the outbox replayed"
        )
        await asyncio.sleep(0.5)  # the broker's last deliveries of the killed boot
    finally:
        os.kill(gw.pid, signal.SIGKILL)
        gw.wait(5)
        sub.stop()
        broker.stop()
    old = received(old_boot)
    lost_ms = crash_loss_ms(old, kill_ns, window_ms + commit_ms)
    assert len(left) < len(old) // 10, f"{len(left)} of {len(old)} readings were on disk"
    print(
        f"\nhealthy broker, gateway SIGKILLed: {len(old)} readings of the killed boot at the broker, {len(left)} "
        f"were on disk, the last stamped {lost_ms:.0f} ms before the kill"
    )
