"""``sensorcast check-config FILE``: validate a config without starting anything."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from gateway.app import build_devices
from gateway.config import ConfigErrors, load_config
from sensors.base import BuildContext
from sensors.errors import ConfigError

HELP = "validate a config file and print every mistake with its key (exit 2 when there are any)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``check-config``'s arguments."""
    p.add_argument("file", help="TOML config file")


def _report(file: str, errors: list[ConfigError]) -> int:
    print(f"{file}: {len(errors)} error(s)", file=sys.stderr)
    for e in errors:
        print(f"  {e.key}: {e.message}", file=sys.stderr)
    return 2


def main(args: argparse.Namespace) -> int:
    """Load the file, then build every driver on emulators so driver options are checked too."""
    errors: list[ConfigError] = []
    try:
        cfg = load_config(args.file)
    except ConfigErrors as exc:
        if exc.partial is None:
            return _report(args.file, exc.errors)
        errors, cfg = exc.errors, exc.partial
    try:
        # Driver options are validated by the drivers themselves; build them on emulators so nothing touches
        # real hardware while checking.
        sim = replace(
            cfg,
            sensors=tuple(replace(s, simulate=True) for s in cfg.sensors),
            actuators=tuple(replace(a, simulate=True) for a in cfg.actuators),
        )
        ctx = BuildContext(simulate=True)
        sensors, actuators = build_devices(sim, ctx)
        closers = [s.close for s in sensors] + [a.close for a in actuators]
        for close in closers:
            try:
                close()
            except Exception:  # closing emulators after a dry build is best effort
                continue
        ctx.close()
    except ConfigErrors as exc:
        errors += exc.errors
    if errors:
        return _report(args.file, errors)
    print(
        f"{args.file}: OK ({len(cfg.sensors)} sensors, {len(cfg.actuators)} actuators"
        f"{', MQTT bridge' if cfg.mqtt else ''})"
    )
    return 0
