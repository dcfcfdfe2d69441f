"""``sensorcast run``: start the gateway (the demo on simulated sensors when no config is given)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gateway.allocator import TRIM_ENV, TRIM_INTERVAL_S, load_malloc_trim, parse_trim_interval, trim_loop
from gateway.cli.serving import (
    configure,
    listen_failure,
    port_arg,
    print_config_errors,
    stop_on_signals,
    until_stopped,
)
from gateway.config import (
    Config,
    ConfigErrors,
    demo_config,
    is_loopback,
    load_config,
    missing_token_file,
)
from sensors.errors import ConfigError

if TYPE_CHECKING:
    from gateway.app import GatewayApp

HELP = "run the gateway (no --config: demo on simulated sensors at http://127.0.0.1:8765/)"
log = logging.getLogger("sensorcast")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``run``'s options."""
    p.add_argument("--config", "-c", metavar="FILE", help="TOML config (see deploy/config.example.toml)")
    p.add_argument("--host", help="listen address (default from config, else localhost: 127.0.0.1 and ::1)")
    p.add_argument("--port", type=port_arg, help="listen port (default 8765; 0 picks a free one)")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow listening on a non-loopback address without any token configured",
    )
    p.add_argument("--mqtt", metavar="URL", help="also publish to MQTT: mqtt[s]://[user:pass@]host[:port]")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def listen_error(cfg: Config, insecure: bool) -> ConfigError | None:
    """Why ``cfg`` must not be served as it stands (a non-loopback address and no token), or None."""
    if is_loopback(cfg.gateway.host) or cfg.security.tokens or insecure:
        return None
    missing = missing_token_file(cfg)
    why = (
        f"security.token_file {missing} does not exist on this machine, so no token is configured"
        if missing
        else "no token configured"
    )
    return ConfigError(
        "gateway.host",
        f"refusing to listen on {cfg.gateway.host} with {why}: anyone on the network could read and command "
        f"this gateway. Add tokens (`sensorcast token --role operator --file {missing or '...'}`"
        f"{'' if missing else ' and security.token_file'}), try the config locally with --host 127.0.0.1, or "
        "pass --insecure if that is really what you want",
        cfg.source,
    )


def load_checked(path: str) -> Config:
    """:func:`load_config`, reporting on failure what ``check-config`` reports: the file's mistakes and every
    driver option a driver rejects, all at once.

    Raises:
        ConfigErrors: every mistake.
    """
    try:
        return load_config(path)
    except ConfigErrors as exc:
        if exc.partial is None:
            raise
        from gateway.devices import driver_errors

        raise ConfigErrors(exc.errors + driver_errors(exc.partial), exc.partial) from None


def prepare(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line overrides and safety checks.

    Raises:
        ConfigErrors: anything wrong, including an unsafe listen address.
    """
    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    cfg = load_checked(args.config).with_overrides(**overrides) if args.config else demo_config(**overrides)
    if args.mqtt:
        from bridges.mqtt.config import config_from_url

        try:
            cfg = replace(cfg, mqtt=config_from_url(args.mqtt, cfg.mqtt))  # keeps rules and drop-in origins
        except ConfigError as exc:
            raise ConfigErrors([exc]) from None
    refused = listen_error(cfg, args.insecure or cfg.security.insecure)
    if refused is not None:
        raise ConfigErrors([refused])
    missing = missing_token_file(cfg)
    if missing is not None and not cfg.security.tokens:
        log.warning(
            "security.token_file %s does not exist: serving %s without tokens", missing, cfg.gateway.host
        )
    return cfg


def _notifier() -> Any:
    try:
        from gateway.sdnotify import Notifier
    except ModuleNotFoundError:
        return None
    return Notifier.from_env()


async def reload_app(app: Any, load: Callable[[], Config]) -> str:
    """Load the config again and apply it to the running ``app`` (SIGHUP); return the status line.

    An invalid new config is refused as a whole, with every mistake in the log, and the previous one keeps
    running; so does a failure to apply it (nothing is touched before the new drivers are built).
    """
    notifier = app.notifier
    if notifier is not None:
        notifier.reloading(time.monotonic_ns())
    try:
        new = load()
        plan = await app.reload(new)
    except ConfigErrors as exc:
        log.error("reload refused, still serving the previous config: %d mistake(s)", len(exc.errors))
        for e in exc.errors:
            log.error("  %s", e)
        outcome = f"reload refused ({len(exc.errors)} mistake(s), see the journal)"
    except Exception:
        log.exception("reload failed, still serving the previous config")
        outcome = "reload failed (see the journal)"
    else:
        (log.warning if plan.restart_needed else log.info)("reload: %s", plan.summary())
        outcome = f"reloaded: {plan.summary()}"
    status = f"serving {app.http_url} ({len(app.runners)} sensors); {outcome}"
    if notifier is not None:
        notifier.ready()
        notifier.status(status)
    return status


def start_malloc_trim(interval_s: float) -> asyncio.Task[None] | None:
    """Start the process's periodic ``malloc_trim`` (:mod:`gateway.allocator`); None when off or not on glibc."""
    if interval_s <= 0:
        return None
    trim = load_malloc_trim()
    if trim is None:
        log.debug("no malloc_trim in this C library (not glibc): the allocator keeps its free pages")
        return None
    return asyncio.get_running_loop().create_task(trim_loop(trim, interval_s), name="malloc-trim")


async def serve(
    cfg: Config, load: Callable[[], Config] | None = None, trim_interval_s: float = TRIM_INTERVAL_S
) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads the config with ``load`` (when given). Return the exit code.

    ``trim_interval_s``: seconds between two ``malloc_trim(0)`` of the process (0: never); see
    :mod:`gateway.allocator`."""
    async with _stop_from_now_on() as requested:
        from gateway.app import GatewayApp  # the slow import: a Ctrl-C during it is a stop, not an exception

        app = GatewayApp(cfg, notifier=_notifier())
        requested.attach(app.stop)
        return await _serve(app, cfg, load, trim_interval_s)


class _StopRequest:
    """Where SIGTERM/SIGINT go while ``serve`` starts: remembered until the app exists, then the app's stop."""

    def __init__(self) -> None:
        self.asked = False
        self._target: Callable[[], None] | None = None

    def attach(self, stop: Callable[[], None]) -> None:
        """From now on a signal calls ``stop``; at once if one came before."""
        self._target = stop
        if self.asked:
            stop()

    def __call__(self) -> None:
        self.asked = True
        if self._target is not None:
            self._target()


@contextlib.asynccontextmanager
async def _stop_from_now_on() -> AsyncIterator[_StopRequest]:
    """SIGTERM/SIGINT handled from the first line of ``serve`` (a signal during the imports and the app's
    start-up was Python's default KeyboardInterrupt, which asyncio turned into a cancel that start-up code
    could swallow: the gateway then ran on until a second Ctrl-C)."""
    request = _StopRequest()
    with stop_on_signals(request):
        yield request


async def _serve(
    app: GatewayApp, cfg: Config, load: Callable[[], Config] | None, trim_interval_s: float
) -> int:
    """Run ``app`` until it is stopped; SIGHUP reloads the config with ``load`` (when given)."""
    loop = asyncio.get_running_loop()
    reloads: list[asyncio.Task[str]] = []
    lock = asyncio.Lock()

    async def reload_once() -> str:
        assert load is not None
        async with lock:  # one reload at a time; a SIGHUP during one is applied after it
            return await reload_app(app, load)

    def on_hup() -> None:
        if load is None:
            log.warning("SIGHUP ignored: the demo has no config file to reload")
            return
        reloads[:] = [t for t in reloads if not t.done()]
        reloads.append(loop.create_task(reload_once(), name="reload"))

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    trimmer: asyncio.Task[None] | None = None
    try:
        async with app:
            trimmer = start_malloc_trim(trim_interval_s)
            mode = "demo on simulated sensors" if cfg.source in (None, "(demo)") else cfg.source
            print(
                f"sensorcast {cfg.gateway.id}: {mode}, {len(app.runners)} sensors, "
                f"{len(app.actuators)} outputs",
                flush=True,
            )
            await until_stopped(app, app.http_url)
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        for task in reloads:
            task.cancel()
        if trimmer is not None:
            trimmer.cancel()
            await asyncio.gather(trimmer, return_exceptions=True)
    return 1 if app.failed else 0


def main(args: argparse.Namespace) -> int:
    """Entry point of ``sensorcast run``."""
    cfg = configure(args, prepare)
    if cfg is None:
        return 2
    try:
        trim_interval_s = parse_trim_interval(os.environ.get(TRIM_ENV))
    except ConfigError as exc:
        print_config_errors(ConfigErrors([exc]))
        return 2
    try:
        return asyncio.run(serve(cfg, (lambda: prepare(args)) if args.config else None, trim_interval_s))
    except ConfigErrors as exc:
        print_config_errors(exc)
        return 2
    except OSError as exc:
        message = listen_failure(exc, cfg.gateway.host, cfg.gateway.port)
        if message is None:
            raise
        print(f"sensorcast: {message}", file=sys.stderr)
        return 1
