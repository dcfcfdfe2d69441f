"""gateway.fleet.ledger_store: the ledgers' file written atomically when they changed, loaded before the fleet
subscribes, an unusable file moved aside."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from gateway.fleet import ledger_store as S
from gateway.fleet.ledger_store import LedgerStore
from gateway.fleet.registry import Registry


class Offers:
    """The source's offer count, moved by hand."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        return self.n


def _store(directory: Path) -> tuple[LedgerStore, Registry, Offers]:
    reg, offers = Registry(), Offers()
    return LedgerStore(directory, reg, offers), reg, offers


async def test_save_writes_only_when_something_changed_and_load_restores_it(tmp_path: Path) -> None:
    """No offer since the last write: nothing written; after offers the file holds every gateway's ledger (no
    temp file left), and a new store over the same directory restores them for the gateways when heard from."""
    store, reg, offers = _store(tmp_path / "fleet-f")
    assert await store.save() is False and not (tmp_path / "fleet-f").exists()
    gw = reg.get("g1")
    assert gw is not None
    gw.ledger.offer("b", "s", 4, 3)
    offers.n += 1
    assert await store.save() is True
    assert await store.save() is False
    assert [p.name for p in (tmp_path / "fleet-f").iterdir()] == ["ledger.json"]
    again, reg2, _ = _store(tmp_path / "fleet-f")
    again.load()
    gw2 = reg2.get("g1")
    assert gw2 is not None and gw2.ledger.snapshot() == gw.ledger.snapshot()
    assert [gw2.ledger.offer("b", "s", *o).kind for o in ((4, 3), (3, 2), (5, 4))] == [
        "duplicate",
        "fill",
        "new",
    ]


def test_no_file_is_an_empty_start_and_leftover_temp_files_are_removed(tmp_path: Path) -> None:
    """Without a file the registry starts empty (nothing logged as a problem); a temp file a crash left behind
    during a write is removed."""
    (tmp_path / ".ledger.json.123.tmp").write_bytes(b"half")
    store, reg, _ = _store(tmp_path)
    store.load()
    assert reg.restored == {} and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda p: p.write_bytes(b"\x00garbage"), "not JSON"),
        (
            lambda p: p.write_bytes(b'{"v": 9, "gateways": {}}'),
            'not a ledger document (expected {"v": 1, "gateways": {...}})',
        ),
        (lambda p: p.mkdir(), "cannot read it: Is a directory"),
    ],
    ids=["garbage", "version", "a-directory"],
)
def test_an_unusable_file_is_moved_aside_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make: object, why: str
) -> None:
    """Garbage, another version, or something that cannot be read: moved to ledger.json.bad with one warning
    naming the file and the reason; the fleet starts empty."""
    make(tmp_path / "ledger.json")  # type: ignore[operator]
    store, reg, _ = _store(tmp_path)
    with caplog.at_level(logging.WARNING):
        store.load()
    assert [r.getMessage() for r in caplog.records] == [
        f"fleet: ledger file {tmp_path / 'ledger.json'} is unusable ({why}); "
        f"moved to {tmp_path / 'ledger.json.bad'}; starting with empty ledgers (what the broker re-delivers across "
        "this restart may reach clients twice)"
    ]
    assert reg.restored == {} and sorted(p.name for p in tmp_path.iterdir()) == ["ledger.json.bad"]


def test_a_file_that_cannot_be_moved_aside_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """When even the move fails (a directory in the way of ledger.json.bad), the warning says so."""
    (tmp_path / "ledger.json").write_bytes(b"[]")
    (tmp_path / "ledger.json.bad").mkdir()
    (tmp_path / "ledger.json.bad" / "x").write_bytes(b"")
    store, _, _ = _store(tmp_path)
    with caplog.at_level(logging.WARNING):
        store.load()
    assert len(caplog.records) == 1 and "could not be moved aside" in caplog.records[0].getMessage()


def test_invalid_entries_are_counted_in_the_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A readable file with invalid entries restores the valid ones, and its info line counts the skipped."""
    doc = {"v": 1, "gateways": {"g1": {"boots": [], "counters": {}}, "bad/id": {}}}
    (tmp_path / "ledger.json").write_text(json.dumps(doc))
    store, reg, _ = _store(tmp_path)
    with caplog.at_level(logging.INFO):
        store.load()
    assert list(reg.restored) == ["g1"]
    assert [r.getMessage() for r in caplog.records] == [
        f"fleet: restored the ledgers of 1 gateways from {tmp_path / 'ledger.json'} (1 invalid entries skipped)"
    ]


async def test_a_failed_write_is_logged_not_raised_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The directory cannot be created (a file in its place): the save logs a warning and returns False; once
    the way is clear the next save writes."""
    (tmp_path / "fleet-f").write_bytes(b"")
    store, reg, offers = _store(tmp_path / "fleet-f")
    reg.get("g1")
    offers.n += 1
    with caplog.at_level(logging.WARNING):
        assert await store.save() is False
    assert len(caplog.records) == 1 and "cannot write" in caplog.records[0].getMessage()
    (tmp_path / "fleet-f").unlink()
    assert await store.save() is True


async def test_a_write_that_takes_too_long_is_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A write past WRITE_TIMEOUT_S (a stalled card) is left to finish in its thread; the save returns False."""
    monkeypatch.setattr(S, "WRITE_TIMEOUT_S", 0.05)
    store, reg, offers = _store(tmp_path)
    reg.get("g1")
    offers.n += 1
    store._lock.acquire()  # an earlier write still running
    try:
        with caplog.at_level(logging.WARNING):
            assert await store.save() is False
    finally:
        store._lock.release()
    assert "not waiting for it" in caplog.records[0].getMessage()


async def test_run_saves_periodically_when_something_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The periodic task writes within an interval of a change, and not again until the next change."""
    monkeypatch.setattr(S, "SAVE_INTERVAL_S", 0.02)
    store, reg, offers = _store(tmp_path)
    task = asyncio.ensure_future(store.run())
    try:
        reg.get("g1")
        offers.n += 1
        for _ in range(200):
            if (tmp_path / "ledger.json").exists():
                break
            await asyncio.sleep(0.01)
        assert list(json.loads((tmp_path / "ledger.json").read_bytes())["gateways"]) == ["g1"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
