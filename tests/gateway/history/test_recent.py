"""The recent log on a real file: frames written with O_DIRECT (or through the page cache) read back, a restart
overwrites from offset 0, and a file system that refuses O_DIRECT gets ordinary writes."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from gateway.history.frames import BLOCK_BYTES, Record
from gateway.history.recent import RecentLog, log_path, read_log

A: list[Record] = [("env", "raw", 1, 2, 2, b"\x00blob")]
B: list[Record] = [("env", "1m", 60, 60, 1, os.urandom(6000))]  # does not compress: two blocks


@pytest.mark.parametrize("direct", [True, False])
def test_frames_read_back_and_a_restart_starts_over(tmp_path: Path, direct: bool) -> None:
    """Appended frames are read back by a reader and by a reopened log, each frame taking whole blocks; after
    restart the next frame goes to offset 0 and the older frames are no longer read."""
    db = tmp_path / "h.db"
    assert read_log(db, 0) == []  # no log yet
    rlog = RecentLog(db, direct=direct)
    assert rlog.direct is direct
    rlog.append(1, A)
    rlog.append(2, B)
    rlog.append(3, A)
    assert rlog.offset == 4 * BLOCK_BYTES
    assert read_log(db, 0) == [(1, A), (2, B), (3, A)]
    assert read_log(db, 1) == []  # its first frame is folded: the run (one generation) was folded whole
    again = RecentLog(db, direct=direct)
    assert (again.frames(0), again.offset) == ([(1, A), (2, B), (3, A)], 4 * BLOCK_BYTES)
    assert (again.frames(1), again.offset) == ([], 0)  # a run whose first frame is folded is not read
    again.close()
    size = log_path(db).stat().st_size
    assert (
        size == 4 * BLOCK_BYTES if direct else 3 * BLOCK_BYTES < size < 4 * BLOCK_BYTES
    )  # padded with O_DIRECT
    rlog.restart()
    rlog.append(4, B)
    assert read_log(db, 0) == [(4, B)]
    rlog.close()
    rlog.close()
    assert log_path(db).stat().st_size == size  # overwritten in place, not grown


def test_no_o_direct_on_open_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A file system that refuses O_DIRECT at open gets ordinary writes, with one log line; other open
    errors are raised."""
    real_open = os.open

    def fussy(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "no O_DIRECT")
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", fussy)
    with caplog.at_level(logging.INFO, "gateway.history.recent"):
        rlog = RecentLog(tmp_path / "h.db")
    assert not rlog.direct and ["O_DIRECT" in r.getMessage() for r in caplog.records] == [True]
    rlog.append(1, A)
    assert read_log(tmp_path / "h.db", 0) == [(1, A)]
    rlog.close()
    monkeypatch.setattr(os, "open", lambda *a: (_ for _ in ()).throw(PermissionError(errno.EACCES, "no")))
    with pytest.raises(PermissionError):
        RecentLog(tmp_path / "h.db")


def test_no_o_direct_on_write_falls_back_and_other_errors_keep_the_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused O_DIRECT write reopens the file for ordinary writes and the frame is written; a failing
    disk (EIO) raises, and the retried frame still decodes after the ones before it."""
    db = tmp_path / "h.db"
    rlog = RecentLog(db)
    rlog.append(1, A)
    real = os.pwritev
    monkeypatch.setattr(os, "pwritev", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "dead card")))
    with pytest.raises(OSError, match="dead card"):
        rlog.append(2, B)
    monkeypatch.setattr(os, "pwritev", lambda *a: (_ for _ in ()).throw(OSError(errno.EINVAL, "no O_DIRECT")))
    rlog.append(2, B)
    assert not rlog.direct
    monkeypatch.setattr(os, "pwritev", real)
    rlog.append(3, A)
    assert read_log(db, 0) == [(1, A), (2, B), (3, A)]
    rlog.close()
