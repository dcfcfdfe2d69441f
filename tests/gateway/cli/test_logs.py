"""Logging setup: syslog priority prefixes when stderr is systemd's journal stream, plain lines otherwise."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from gateway.cli.logs import JournalFormatter, stream_is_journal, syslog_priority

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = (
    "import logging; from gateway.cli.logs import setup_logging; setup_logging('debug'); "
    "log = logging.getLogger('t'); log.debug('d'); log.info('i'); log.warning('w'); log.error('e'); "
    "log.critical('c')"
)


def _run(tmp_path: Path, journal: bool) -> list[str]:
    err = tmp_path / "stderr"
    with err.open("w") as f:
        st = os.fstat(f.fileno())
        env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "INVOCATION_ID")}
        if journal:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, stderr=f, env=env, check=True, timeout=30)
    return err.read_text().splitlines()


def test_journal_stream_lines_carry_syslog_priorities(tmp_path: Path) -> None:
    """With $JOURNAL_STREAM naming stderr, each line starts with <7>..<2> for debug..critical, no timestamp."""
    assert _run(tmp_path, journal=True) == [
        "<7>DEBUG t: d",
        "<6>INFO t: i",
        "<4>WARNING t: w",
        "<3>ERROR t: e",
        "<2>CRITICAL t: c",
    ]


def test_terminal_lines_have_timestamps_and_no_prefix(tmp_path: Path) -> None:
    """Without the journal, lines are '<time> LEVEL name: message' with no priority prefix."""
    lines = _run(tmp_path, journal=False)
    assert [line.split(" ", 2)[2] for line in lines] == [
        "DEBUG t: d",
        "INFO t: i",
        "WARNING t: w",
        "ERROR t: e",
        "CRITICAL t: c",
    ]
    assert not any(line.startswith("<") for line in lines)


def test_stream_is_journal_compares_device_and_inode(tmp_path: Path) -> None:
    """Only the very stream named by $JOURNAL_STREAM counts; another file or a malformed value does not."""
    with (tmp_path / "a").open("w") as a, (tmp_path / "b").open("w") as b:
        st = os.fstat(a.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        got = [
            stream_is_journal(a, env),
            stream_is_journal(b, env),
            stream_is_journal(a, {}),
            stream_is_journal(a, {"JOURNAL_STREAM": "x:y"}),
            stream_is_journal(a, {"JOURNAL_STREAM": "12"}),
        ]
    assert got == [True, False, False, False, False]


def test_every_line_of_a_traceback_keeps_the_priority() -> None:
    """journald stores one entry per line: a traceback's lines all carry the record's <3>."""
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    lines = JournalFormatter("%(levelname)s %(name)s: %(message)s").format(record).split("\n")
    assert lines[0] == "<3>ERROR t: failed" and lines[-1] == "<3>ValueError: boom"
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines)


def test_custom_levels_round_down() -> None:
    """A level between two standard ones takes the lower one's priority; below DEBUG is debug."""
    assert [syslog_priority(n) for n in (25, 35, 5, 60)] == [6, 4, 7, 2]
