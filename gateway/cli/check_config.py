"""``sensorcast check-config FILE``: validate a config without starting anything."""

from __future__ import annotations

import argparse
import sys

from gateway.config import ConfigErrors, load_config, locate_error, missing_token_file
from gateway.devices import driver_errors
from sensors.errors import ConfigError

HELP = "validate a config file and print every mistake with its key (exit 2 when there are any)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``check-config``'s arguments."""
    p.add_argument("file", nargs="?", help="TOML config file (its conf.d/*.toml drop-ins are merged)")
    p.add_argument(
        "--schema",
        action="store_true",
        help="print the config's JSON Schema (published as docs/config.schema.json) and exit",
    )


def _report(file: str, errors: list[ConfigError]) -> int:
    print(f"{file}: {len(errors)} error(s)", file=sys.stderr)
    for e in errors:
        where = f"{e.file}: " if e.file and e.file != file else ""  # a drop-in, a token file
        print(f"  {where}{e.key}: {e.message}", file=sys.stderr)
    return 2


def main(args: argparse.Namespace) -> int:
    """Load the file, then build every driver on emulators so driver options are checked too."""
    from gateway.cli.run import listen_error

    if args.schema:
        from gateway.config_schema import schema_text

        sys.stdout.write(schema_text())
        return 0
    if args.file is None:
        print("check-config: a FILE (or --schema) is required", file=sys.stderr)
        return 2
    errors: list[ConfigError] = []
    try:
        cfg = load_config(args.file)
    except ConfigErrors as exc:
        if exc.partial is None:
            return _report(args.file, exc.errors)
        errors, cfg = exc.errors, exc.partial
    errors += [locate_error(cfg, e) for e in driver_errors(cfg)]
    missing = missing_token_file(cfg)
    refused = None if missing else listen_error(cfg, cfg.security.insecure)
    if refused is not None:
        errors.append(refused)
    if errors:
        return _report(args.file, errors)
    print(
        f"{args.file}: OK ({len(cfg.sensors)} sensors, {len(cfg.actuators)} actuators"
        f"{', MQTT bridge' if cfg.mqtt else ''})"
    )
    if missing is not None:
        # The token file is made on the board (install.sh, `sensorcast token`): its absence here is this
        # machine's state, not a mistake in the file.
        print(
            f"{args.file}: note: security.token_file {missing} does not exist on this machine; `sensorcast run`"
            f" serves without tokens on loopback only and refuses {cfg.gateway.host} until it exists",
            file=sys.stderr,
        )
    return 0
