"""``sensorcast replay``: build the recorded drivers on the capture's buses and serve them like ``run``, or
dump / check the readings they decode (a capture as a regression test)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import threading
import time
from dataclasses import replace
from typing import Any

from gateway.cli.logs import setup_logging
from gateway.config import ConfigErrors

HELP = (
    "replay a capture (sensorcast record) through the same drivers: serve it, --dump or --check its readings"
)
log = logging.getLogger("sensorcast")

SPEEDS = {"1": 1.0, "10": 10.0, "max": None}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``replay``'s options."""
    p.add_argument("capture", metavar="CAPTURE", help="a .scap file written by sensorcast record")
    p.add_argument("--speed", choices=list(SPEEDS), default="1", help="1 (as recorded), 10, or max")
    p.add_argument("--port", type=int, help="serve on this port (default 8765 unless --dump/--check)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
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


def dump_lines(capture: Any, speed: float | None) -> tuple[list[dict[str, Any]], str | None]:
    """Replay without serving: every sensor read until its capture ends; the readings as JSON-ready dicts
    (ordered by sensor, then read) and the first mismatch."""
    from gateway.capture.session import drive, is_push
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
    try:
        driven = drive(
            sensors,
            threading.Event(),
            now_s=lambda: time.monotonic() - start,
            hit_end=tap.hit_end,
            abandoned=tap.abandoned,
        )
    finally:
        ctx.close()
    lines = [o.as_json() for sid in sorted(driven.outcomes) for o in driven.outcomes[sid]]
    return lines, driven.mismatch or tap.first_mismatch


def compare(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> str | None:
    """The first difference between two dumps (times ignored), or None."""

    def key(line: dict[str, Any]) -> tuple[Any, ...]:
        return (line.get("sensor"), line.get("n"), line.get("values"), line.get("error"), line.get("errno"))

    for a, b in zip(got, expected, strict=False):
        if key(a) != key(b):
            return f"sensor {b.get('sensor')} reading {b.get('n')}: expected {key(b)[2:]}, replay gave {key(a)[2:]}"
    if len(got) != len(expected):
        return f"expected {len(expected)} readings, replay gave {len(got)}"
    return None


async def serve(capture: Any, speed: float | None, loop_forever: bool, host: str, port: int) -> int:
    """Serve the replay like ``run`` until a signal or the capture's end (again from the start with --loop)."""
    from gateway.app import GatewayApp

    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    while True:
        current: list[Any] = []
        ended: list[str] = []

        def on_end(key: str, current: list[Any] = current, ended: list[str] = ended) -> None:
            ended.append(key)
            if current:
                loop.call_soon_threadsafe(current[0].stop)

        tap, ctx, cfg = build(capture, speed, on_end, host=host, port=port)
        app = GatewayApp(cfg, ctx=ctx)
        current.append(app)

        def stop(app: Any = app) -> None:
            stopped.set()
            app.stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        try:
            async with app:
                print(f"Replaying {len(cfg.sensors)} sensors from the capture", flush=True)
                print(f"Dashboard: {app.http_url}", flush=True)
                await app.wait_closed()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        if tap.first_mismatch is not None:
            return _fail(f"the drivers asked for what the capture does not contain: {tap.first_mismatch}", 1)
        if stopped.is_set() or not loop_forever:
            print("replay: the capture ended" if ended else "replay: stopped", flush=True)
            return 0


def main(args: argparse.Namespace) -> int:
    """Entry point of ``sensorcast replay``."""
    from gateway.capture.codec import CaptureFormatError
    from gateway.capture.replayer import Capture, ReplayMismatch

    setup_logging(args.log_level)
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
            expected: list[dict[str, Any]] | None = None
            if args.check:
                try:
                    with open(args.check, encoding="utf-8") as f:
                        expected = [json.loads(line) for line in f if line.strip()]
                except (OSError, ValueError) as exc:
                    return _fail(f"cannot read {args.check}: {exc}")
            started = time.monotonic()
            lines, mismatch = dump_lines(capture, speed)
            elapsed = time.monotonic() - started
            if args.dump:
                with open(args.dump, "w", encoding="utf-8") as f:
                    f.writelines(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
            print(
                f"replay: {len(lines)} readings from {capture.duration_ns / 1e9:.1f} s of capture in {elapsed:.2f} s",
                file=sys.stderr,
            )
            if mismatch is not None:
                return _fail(f"the drivers asked for what the capture does not contain: {mismatch}", 1)
            if expected is not None:
                diff = compare(lines, expected)
                if diff is not None:
                    return _fail(f"readings differ from {args.check}: {diff}", 1)
                print(f"replay: {len(lines)} readings match {args.check}", file=sys.stderr)
            if args.port is None:
                return 0
        return asyncio.run(
            serve(capture, speed, args.loop, args.host, 8765 if args.port is None else args.port)
        )
    except ReplayMismatch as exc:  # while a driver was being built (probing its bus or tree)
        return _fail(f"the drivers asked for what the capture does not contain: {exc}", 1)
    except ConfigErrors as exc:
        return _fail("the capture's config does not validate: " + "; ".join(str(e) for e in exc.errors))
    except ValueError as exc:
        return _fail(str(exc))
