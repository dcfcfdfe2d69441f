"""``sensorcast replay``: build the recorded drivers on the capture's buses and serve them like ``run``, or
dump / check the readings they decode (a capture as a regression test)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from typing import Any, TextIO

from gateway.cli.logs import setup_logging
from gateway.cli.serving import listen_failure, port_arg
from gateway.config import ConfigErrors, is_loopback

HELP = (
    "replay a capture (sensorcast record) through the same drivers: serve it, --dump or --check its readings"
)
log = logging.getLogger("sensorcast")

SPEEDS = {"1": 1.0, "10": 10.0, "max": None}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``replay``'s options."""
    p.add_argument("capture", metavar="CAPTURE", help="a .scap file written by sensorcast record")
    p.add_argument("--speed", choices=list(SPEEDS), default="1", help="1 (as recorded), 10, or max")
    p.add_argument("--port", type=port_arg, help="serve on this port (default 8765 unless --dump/--check)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback --host (a replay serves without tokens)"
    )
    p.add_argument("--loop", action="store_true", help="start over when the capture ends (serving only)")
    p.add_argument("--dump", metavar="FILE", help="write every decoded reading as JSON lines")
    p.add_argument("--check", metavar="FILE", help="compare the decoded readings with a --dump file")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])


def _fail(message: str, code: int = 2) -> int:
    print(f"sensorcast replay: {message}", file=sys.stderr)
    return code


def build(capture: Any, speed: float | None, on_end: Any = None, **gateway: Any) -> tuple[Any, Any, Any]:
    """The replay tap, the build context and the config of ``capture``."""
    from gateway.capture.replayer import ReplayTap
    from gateway.capture.session import replay_config, replay_context
    from sensors.sim.emulators import EMULATORS

    tap = ReplayTap(capture, speed, on_end)
    return tap, replay_context(tap, EMULATORS), replay_config(capture.header, **gateway)


def dump_lines(capture: Any, speed: float | None, directory: str) -> tuple[Any, str | None]:
    """Replay without serving: every sensor read until its capture ends; the readings in an
    :class:`~gateway.capture.spool.OutcomeSpool` under ``directory`` (ordered by sensor, then read; at most
    :data:`~gateway.capture.holding.MAX_HELD_OUTCOMES` of them in memory) and the first mismatch.

    Raises:
        ValueError: the spool's files cannot be made in ``directory`` (naming it).
    """
    from gateway.capture.session import drive, is_push
    from gateway.capture.spool import OutcomeSpool
    from gateway.devices import build_devices

    tap, ctx, cfg = build(capture, speed)
    push = [s.id for s in cfg.sensors if is_push(s)]
    if push:
        print(
            f"replay: note: {', '.join(push)} follow GPIO edges in time: serve them (--port), not --dump",
            file=sys.stderr,
        )
        cfg = replace(cfg, sensors=tuple(s for s in cfg.sensors if not is_push(s)))
    sensors, _ = build_devices(cfg, ctx)
    start = time.monotonic()
    stop = threading.Event()

    def halt() -> None:  # the spool cannot write (a full disk): decoding on would be for nothing
        tap.stop()  # drivers closing their ports mid-capture are shutting down, not a mismatch
        stop.set()

    try:
        try:
            spool = OutcomeSpool(directory, [s.info.id for s in sensors], on_error=halt)
        except OSError as exc:
            raise ValueError(
                f"cannot make the temporary files in {directory}: {exc.strerror or exc}"
            ) from exc
        try:
            driven = drive(
                sensors,
                stop,
                now_s=lambda: time.monotonic() - start,
                hit_end=tap.hit_end,
                abandoned=tap.abandoned,
                keep=spool.add,
            )
            spool.finish()
        except BaseException:
            spool.close()
            raise
    finally:
        ctx.close()
        tap.close()
    return spool, driven.mismatch or tap.first_mismatch


def iter_dump(path: str) -> Iterator[dict[str, Any]]:
    """The readings of a ``--dump`` file, one at a time.

    Raises:
        ValueError: a line that is not one JSON object with a ``sensor`` (naming the line), or an empty file.
        OSError: the file cannot be read.
    """
    empty = True
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            if not isinstance(line, dict) or "sensor" not in line:
                raise ValueError(f"line {number} is not a reading: expected the JSON lines of a --dump file")
            empty = False
            yield line
    if empty:
        raise ValueError("it holds no readings: expected the JSON lines of a --dump file")


def read_dump(path: str) -> int:
    """Check a ``--dump`` file (keeping none of it); how many readings it holds.

    Raises:
        ValueError: as :func:`iter_dump`.
        OSError: the file cannot be read.
    """
    return sum(1 for _ in iter_dump(path))


async def serve(capture: Any, speed: float | None, loop_forever: bool, host: str, port: int) -> int:
    """Serve the replay like ``run`` until a signal or the capture's end (again from the start with --loop)."""

    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    serving: dict[str, Any] = {}  # the round's app and tap, for the signal handler

    def stop() -> None:
        stopped.set()
        if serving:
            serving["tap"].stop()
            serving["app"].stop()

    # Installed once for every round: handlers removed and re-added per round left a gap between two rounds of
    # --loop in which Ctrl-C was a KeyboardInterrupt (exit 130) instead of a clean stop.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        return await _rounds(capture, speed, loop_forever, host, port, stopped, serving)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _rounds(
    capture: Any,
    speed: float | None,
    loop_forever: bool,
    host: str,
    port: int,
    stopped: asyncio.Event,
    serving: dict[str, Any],
) -> int:
    """Serve the capture once, or again and again with --loop, until ``stopped`` is set."""
    from gateway.app import GatewayApp

    loop = asyncio.get_running_loop()
    while True:
        current: list[Any] = []
        ended: list[str] = []
        current_tap: list[Any] = []

        def on_end(
            key: str,
            current: list[Any] = current,
            ended: list[str] = ended,
            current_tap: list[Any] = current_tap,
        ) -> None:
            ended.append(key)
            current_tap[0].stop()
            if current:
                loop.call_soon_threadsafe(current[0].stop)

        tap, ctx, cfg = build(capture, speed, on_end, host=host, port=port)
        current_tap.append(tap)
        app = GatewayApp(cfg, ctx=ctx)
        current.append(app)

        serving.update(app=app, tap=tap)
        if stopped.is_set():  # Ctrl-C while this round was being built
            tap.stop()
            app.stop()
        async with app:
            print(f"Replaying {len(cfg.sensors)} sensors from the capture", flush=True)
            print(f"Dashboard: {app.http_url}", flush=True)
            port = app.port  # --port 0: the next round serves where the dashboard already points
            await app.wait_closed()
        tap.close()
        if tap.first_mismatch is not None:
            return _fail(f"the drivers asked for what the capture does not contain: {tap.first_mismatch}", 1)
        if stopped.is_set() or not loop_forever:
            print("replay: the capture ended" if ended else "replay: stopped", flush=True)
            return 0


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: the .partial file and the temporary files go


def dump_and_check(capture: Any, speed: float | None, dump: str | None, check: str | None) -> int:
    """``--dump``/``--check``: decode every reading, write them to ``dump``, compare them with ``check``.

    A regular ``dump`` file is written beside it (``.partial``) and renamed when complete, so an interrupted or
    failed replay keeps the previous one; ``/dev/stdout`` or a pipe is written directly. Path mistakes are told
    before the replay starts, not after minutes of decoding. The readings wait in temporary files (beside a
    regular ``dump``, else in ``$TMPDIR``), removed on exit, on Ctrl-C and on SIGTERM.
    """
    if check:
        try:
            read_dump(check)
        except OSError as exc:
            return _fail(f"--check {check}: cannot read it: {exc.strerror or exc}")
        except ValueError as exc:
            return _fail(f"--check {check}: {exc}")
    if dump and os.path.isdir(dump):
        return _fail(f"--dump {dump} is a directory: expected a file path, such as readings.jsonl")
    parent = os.path.dirname(str(dump)) if dump else ""
    if parent and not os.path.isdir(parent):
        return _fail(
            f"--dump {dump}: the directory {parent} does not exist (create it first, or pick another path)"
        )
    direct = bool(dump) and os.path.exists(str(dump)) and not os.path.isfile(str(dump))
    partial = f"{dump}.partial" if dump and not direct else dump
    out: TextIO | None = None
    if partial:
        try:
            out = open(partial, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            return _fail(f"--dump {dump}: cannot write it: {exc.strerror or exc}")
    beside = os.path.dirname(os.path.abspath(str(dump))) if dump and not direct else None
    main_thread = threading.current_thread() is threading.main_thread()  # signal.signal works there only
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        try:
            spool_dir = tempfile.TemporaryDirectory(
                prefix="sensorcast-replay-", dir=beside, ignore_cleanup_errors=True
            )
        except OSError as exc:
            where = beside or tempfile.gettempdir()
            return _fail(
                f"cannot make a temporary directory in {where} for the readings: {exc.strerror or exc}"
            )
        with spool_dir as tmp:
            return _dump_and_check(capture, speed, tmp, out, dump, partial, check)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
        if out is not None and partial != dump and os.path.exists(str(partial)):
            out.close()
            os.unlink(str(partial))


def _dump_and_check(
    capture: Any,
    speed: float | None,
    tmp: str,
    out: TextIO | None,
    dump: str | None,
    partial: str | None,
    check: str | None,
) -> int:
    from gateway.capture.spool import check_spool

    started = time.monotonic()
    spool, mismatch = dump_lines(capture, speed, tmp)
    with closing(spool):
        elapsed = time.monotonic() - started
        if spool.error is not None:
            return _fail(
                f"cannot keep the readings in {tmp}: {spool.error.strerror or spool.error} (about 160 B of disk "
                "per reading go there until the replay ends: docs/record-replay.md, Memory)"
            )
        if out is not None:
            try:
                with out:
                    spool.write_to(out)
            except OSError as exc:
                return _fail(f"--dump {dump}: cannot write it: {exc.strerror or exc}")
            if partial != dump:
                os.replace(str(partial), str(dump))
        print(
            f"replay: {spool.count} readings from {capture.duration_ns / 1e9:.1f} s of capture in {elapsed:.2f} s",
            file=sys.stderr,
        )
        if mismatch is not None:
            return _fail(f"the drivers asked for what the capture does not contain: {mismatch}", 1)
        if check:
            report = check_spool(spool, iter_dump(check), tmp)
            if report is not None:
                shown = "".join(f"\n  {line}" for line in report.shown)
                first = f" (the first {len(report.shown)})" if report.differing > len(report.shown) else ""
                return _fail(
                    f"{report.differing} of {report.compared} readings differ from {check}{first}:{shown}", 1
                )
            print(f"replay: {spool.count} readings match {check}", file=sys.stderr)
    return 0


def main(args: argparse.Namespace) -> int:
    """Entry point of ``sensorcast replay``."""
    from gateway.capture.codec import CaptureFormatError
    from gateway.capture.replayer import Capture, ReplayMismatch

    setup_logging(args.log_level)
    serving = args.port is not None or not (args.dump or args.check)
    if serving and not args.insecure and not is_loopback(args.host):
        return _fail(
            f"--host {args.host}: a replay serves without tokens, so anyone on the network could read the "
            "recorded readings; keep 127.0.0.1 (the default), or pass --insecure if that is really what you want"
        )
    if args.loop and (args.dump or args.check) and args.port is None:
        return _fail("--loop serves the capture again and again: add --port to serve it after --dump/--check")
    try:
        capture = Capture.load(args.capture)
    except CaptureFormatError as exc:
        return _fail(f"{args.capture} is not a readable capture: {exc}")
    except OSError as exc:
        return _fail(f"cannot read {args.capture}: {exc.strerror or exc}")
    if capture.ending == "truncated":
        print(
            f"replay: note: {args.capture} was cut short (no end record, e.g. a power cut while recording): "
            f"replaying the {capture.duration_ns / 1e9:.1f} s it holds",
            file=sys.stderr,
        )
    speed = SPEEDS[args.speed]
    try:
        if args.dump or args.check:
            code = dump_and_check(capture, speed, args.dump, args.check)
            if code != 0 or args.port is None:
                return code
        return asyncio.run(
            serve(capture, speed, args.loop, args.host, 8765 if args.port is None else args.port)
        )
    except ReplayMismatch as exc:  # while a driver was being built (probing its bus or tree)
        return _fail(f"the drivers asked for what the capture does not contain: {exc}", 1)
    except ConfigErrors as exc:
        return _fail("the capture's config does not validate: " + "; ".join(str(e) for e in exc.errors))
    except ValueError as exc:
        return _fail(str(exc))
    except OSError as exc:
        message = listen_failure(exc, args.host, 8765 if args.port is None else args.port)
        if message is None:
            raise
        return _fail(message, 1)
