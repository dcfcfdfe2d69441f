"""The ``sensorcast`` command line.

Each subcommand lives in its own module exposing ``HELP: str``, ``add_arguments(parser)`` and
``main(args) -> int``; this file only dispatches. Modules must be cheap to import (no hardware libraries,
no asyncio servers at import time).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gateway import __version__

COMMANDS: dict[str, str] = {
    "run": "gateway.cli.run",
    "check-config": "gateway.cli.check_config",
    "scan": "gateway.cli.scan",
    "doctor": "gateway.cli.doctor",
    "bench": "gateway.cli.bench",
    "token": "gateway.cli.token",
    "history": "gateway.cli.history",
    "fleet": "gateway.cli.fleet",
    "record": "gateway.cli.record",
    "replay": "gateway.cli.replay",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser with every available subcommand (or with ``only`` that one).

    ``only`` is for running a command: the other commands' modules are then not imported, so what they import
    (the doctor's checks, the history export, the bench harness) does not stay resident in a long-running
    ``sensorcast run`` (issue 13: the demo's RSS)."""
    parser = argparse.ArgumentParser(
        prog="sensorcast",
        description="Telemetry gateway: sensors -> msgpack -> binary WebSocket (and MQTT).",
    )
    parser.add_argument("--version", action="version", version=f"sensorcast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sensorcast`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    # A command as the first word imports only its module; anything else (nothing, a typo, --help before the
    # command) gets the whole parser, so help and "invalid choice" still list every command.
    first = args_list[0] if args_list else None
    try:
        parser = build_parser(
            first if first in COMMANDS else None
        )  # imports command modules: Ctrl-C often lands here
        args = parser.parse_args(args_list)  # or here, a moment later
    except KeyboardInterrupt:
        print("sensorcast: interrupted", file=sys.stderr)
        return 130
    if not getattr(args, "_module", None):
        # No command is a usage error, as argparse treats a missing required argument: the help on stderr, exit
        # 2. Starting a server here would surprise (the demo is `sensorcast run`).
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._module.main(args))
    except KeyboardInterrupt:  # before the command's own signal handling is in place
        print("sensorcast: interrupted", file=sys.stderr)
        return 130
