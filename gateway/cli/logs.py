"""Logging setup: plain lines on stderr (systemd's journal adds time and unit; a terminal gets a timestamp).

Under systemd, stderr is a stream to journald, which stores every line at the unit's default priority unless the
line starts with a syslog priority prefix ``<N>`` (``SyslogLevelPrefix=yes``, journald's default). Each line then
carries its level, so ``journalctl -u sensorcast -p warning`` shows warnings and errors only.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,  # LOG_CRIT
    logging.ERROR: 3,  # LOG_ERR
    logging.WARNING: 4,  # LOG_WARNING
    logging.INFO: 6,  # LOG_INFO
    logging.DEBUG: 7,  # LOG_DEBUG
}


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level (custom levels round down to the next standard one)."""
    for level in sorted(SYSLOG_PRIORITY, reverse=True):
        if levelno >= level:
            return SYSLOG_PRIORITY[level]
    return SYSLOG_PRIORITY[logging.DEBUG]


class JournalFormatter(logging.Formatter):
    """Prefixes every line of a record with ``<N>``: journald splits a traceback into one entry per line, and
    each of them must keep the record's priority."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as usual, each line prefixed with its syslog priority."""
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def stream_is_journal(stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    """True when ``stream`` is the journald stream systemd connected (``$JOURNAL_STREAM`` is ``dev:inode`` of
    it, per sd_journal_stream_fd(3)); a redirect by the service's own script leaves the variable but not the
    file, so the device and inode are compared, not only the variable's presence."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep or not dev.isdigit() or not ino.isdigit():
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def setup_logging(level: str = "info") -> None:
    """Configure the root logger once for the CLI."""
    journal = stream_is_journal(sys.stderr)
    under_systemd = journal or bool(os.environ.get("INVOCATION_ID"))
    fmt = (
        "%(levelname)s %(name)s: %(message)s"
        if under_systemd
        else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter(fmt) if journal else logging.Formatter(fmt))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
    logging.getLogger("websockets").setLevel(logging.WARNING)
