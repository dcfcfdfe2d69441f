"""bridges.mqtt.forwarder without a broker: a recording connection, a real SQLite outbox on tmp_path.

The window arithmetic (test_window.py) and the spill accounting (test_spill.py) have their own tests; these check
the pump around them: rows go out before any commit, the window is respected, what is acknowledged in time never
reaches the disk, what is not is written and deleted after its PUBACK, and a reconnect replays what is left.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bridges.mqtt.config import MqttConfig
from bridges.mqtt.forwarder import Forwarder
from bridges.mqtt.outbox import Outbox, OutRow


class RecordingConnection:
    """The part of PahoConnection the forwarder uses: publish() hands out message ids and records the row."""

    def __init__(self, receive_maximum: int = 65535) -> None:
        self.connected = True
        self.receive_maximum = receive_maximum
        self.sent: list[tuple[int, str, int]] = []  # (mid, topic, seq)
        self._mid = 0

    def publish(self, topic: str, payload: bytes, qos: int, *, boot: str) -> int:
        self._mid += 1
        self.sent.append((self._mid, topic, int(payload.decode())))
        return self._mid


def rows(*seqs: int) -> list[OutRow]:
    return [
        OutRow(f"sc/gw/s{seq % 2}/data", str(seq).encode(), "boot", seq, seq * 1000, False) for seq in seqs
    ]


@pytest.fixture
async def forwarder(tmp_path: Path) -> AsyncIterator[Forwarder]:
    io = ThreadPoolExecutor(1)
    fw = Forwarder(MqttConfig(max_inflight=4, ack_window_ms=60_000), Outbox(tmp_path / "outbox.db"), io)
    yield fw
    io.shutdown(wait=True)
    fw.close()


def on_disk(fw: Forwarder) -> list[int]:
    """seq of every row in the outbox file."""
    return [r.seq for r in fw.outbox.fetch(0, 1 << 62, 1000)]


async def test_rows_are_published_before_any_commit_within_the_window(forwarder: Forwarder) -> None:
    """Readings that arrive before the outbox is open wait for it; after that each reading is published as it
    arrives (no commit in between), at most max_inflight at once, oldest first, none written to disk."""
    conn = RecordingConnection()
    forwarder.start(conn)  # type: ignore[arg-type]
    forwarder.add(rows(1, 2))
    forwarder.pump()
    assert conn.sent == []
    await forwarder.commit(clock_synced=False)  # opens the outbox; nothing is due
    forwarder.pump()
    forwarder.add(rows(3, 4, 5, 6))
    forwarder.pump()
    assert [seq for _, _, seq in conn.sent] == [1, 2, 3, 4]
    assert (forwarder.inflight, forwarder.held, forwarder.delivered, on_disk(forwarder)) == (4, 6, False, [])


async def test_readings_acked_within_the_window_never_touch_the_disk(forwarder: Forwarder) -> None:
    """Each PUBACK frees a slot for the next reading; all acknowledged in time: no commit, no row, drained."""
    conn = RecordingConnection()
    forwarder.start(conn)  # type: ignore[arg-type]
    await forwarder.commit(clock_synced=False)
    forwarder.add(rows(1, 2, 3, 4, 5, 6))
    forwarder.pump()
    for mid in (1, 2, 999):  # 999: not a reading of ours (a retained meta message), ignored
        forwarder.on_ack(mid, True)
    forwarder.pump()
    assert [seq for _, _, seq in conn.sent] == [1, 2, 3, 4, 5, 6]
    for mid in (3, 4, 5, 6):
        forwarder.on_ack(mid, True)
    await forwarder.commit(clock_synced=False)
    assert (forwarder.inflight, forwarder.published_total, forwarder.held) == (0, 6, 0)
    assert (forwarder.commits_total, forwarder.written_total, on_disk(forwarder), forwarder.drained) == (
        0,
        0,
        [],
        True,
    )


async def test_readings_unacked_past_the_window_are_written_and_deleted_after_their_puback(
    tmp_path: Path,
) -> None:
    """ack_window_ms = 0: every unacknowledged reading is written by the next commit (in flight or queued);
    its row is deleted only by the commit after its PUBACK; one acked before the commit is never written."""
    io = ThreadPoolExecutor(1)
    fw = Forwarder(MqttConfig(max_inflight=2, ack_window_ms=0), Outbox(tmp_path / "o.db"), io)
    try:
        conn = RecordingConnection()
        fw.start(conn)  # type: ignore[arg-type]
        await fw.commit(clock_synced=False)
        fw.add(rows(1, 2, 3, 4))
        fw.pump()
        fw.on_ack(1, True)
        await fw.commit(clock_synced=False)
        assert (on_disk(fw), fw.written_total, fw.held) == ([2, 3, 4], 3, 0)
        fw.on_ack(2, True)
        fw.pump()
        assert [seq for _, _, seq in conn.sent] == [1, 2, 3, 4]
        assert on_disk(fw) == [2, 3, 4]
        await fw.commit(clock_synced=False)
        assert on_disk(fw) == [3, 4]
    finally:
        io.shutdown(wait=True)
        fw.close()


async def test_a_reconnect_replays_every_unacknowledged_row_from_disk(forwarder: Forwarder) -> None:
    """Readings in flight when the connection drops (in memory only) are written by the next commit, then sent
    again, in order, as backlog on the next connection; the acknowledged one is not."""
    first = RecordingConnection()
    forwarder.start(first)  # type: ignore[arg-type]
    await forwarder.commit(clock_synced=False)
    forwarder.add(rows(1, 2, 3))
    forwarder.pump()
    forwarder.on_ack(1, True)
    forwarder.stop()
    second = RecordingConnection()
    forwarder.start(second)  # type: ignore[arg-type]
    forwarder.add(rows(4))
    assert not forwarder.wants_backlog()  # 2 and 3 are not on disk yet
    await forwarder.commit(clock_synced=False)
    assert on_disk(forwarder) == [2, 3]
    assert forwarder.wants_backlog()
    await forwarder.fetch_backlog()
    forwarder.pump()
    assert sorted(seq for _, _, seq in second.sent) == [2, 3, 4]
    assert [seq for _, _, seq in second.sent if seq < 4] == [2, 3]
    assert forwarder.replayed_total == 2


async def test_a_clean_stop_writes_everything_held_and_close_writes_the_rest(tmp_path: Path) -> None:
    """commit(everything=True) writes every reading in memory whatever the window; close() writes what came
    after it and deletes what was acknowledged; a new forwarder on the file replays exactly the unacknowledged."""
    io = ThreadPoolExecutor(1)
    fw = Forwarder(MqttConfig(ack_window_ms=60_000), Outbox(tmp_path / "o.db"), io)
    conn = RecordingConnection()
    fw.start(conn)  # type: ignore[arg-type]
    await fw.commit(clock_synced=False)
    fw.add(rows(1, 2))
    fw.pump()
    await fw.commit(clock_synced=False, everything=True)
    assert on_disk(fw) == [1, 2]
    fw.on_ack(1, True)
    fw.add(rows(3))
    io.shutdown(wait=True)
    fw.close()
    ob = Outbox(tmp_path / "o.db")
    ob.open()
    assert [(r.id, r.seq) for r in ob.fetch(0, 100, 100)] == [(2, 2), (3, 3)]
    ob.close()


async def test_a_failed_write_keeps_the_readings_in_memory_and_the_next_commit_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk error, then an unexpected error, during the write: the readings stay held (nothing lost, the
    ledger is not left mid-write) and the next good commit writes them."""
    io = ThreadPoolExecutor(1)
    fw = Forwarder(MqttConfig(ack_window_ms=0), Outbox(tmp_path / "o.db"), io)
    try:
        fw.start(RecordingConnection())  # type: ignore[arg-type]
        await fw.commit(clock_synced=False)
        fw.add(rows(1, 2))
        good = fw.outbox.write
        for exc in (sqlite3.OperationalError("disk I/O error"), ValueError("bug")):

            def failing(*_: object, exc: Exception = exc) -> None:
                raise exc

            monkeypatch.setattr(fw.outbox, "write", failing)
            if isinstance(exc, sqlite3.Error):
                await fw.commit(clock_synced=False)
            else:
                with pytest.raises(ValueError):
                    await fw.commit(clock_synced=False)
            assert (fw.held, on_disk(fw), fw.errors_total) == (2, [], 1)
        monkeypatch.setattr(fw.outbox, "write", good)
        await fw.commit(clock_synced=False)
        assert (fw.held, on_disk(fw)) == (0, [1, 2])
    finally:
        io.shutdown(wait=True)
        fw.close()


async def test_a_rejected_publish_is_counted_and_not_sent_again(forwarder: Forwarder) -> None:
    """A PUBACK with a failure reason (the broker refused) counts as rejected; the row is not retried."""
    conn = RecordingConnection()
    forwarder.start(conn)  # type: ignore[arg-type]
    await forwarder.commit(clock_synced=False)
    forwarder.add(rows(1))
    forwarder.pump()
    forwarder.on_ack(1, False)
    forwarder.pump()
    assert (len(conn.sent), forwarder.rejected_total, forwarder.delivered) == (1, 1, True)


async def test_the_broker_receive_maximum_narrows_the_window(tmp_path: Path) -> None:
    """A broker with a small Receive Maximum gets at most that, less the reserve for control messages."""
    io = ThreadPoolExecutor(1)
    fw = Forwarder(MqttConfig(max_inflight=100), Outbox(tmp_path / "o.db"), io)
    try:
        conn = RecordingConnection(receive_maximum=13)
        fw.start(conn)  # type: ignore[arg-type]
        await fw.commit(clock_synced=False)
        fw.add(rows(*range(1, 11)))
        fw.pump()
        assert len(conn.sent) == 3  # 13 - CONTROL_RESERVE (10)
    finally:
        io.shutdown(wait=True)
        fw.close()
