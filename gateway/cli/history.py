"""``sensorcast history info|export``: look into the history database (read-only; works while the gateway runs).

``export`` reads the file itself with the same streaming writer as ``GET /api/history``
(:mod:`gateway.history.stream`), so any range streams with constant memory.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from gateway.config import ConfigErrors, load_config, parse_config
from gateway.history.errors import UnknownField, unknown_sensor
from gateway.history.export import ExportError, iso_utc, parse_duration_ns, parse_fields, parse_time_ns
from gateway.history.reader import HistoryReader
from gateway.history.stream import check_events_sensor, plan_history, write_events, write_history

HELP = "show what the history database holds (info) or export a sensor's history as CSV/JSON (export)"
DEFAULT_CONFIG = Path("/etc/sensorcast/sensorcast.toml")
DAY_NS = 86400 * 10**9


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``history``'s arguments."""
    p.add_argument(
        "--config", type=Path, help=f"config (default {DEFAULT_CONFIG} when it exists, else the demo's)"
    )
    p.add_argument(
        "--db",
        type=Path,
        help="the database file (default: from the config; a config with a [fleet] url: the fleet's)",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("info", help="size, tiers, oldest/newest per sensor, write estimate")
    ex = sub.add_parser("export", help="write one sensor's history (or the rule events) to stdout")
    ex.add_argument("--sensor", help="the sensor (required unless --events: then only its events)")
    ex.add_argument(
        "--events", action="store_true", help="the stored rule events (fired, cleared, acknowledged) instead"
    )
    ex.add_argument("--fields", default="", help="comma-separated (default: all)")
    ex.add_argument(
        "--from",
        dest="from_",
        metavar="FROM",
        required=True,
        help="ISO-8601 (UTC unless an offset) or epoch seconds",
    )
    ex.add_argument("--to", help="ISO-8601 or epoch seconds (default: now)")
    ex.add_argument(
        "--period", help="bucket length (60s, 5m, 1h...): min/max/mean/last per bucket; default raw"
    )
    ex.add_argument("--format", choices=("csv", "json"), default="csv")


PROGRESS_INTERVAL_S = 2.0
"""How often a long export to a terminal's stderr says how far it is (a year of raw rows takes minutes)."""


class ExportProgress:
    """``history export: 1,234,567 rows`` on stderr, rewritten in place at most every ``interval_s``, and a last
    line at the end; only when stderr is a terminal (a script's log gets nothing)."""

    def __init__(self, err: TextIO, clock: Callable[[], float], interval_s: float | None = None) -> None:
        self.err = err
        self.clock = clock
        self.interval_s = PROGRESS_INTERVAL_S if interval_s is None else interval_s
        self.next_s = clock() + self.interval_s
        self.shown = False

    def __call__(self, rows: int) -> None:
        """After a page: show the count when ``interval_s`` has passed since the last time."""
        now = self.clock()
        if now >= self.next_s:
            self.next_s = now + self.interval_s
            self.shown = True
            self.err.write(f"\rhistory export: {rows:,} rows")
            self.err.flush()

    def done(self, rows: int) -> None:
        """The total, ending the line (only after a progress line: a short export stays quiet)."""
        if self.shown:
            self.err.write(f"\rhistory export: {rows:,} rows, done\n")
            self.err.flush()


def _db_path(args: argparse.Namespace) -> tuple[Path, str]:
    """The database file, and what to add when it is missing (history turned off in the config)."""
    if args.db is not None:
        return Path(args.db), ""
    cfg_path = args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    cfg = load_config(cfg_path) if cfg_path is not None else parse_config({})
    off = (
        ""
        if cfg.history.enabled
        else f" ({cfg_path}: history.enabled = false: this gateway keeps no history)"
    )
    if cfg.fleet.url:  # a fleet's config (a gateway ignores [fleet]): the fleet's own database
        return cfg.history.fleet_db_path(cfg.gateway.data_dir, cfg.gateway.id), off
    return cfg.history.db_path(cfg.gateway.data_dir), off


def main(args: argparse.Namespace) -> int:
    """Run ``history info`` or ``history export``."""
    try:
        path, missing_note = _db_path(args)
    except ConfigErrors as exc:
        print(exc, file=sys.stderr)
        return 2
    reader = HistoryReader(path)
    try:
        if args.action == "info":
            return info(reader, sys.stdout)
        return export(reader, args, sys.stdout)
    except KeyboardInterrupt:  # Ctrl-C mid-export: stdout may be a file the user keeps; say it is cut short
        if args.action != "export":
            raise
        start = "\n" if sys.stderr.isatty() else ""  # below a progress line, not at its end
        print(f"{start}history export: interrupted: what was written so far is incomplete", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `| head`: the reader has what it wanted; no traceback, no flush error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except FileNotFoundError:
        if path.is_dir():
            print(
                f"history: {path} is a directory: expected the database file (history.db in it?)",
                file=sys.stderr,
            )
        else:
            print(f"no history database at {path}{missing_note}", file=sys.stderr)
        return 1
    except sqlite3.OperationalError as exc:  # locked past the busy timeout, I/O error: not "not a database"
        print(f"history: {path}: {exc}", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as exc:  # --db at a text file, a truncated copy: sqlite's words, one line
        print(f"history: {path}: not a sensorcast history database ({exc})", file=sys.stderr)
        return 1
    except (ExportError, UnknownField) as exc:
        print(f"history export: {exc}", file=sys.stderr)
        return 2


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-recent")) if p.exists())


def info(reader: HistoryReader, out: TextIO) -> int:
    """Print the database's size and, per sensor and tier, rows and time span, plus a growth estimate."""
    rows = reader.sensors()
    size = _size(reader.path)
    print(f"database: {reader.path} ({size / 2**20:.1f} MiB with its WAL and recent log)", file=out)
    if not rows:
        print("empty", file=out)
        return 0
    w = max(16, *(len(d["sensor"]) for d in rows))  # a fleet's <gateway>/<sensor> names run longer
    print(f"{'sensor':<{w}} {'tier':<5} {'rows':>10}  {'oldest (UTC)':<20} {'newest (UTC)':<20}", file=out)
    for d in rows:
        print(
            f"{d['sensor']:<{w}} {d['tier']:<5} {d['rows']:>10}  {iso_utc(d['oldest_ns'])[:19]:<20}"
            f" {iso_utc(d['newest_ns'])[:19]:<20}",
            file=out,
        )
    span_ns = max(d["newest_ns"] for d in rows) - min(d["oldest_ns"] for d in rows if d["tier"] != "1h")
    days = max(span_ns, 3600 * 10**9) / DAY_NS
    per_day = sum(d["rows"] for d in rows if d["tier"] != "1h") / days
    print(
        f"growth: about {size / days / 2**20:.1f} MiB and {per_day:,.0f} rows a day (over {days:.2f} days);"
        " bytes the card sees per day: benchmarks/history.py measures write_bytes",
        file=out,
    )
    return 0


def export(reader: HistoryReader, args: argparse.Namespace, out: TextIO) -> int:
    """Stream one sensor's history (:func:`~gateway.history.stream.write_history`: constant memory)."""
    to_ns = parse_time_ns(args.to, "--to") if args.to else time.time_ns()
    from_ns = parse_time_ns(args.from_, "--from")
    if from_ns >= to_ns:
        raise ExportError(
            f"--from {args.from_} is not before --to {args.to or 'now'}: expected an earlier --from"
        )
    if args.events:
        for option, given in (("--period", args.period), ("--fields", args.fields)):
            if given:
                raise ExportError(f"{option}: not with --events (events are exported whole)")
        return export_events(reader, args.sensor, from_ns, to_ns, args.format, out)
    if not args.sensor:
        raise ExportError("--sensor: required (or --events)")
    fields = parse_fields(args.fields, "--fields")
    period = parse_duration_ns(args.period, "--period") if args.period else None
    plan = plan_history(reader, args.sensor, fields, from_ns, to_ns, period_ns=period)
    if plan is None:  # before any output: no half-written JSON
        print(unknown_sensor(args.sensor, reader.sensor_names()), file=sys.stderr)
        return 1
    progress = ExportProgress(sys.stderr, time.monotonic) if sys.stderr.isatty() else None
    n = write_history(reader, plan, args.format, out, progress)
    if progress is not None:
        progress.done(n)
    return 0


def export_events(
    reader: HistoryReader, sensor: str | None, from_ns: int, to_ns: int, fmt: str, out: TextIO
) -> int:
    """Stream the stored rule events (of ``sensor``, or all) page by page, oldest first. A ``sensor`` with
    neither readings nor events stored (a typo) is an error naming those that have some, not an empty file."""
    error = check_events_sensor(reader, sensor)
    if error is not None:
        print(error, file=sys.stderr)
        return 1
    write_events(reader, sensor, from_ns, to_ns, fmt, out)
    return 0
