"""Logging setup: plain lines on stderr (systemd's journal adds time and unit; a terminal gets a timestamp)."""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(level: str = "info") -> None:
    """Configure the root logger once for the CLI."""
    journal = bool(os.environ.get("JOURNAL_STREAM")) or bool(os.environ.get("INVOCATION_ID"))
    fmt = (
        "%(levelname)s %(name)s: %(message)s"
        if journal
        else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), format=fmt, stream=sys.stderr)
    logging.getLogger("websockets").setLevel(logging.WARNING)
