"""``sensorcast fleet``: one dashboard for every gateway publishing to an MQTT broker (docs/fleet.md)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from gateway.cli.serving import configure, listen_failure, port_arg, stop_on_signals, until_stopped
from gateway.config import Config, ConfigErrors, parse_config
from sensors.errors import ConfigError

HELP = "serve one dashboard for many gateways, read from an MQTT broker (--mqtt mqtt://broker[:port])"
log = logging.getLogger("sensorcast")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``fleet``'s options."""
    p.add_argument(
        "--mqtt", metavar="URL", help="the broker: mqtt[s]://[user:pass@]host[:port] (default: [fleet] url)"
    )
    p.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="TOML config: [fleet] url/client_id/topic_prefix, [gateway] id/host/port/data_dir, [security], [mqtt]",
    )
    p.add_argument("--host", help="listen address (default from config, else localhost)")
    p.add_argument("--port", type=port_arg, help="listen port (default 8765; 0 picks a free one)")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback address without any token")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def _gateway_tables(cfg: Config) -> tuple[tuple[str, tuple[object, ...]], ...]:
    """What a gateway runs from its config and a fleet does not."""
    return (("sensors", cfg.sensors), ("actuators", cfg.actuators), ("rules", cfg.rules))


def prepare(args: argparse.Namespace) -> tuple[Config, object]:
    """The fleet's config and broker settings.

    Raises:
        ConfigErrors: anything wrong, including an unsafe listen address.
    """
    from gateway.cli.run import listen_error, load_checked

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    base = (
        load_checked(args.config)
        if args.config
        else parse_config({"gateway": {"id": "fleet"}}, file="(fleet)")
    )
    cfg = base.with_overrides(**overrides)
    try:
        mqtt = fleet_mqtt(cfg, args.mqtt)
    except ConfigError as exc:
        raise ConfigErrors(
            [exc.with_file(cfg.source) if cfg.source and exc.key.startswith("fleet") else exc]
        ) from None
    refused = listen_error(cfg, args.insecure or cfg.security.insecure)
    if refused is not None:
        raise ConfigErrors([refused])
    unused = [f"[[{name}]]" for name, tables in _gateway_tables(cfg) if tables]
    if unused:  # a gateway's config given to the fleet: its rules would silently never fire
        log.warning(
            "%s: the fleet serves the gateways' sensors; its own %s are not run",
            cfg.source,
            ", ".join(unused),
        )
    return cfg, mqtt


def fleet_mqtt(cfg: Config, url: str | None) -> object:
    """The fleet's broker settings: ``url`` (``--mqtt``) or ``[fleet] url`` on top of ``[mqtt]`` (credentials,
    TLS files, protocol), with ``[fleet]``'s client id and topic prefix.

    Raises:
        ConfigError: no broker given, or a bad URL.
    """
    from dataclasses import replace

    from bridges.mqtt.config import config_from_url

    fleet = cfg.fleet
    if not url and not fleet.url:
        raise ConfigError("fleet.url", "expected the broker: --mqtt mqtt://host[:port] or [fleet] url")
    mqtt = config_from_url(url or fleet.url, cfg.mqtt)
    changes = {k: getattr(fleet, k) for k in ("client_id", "topic_prefix") if getattr(fleet, k)}
    return replace(mqtt, **changes) if changes else mqtt


async def serve(cfg: Config, mqtt: object) -> int:
    """Run until SIGTERM/SIGINT."""
    from bridges.mqtt.config import MqttConfig
    from gateway.fleet.app import FleetApp

    assert isinstance(mqtt, MqttConfig)
    app = FleetApp(cfg, mqtt)
    with stop_on_signals(app.stop):
        async with app:
            print(
                f"sensorcast fleet {cfg.gateway.id}: gateways under {mqtt.topic_prefix}/ on {mqtt.host}",
                flush=True,
            )
            await until_stopped(app, f"http://127.0.0.1:{app.port}/")
    return 0


def main(args: argparse.Namespace) -> int:
    """Entry point of ``sensorcast fleet``."""
    prepared = configure(args, prepare)
    if prepared is None:
        return 2
    cfg, mqtt = prepared
    try:
        return asyncio.run(serve(cfg, mqtt))
    except OSError as exc:
        message = listen_failure(exc, cfg.gateway.host, cfg.gateway.port)
        if message is None:
            raise
        print(f"sensorcast: {message}", file=sys.stderr)
        return 1
