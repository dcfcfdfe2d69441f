"""``sensorcast record``: run the gateway as ``run`` does while every bus transaction goes into a capture file."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import re
import signal
import sys
from typing import Any

from gateway import __version__
from gateway.cli.run import add_arguments as add_run_arguments
from gateway.cli.run import prepare
from gateway.cli.serving import configure, listen_failure
from gateway.config import Config

HELP = "run the gateway and record every bus transaction to a capture file (docs/record-replay.md)"
log = logging.getLogger("sensorcast")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

MAX_DURATION_S = 7 * 24 * 3600.0
"""Longest --duration: a week (a capture is meant for a bug report or a test, not an archive)."""


def parse_duration(text: str) -> float:
    """``30s``, ``10m``, ``2h``, ``500ms`` or plain seconds -> seconds.

    Raises:
        argparse.ArgumentTypeError: anything else, or longer than :data:`MAX_DURATION_S`.
    """
    m = _DURATION.match(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"expected a duration like 30s, 10m or 2h, got {text!r}")
    seconds = float(m.group(1)) * _UNIT_S[m.group(2) or "s"]
    if not 0 < seconds <= MAX_DURATION_S:
        raise argparse.ArgumentTypeError(f"expected a duration above 0 and at most 7 days, got {text!r}")
    return seconds


PROGRESS_INTERVAL_S = 60.0
"""How often a recording prints where it stands: often enough to see a long one is alive, rare enough for a log."""


def span_text(seconds: float) -> str:
    """A duration as a person reads it: ``1.5 s``, ``10 min``, ``2 h``, ``2.5 h``."""
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def start_line(sensors: int, out: str, duration_s: float | None) -> str:
    """What ``record`` says it is about to do; the length in words, so ``--duration 10`` shows it means 10 s."""
    until = f"for {span_text(duration_s)}, or until" if duration_s else "until"
    return f"Recording {sensors} sensors to {out} {until} Ctrl-C / SIGTERM"


def progress_line(elapsed_s: float, duration_s: float | None, records: int, size_bytes: int) -> str | None:
    """One line every :data:`PROGRESS_INTERVAL_S` on a long recording: time so far (of the total) and size.
    None in the last second of a ``--duration`` (the "Recorded ..." line follows at once)."""
    if duration_s and elapsed_s > duration_s - 1:
        return None
    of = f" of {span_text(duration_s)}" if duration_s else ""
    return f"recording: {span_text(round(elapsed_s))}{of}, {records} transactions, {size_bytes / 1e6:.1f} MB"


def parse_size_mb(text: str) -> float:
    """``--max-mb``'s argparse type: a size in MB above 0.

    Raises:
        argparse.ArgumentTypeError: anything else (0, negative, nan, not a number).
    """
    try:
        mb = float(text)
    except ValueError:
        mb = math.nan
    if not 0 < mb < math.inf:
        raise argparse.ArgumentTypeError(f"expected a size in MB above 0, such as 512, got {text!r}")
    return mb


def parse_sensor_ids(text: str) -> list[str]:
    """``--sensors``' argparse type: sensor ids separated by commas.

    Raises:
        argparse.ArgumentTypeError: no id at all (``""``, ``","``).
    """
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise argparse.ArgumentTypeError(
            f"expected sensor ids separated by commas, such as env,probe, got {text!r}"
        )
    return names


def out_problem(out: str, force: bool = False) -> str | None:
    """What is wrong with ``--out`` as a capture path to write, told before the gateway starts; None if fine.

    An existing file is refused unless ``force``: a command re-run from the shell history must not replace a
    field capture."""
    if os.path.isdir(out):
        return f"--out {out} is a directory: expected a capture file path, such as {os.path.join(out, 'board.scap')}"
    if os.path.lexists(out) and not force:
        return f"--out {out} already exists: pass --force to overwrite it, or pick another name"
    parent = os.path.dirname(out) or "."
    if os.path.exists(parent) and not os.path.isdir(parent):
        return f"--out {out}: {parent} is a file, not a directory"
    if not os.path.isdir(parent):
        return f"--out {out}: the directory {parent} does not exist (create it first, or pick another path)"
    if not os.access(parent, os.W_OK):
        return f"--out {out}: cannot write in {parent} (permission denied)"
    return None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``record``'s options (``run``'s and the capture's)."""
    add_run_arguments(p)
    p.add_argument(
        "--out",
        "-o",
        required=True,
        metavar="FILE",
        help="capture file to write (.scap); never an existing one",
    )
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument(
        "--duration",
        type=parse_duration,
        metavar="T",
        help="stop after T (30s, 10m, 2h; a bare number is seconds)",
    )
    p.add_argument(
        "--sensors", type=parse_sensor_ids, metavar="A,B", help="record (and run) only these sensors"
    )
    p.add_argument("--compress", action="store_true", help="zlib-compress the capture")
    p.add_argument(
        "--max-mb",
        type=parse_size_mb,
        default=512.0,
        metavar="MB",
        help="stop when the capture reaches MB (512)",
    )


def board_model() -> str:
    """The board model from the device tree, ``""`` on a PC."""
    try:
        with open("/proc/device-tree/model", "rb") as f:
            return f.read().rstrip(b"\0\n").decode("utf-8", "replace")
    except OSError:
        return ""


async def record(
    cfg: Config,
    out: str,
    *,
    names: list[str] | None,
    duration_s: float | None,
    compress: bool,
    max_bytes: int,
) -> int:
    """Serve ``cfg`` with a recording tap on every bus until a signal, ``duration_s`` or the size cap."""
    from gateway.app import GatewayApp
    from gateway.capture.recorder import CaptureWriter, RecordingTap
    from gateway.capture.session import capture_header, recording_config, select
    from gateway.devices import build_context

    recorded, notes = select(cfg, names)
    for note in notes:
        log.warning("%s", note)
    if names and not recorded:
        raise ValueError(f"--sensors {','.join(names)}: none of them can be recorded (see above)")
    run_cfg = recording_config(cfg, [s for s in cfg.sensors if s.id in names]) if names else cfg
    loop = asyncio.get_running_loop()
    app_ref: list[Any] = []

    def full() -> None:
        if app_ref:
            loop.call_soon_threadsafe(app_ref[0].stop)

    try:
        writer = CaptureWriter(
            out,
            capture_header(cfg, __version__, board_model(), recorded),
            compress=compress,
            max_bytes=max_bytes,
            on_full=full,
        )
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot write it: {exc.strerror or exc}") from exc
    ctx = build_context(data_dir=str(cfg.gateway.data_dir), tap=RecordingTap(writer))
    app = GatewayApp(run_cfg, ctx=ctx)
    app_ref.append(app)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app.stop)
    timer = loop.call_later(duration_s, app.stop) if duration_s else None
    started = loop.time()
    ticker: asyncio.TimerHandle | None = None

    def progress() -> None:
        nonlocal ticker
        line = progress_line(loop.time() - started, duration_s, writer.records, writer.bytes_written)
        if line is not None:
            print(line, flush=True)
        ticker = loop.call_later(PROGRESS_INTERVAL_S, progress)

    ticker = loop.call_later(PROGRESS_INTERVAL_S, progress)
    serving = False
    try:
        async with app:
            serving = True
            print(start_line(len(recorded), out, duration_s), flush=True)
            print(f"Dashboard: {app.http_url}", flush=True)
            print(f"WebSocket: {app.url}", flush=True)
            await app.wait_closed()
    finally:
        if ticker is not None:
            ticker.cancel()
        if timer is not None:
            timer.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        writer.close()
        if (
            not serving
        ):  # the gateway never started (a busy port): a header-only file would only block a re-run
            with contextlib.suppress(FileNotFoundError):
                os.unlink(out)
    print(f"Recorded {writer.records} transactions, {writer.bytes_written} bytes, to {out}", flush=True)
    return 1 if app.failed else 0


def main(args: argparse.Namespace) -> int:
    """Entry point of ``sensorcast record``."""
    cfg = configure(args, prepare)
    if cfg is None:
        return 2
    names: list[str] | None = args.sensors
    problem = out_problem(args.out, args.force)
    if problem is not None:
        print(f"sensorcast: {problem}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(
            record(
                cfg,
                args.out,
                names=names,
                duration_s=args.duration,
                compress=args.compress,
                max_bytes=int(args.max_mb * 1024 * 1024),
            )
        )
    except ValueError as exc:
        print(f"sensorcast: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        message = listen_failure(exc, cfg.gateway.host, cfg.gateway.port)
        if message is not None:
            print(f"sensorcast: {message}; nothing was recorded ({args.out} not kept)", file=sys.stderr)
            return 1
        print(f"sensorcast: {exc}", file=sys.stderr)
        return 1
