"""Every history database connection (the writer's and the read-only ones) caps SQLite's page cache."""

from __future__ import annotations

from pathlib import Path

from gateway.history.store import CACHE_SIZE_KIB, connect


def test_writer_and_readers_cap_the_page_cache(tmp_path: Path) -> None:
    """cache_size is -512 (KiB, not SQLite's 2000 KiB default) on the writer's and a read-only connection."""
    path = tmp_path / "history.db"
    writer = connect(path)
    writer.execute("CREATE TABLE t (x)")
    reader = connect(path, readonly=True)
    try:
        got = [c.execute("PRAGMA cache_size").fetchone()[0] for c in (writer, reader)]
    finally:
        reader.close()
        writer.close()
    assert CACHE_SIZE_KIB == 512
    assert got == [-512, -512]
