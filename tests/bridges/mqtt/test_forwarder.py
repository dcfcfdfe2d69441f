"""bridges.mqtt.forwarder without a broker: a recording connection, a real SQLite outbox on tmp_path.

The window arithmetic has its own tests (test_window.py); these check the pump around it: only committed rows go
out, the window is respected, a PUBACK deletes its row at the next commit, and a reconnect replays what is left.
"""

from __future__ import annotations

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
    fw = Forwarder(MqttConfig(max_inflight=4), Outbox(tmp_path / "outbox.db"), io)
    yield fw
    io.shutdown(wait=True)
    fw.close()


async def test_only_committed_rows_are_published_within_the_window(forwarder: Forwarder) -> None:
    """Rows wait in pending until a commit; then at most max_inflight are in flight, oldest first."""
    conn = RecordingConnection()
    forwarder.start(conn)  # type: ignore[arg-type]
    forwarder.add(rows(1, 2, 3, 4, 5, 6))
    forwarder.pump()
    assert conn.sent == []
    await forwarder.commit(clock_synced=False)
    forwarder.pump()
    assert [seq for _, _, seq in conn.sent] == [1, 2, 3, 4]
    assert (forwarder.inflight, forwarder.delivered) == (4, False)


async def test_acks_free_the_window_and_delete_rows_at_the_next_commit(forwarder: Forwarder) -> None:
    """Each PUBACK frees a slot for the next row; acknowledged rows leave the outbox with the next commit."""
    conn = RecordingConnection()
    forwarder.start(conn)  # type: ignore[arg-type]
    forwarder.add(rows(1, 2, 3, 4, 5, 6))
    await forwarder.commit(clock_synced=False)
    forwarder.pump()
    for mid in (1, 2, 999):  # 999: not a reading of ours (a retained meta message), ignored
        forwarder.on_ack(mid, True)
    forwarder.pump()
    assert [seq for _, _, seq in conn.sent] == [1, 2, 3, 4, 5, 6]
    for mid in (3, 4, 5, 6):
        forwarder.on_ack(mid, True)
    assert (forwarder.inflight, forwarder.delivered, forwarder.published_total) == (0, True, 6)
    assert forwarder.rows == 6
    await forwarder.commit(clock_synced=False)
    assert (forwarder.rows, forwarder.drained) == (0, True)


async def test_a_reconnect_replays_every_unacknowledged_row_from_disk(forwarder: Forwarder) -> None:
    """Rows in flight when the connection drops are sent again, in order, as backlog on the next connection."""
    first = RecordingConnection()
    forwarder.start(first)  # type: ignore[arg-type]
    forwarder.add(rows(1, 2, 3))
    await forwarder.commit(clock_synced=False)
    forwarder.pump()
    forwarder.on_ack(1, True)
    await forwarder.commit(clock_synced=False)  # row 1 deleted
    forwarder.stop()
    second = RecordingConnection()
    forwarder.start(second)  # type: ignore[arg-type]
    assert forwarder.wants_backlog()
    await forwarder.fetch_backlog()
    forwarder.pump()
    assert [seq for _, _, seq in second.sent] == [2, 3]
    assert forwarder.replayed_total == 2


async def test_a_rejected_publish_is_counted_and_not_sent_again(forwarder: Forwarder) -> None:
    """A PUBACK with a failure reason (the broker refused) counts as rejected; the row is not retried."""
    conn = RecordingConnection()
    forwarder.start(conn)  # type: ignore[arg-type]
    forwarder.add(rows(1))
    await forwarder.commit(clock_synced=False)
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
        fw.add(rows(*range(1, 11)))
        await fw.commit(clock_synced=False)
        fw.pump()
        assert len(conn.sent) == 3  # 13 - CONTROL_RESERVE (10)
    finally:
        io.shutdown(wait=True)
        fw.close()
