"""Composition root: builds drivers from config and wires sensor -> poller -> hub -> fan-out -> socket
(and hub -> bridge). The only place, with the CLI, that reads :class:`Config`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import socket
import time
from types import TracebackType
from typing import Any

from gateway.clock import clock_synced
from gateway.commands import CommandRouter
from gateway.config import Config, ConfigErrors
from gateway.fanout import FanOut
from gateway.history.service import HistoryService
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.poller import BusWorker, SensorRunner
from gateway.protocol.wire import encode_status
from gateway.server import GatewayServer
from sensors import registry
from sensors.base import Actuator, BuildContext, Sensor, SensorInfo, Values
from sensors.errors import ConfigError, UnknownOptions
from sensors.health import HealthPolicy
from sensors.spec import DeviceSpec

log = logging.getLogger(__name__)


class DeferredSensor(Sensor):
    """Stands in for a sensor whose hardware was absent at start (e.g. /dev/i2c-1 missing): every ``open``
    retries the build, so the sensor comes up by itself once the device appears."""

    def __init__(self, spec: DeviceSpec, ctx: BuildContext, reason: str) -> None:
        super().__init__(
            SensorInfo(spec.id, spec.driver, (), spec.interval_s or 1.0, spec.simulate, description=reason)
        )
        self.spec = spec
        self.ctx = ctx
        self.inner: Sensor | None = None
        self.bus_id = f"deferred:{spec.id}"

    def open(self) -> None:
        """Build the real driver (raises OSError while the hardware is still missing), then open it."""
        if self.inner is None:
            factory = registry.sensor_factory(self.spec.driver)
            assert factory is not None
            self.inner = factory(self.spec, self.ctx)
            self.bus_id = self.inner.bus_id
            self.info = (
                self.inner.info
            )  # the real catalogue entry (fields, units) for clients that connect now
        self.inner.open()

    def read(self) -> Values:
        """Read through the real driver."""
        if self.inner is None:
            raise OSError("device not available")
        return self.inner.read()

    def close(self) -> None:
        """Close the real driver, if built."""
        if self.inner is not None:
            self.inner.close()


def _with_file(exc: ConfigError, file: str | None) -> list[ConfigError]:
    """The errors a driver raised (several for :class:`UnknownOptions`), each naming ``file``."""
    each = exc.errors if isinstance(exc, UnknownOptions) else [exc]
    return [e if e.file or not file else e.with_file(file) for e in each]


def build_devices(config: Config, ctx: BuildContext) -> tuple[list[Sensor], list[Actuator]]:
    """Instantiate every configured sensor and actuator.

    Raises:
        ConfigErrors: unknown drivers or options a driver rejects (all of them, naming file and key).
    """
    errors: list[ConfigError] = []
    sensors: list[Sensor] = []
    actuators: list[Actuator] = []
    file = config.source
    for spec in config.sensors:
        factory = registry.sensor_factory(spec.driver)
        if factory is None:
            known = ", ".join(sorted(registry.sensor_drivers()))
            errors.append(
                ConfigError(
                    f"{spec.key}.driver", f"unknown sensor driver {spec.driver!r}; known: {known}", file
                )
            )
            continue
        try:
            sensors.append(factory(spec, ctx))
        except ConfigError as exc:
            errors += _with_file(exc, file)
        except OSError as exc:
            log.warning("sensor %s: hardware not available yet (%s); will keep trying", spec.id, exc)
            sensors.append(DeferredSensor(spec, ctx, "hardware not available at start"))
    for spec in config.actuators:
        afactory = registry.actuator_factory(spec.driver)
        if afactory is None:
            known = ", ".join(sorted(registry.actuator_drivers())) or "(none in this build)"
            errors.append(
                ConfigError(
                    f"{spec.key}.driver", f"unknown actuator driver {spec.driver!r}; known: {known}", file
                )
            )
            continue
        try:
            actuators.append(afactory(spec, ctx))
        except ConfigError as exc:
            errors += _with_file(exc, file)
    if errors:
        raise ConfigErrors(errors)
    return sensors, actuators


class GatewayApp:
    """The running gateway. ``async with GatewayApp(cfg) as app: await app.wait_closed()``.

    Attributes:
        hub: the reading source (also the bridge's :class:`bridges.seam.ReadingSource`).
        commands: the command path (:class:`bridges.seam.CommandHandler`).
    """

    def __init__(
        self,
        config: Config,
        *,
        ctx: BuildContext | None = None,
        notifier: Any = None,
        health_policy: HealthPolicy | None = None,
    ) -> None:
        self.config = config
        self.health_policy = health_policy or HealthPolicy()
        self.ctx = ctx or BuildContext(data_dir=str(config.gateway.data_dir))
        self.notifier = notifier
        self.metrics = Metrics()
        self.boot_id = secrets.token_hex(8)
        self._synced = bool(clock_synced())
        gw = config.gateway
        self.hub = Hub(
            gw.id,
            self.boot_id,
            flush_interval_ms=gw.flush_interval_ms,
            batch_size=gw.batch_size,
            ring_size=gw.ring_size,
            metrics=self.metrics,
            clock_synced=self._synced,
        )
        self.fanout = FanOut(self.metrics)
        self.workers: dict[str, BusWorker] = {}
        self.runners: list[SensorRunner] = []
        self.actuators: dict[str, Actuator] = {}
        self.commands = CommandRouter(self.actuators, self.workers, self.hub, timeout_s=gw.read_timeout_s)
        self.server = GatewayServer(
            config,
            self.hub,
            self.fanout,
            self.commands,
            self.metrics,
            self.health,
            on_last_operator=lambda: self.commands.apply_safe(only_on_disconnect=True),
        )
        hist = config.history
        self.history = HistoryService(hist, gw.data_dir, self.metrics) if hist.enabled else None
        self.server.history = self.history
        self.bridge: Any = None
        self.started_s = time.monotonic()
        self._tasks: list[asyncio.Task[Any]] = []
        self._task_sensors: dict[asyncio.Task[Any], str] = {}
        self._closing = False
        self._stop = asyncio.Event()
        self.failed: BaseException | None = None
        self._lag_s = 0.0

    # -- derived -------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server.port

    @property
    def url(self) -> str:
        """The WebSocket URL on loopback-reachable host."""
        scheme = "wss" if self.config.security.tls_cert else "ws"
        return f"{scheme}://{self._display_host()}:{self.port}/"

    @property
    def http_url(self) -> str:
        """The dashboard URL."""
        scheme = "https" if self.config.security.tls_cert else "http"
        return f"{scheme}://{self._display_host()}:{self.port}/"

    @property
    def lan_url(self) -> str:
        """The dashboard URL as another machine on the LAN reaches it (the host name when bound to every
        interface): what Home Assistant links each device to."""
        if self.config.gateway.host in ("0.0.0.0", "", "::"):
            scheme = "https" if self.config.security.tls_cert else "http"
            return f"{scheme}://{socket.gethostname()}:{self.port}/"
        return self.http_url

    def _display_host(self) -> str:
        host = self.config.gateway.host
        if host in ("0.0.0.0", "", "::", "localhost"):
            return "127.0.0.1"  # served in all these cases, and needs no name resolution
        return f"[{host}]" if ":" in host else host

    def health(self) -> dict[str, Any]:
        """The /healthz document."""
        states = {sid: st["state"] for sid, st in self.hub.states.items()}
        counts = {
            name: sum(1 for s in states.values() if s == name) for name in ("ok", "starting", "recovering")
        }
        if counts["ok"] == len(states):
            status = "ok"
        elif counts["ok"] + counts["starting"] == len(states):
            status = "starting"  # the first poll has not finished yet: not a failure
        elif counts["ok"] or counts["recovering"]:
            status = "degraded"
        else:
            status = "down"  # no sensor answers: 503, so a load balancer or monitor notices
        return {
            "status": status,
            "uptime_s": round(time.monotonic() - self.started_s, 3),
            "gateway": self.hub.gateway_id,
            "boot": self.boot_id,
            "clients": len(self.fanout.clients),
            "sensors": states,
            "clock_synced": self._synced,
            "seq": self.hub.flushed_seq,
            "loop_lag_s": round(self._lag_s, 6),
        }

    # -- lifecycle -----------------------------------------------------------------------------------------

    def _worker(self, bus_id: str) -> BusWorker:
        if bus_id not in self.workers:
            self.workers[bus_id] = BusWorker(
                bus_id, on_abandon=lambda b: self.metrics.inc("sensorcast_bus_threads_abandoned_total", bus=b)
            )
        return self.workers[bus_id]

    def _spawn(self, coro: Any, name: str, sensor_id: str | None = None) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        if sensor_id is not None:
            self._task_sensors[task] = sensor_id
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        sensor_id = self._task_sensors.pop(task, None)
        if task.cancelled():
            if not self._closing:
                # Only shutdown cancels a task: a sensor that stopped polling otherwise must not vanish silently.
                log.error("task %s was cancelled unexpectedly", task.get_name())
                self._polling_stopped(sensor_id)
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s crashed", task.get_name(), exc_info=exc)
            self._polling_stopped(sensor_id)
            self.failed = exc
            self._stop.set()
        elif sensor_id is not None and not self._closing:
            log.error("task %s ended unexpectedly", task.get_name())
            self._polling_stopped(sensor_id)

    def _polling_stopped(self, sensor_id: str | None) -> None:
        """Show a sensor whose polling task ended outside shutdown as stopped, with an error (/healthz, status)."""
        if sensor_id is not None and not self._closing:
            self.hub.set_state(sensor_id, "stopped", "polling stopped unexpectedly")

    async def __aenter__(self) -> GatewayApp:
        sensors, actuators = build_devices(self.config, self.ctx)
        self._status("starting sensors")
        loop = asyncio.get_running_loop()
        policy = self.health_policy
        for s in sensors:
            self.hub.register_sensor(s.info)
            runner = SensorRunner(
                s, self._worker(s.bus_id), self.hub, policy, self.config.gateway.read_timeout_s
            )
            runner.attach(loop)
            self.runners.append(runner)
        for a in actuators:
            self.actuators[a.info.id] = a
            self.hub.register_actuator(a.info)
            await self._worker(a.bus_id).call(a.open, timeout_s=self.config.gateway.read_timeout_s)
        self.hub.add_encoded_sink(self.fanout.on_batch)
        if self.history is not None:
            self.history.start(self.hub)
        self.hub.add_status_sink(self._on_status)
        self.metrics.add_callback(self._gauges)
        await self.commands.apply_safe()
        for r in self.runners:
            self._spawn(r.run(), f"sensor-{r.id}", sensor_id=r.id)
        self._spawn(self.fanout.run_ticks(), "fanout-ticks")
        self._spawn(self._monitor(), "monitor")
        if self.config.mqtt is not None:
            from bridges.mqtt.bridge import MqttBridge
            from bridges.mqtt.metrics import METRICS

            for name, (kind, help_text) in METRICS.items():
                self.metrics.describe(name, kind, help_text)

            self.bridge = MqttBridge(self.config.mqtt, self.hub, self.commands, self.config.gateway.data_dir)
        await self.server.start()
        if self.bridge is not None:
            self.bridge.dashboard_url = self.lan_url  # known once the port is bound (port 0 in tests)
            self._spawn(self.bridge.run(), "mqtt-bridge")
        if self.notifier is not None:
            self._spawn(self.notifier.watchdog_loop(), "watchdog")
            self.notifier.ready()
        self._status(f"serving {self.http_url} ({len(self.runners)} sensors)")
        self._freeze_startup_heap()
        return self

    def _freeze_startup_heap(self) -> None:
        """Move everything alive after start-up (modules, config, drivers, emulators) out of the garbage
        collector's reach: a full collection then walks only what was made since, not ~25 000 long-lived objects.
        That full walk took ~5 ms on a PC (tens of ms on a Pi), a pause every reading in flight waited for.
        Objects still die by reference counting; only cycles among the frozen ones wait for ``gc.unfreeze()``,
        which ``__aexit__`` calls."""
        gc.collect()
        gc.freeze()

    def _status(self, text: str) -> None:
        if self.notifier is not None:
            self.notifier.status(text)

    def _on_status(self, sensor_id: str, state: str, error: str | None) -> None:
        self.fanout.broadcast_control(
            encode_status(sensors={sensor_id: {"state": state, "error": error, "since": time.time_ns()}})
        )
        if state == "ok" and not error:
            return
        self._status(f"sensor {sensor_id}: {state}")

    def _gauges(self) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        out: list[tuple[str, tuple[tuple[str, str], ...], float]] = [
            ("sensorcast_loop_lag_seconds", (), self._lag_s),
            ("sensorcast_uptime_seconds", (), time.monotonic() - self.started_s),
            ("sensorcast_clock_synced", (), float(self._synced)),
            ("sensorcast_ring_readings", (), float(len(self.hub.ring))),
        ]
        if self.bridge is not None:
            out += [(name, (), float(v)) for name, v in self.bridge.metrics().items()]
        return out

    async def _monitor(self, period_s: float = 0.5) -> None:
        """Measure event-loop lag and refresh the clock-sync flag."""
        loop = asyncio.get_running_loop()
        last_clock = 0.0
        while True:
            t0 = loop.time()
            await asyncio.sleep(period_s)
            self._lag_s = max(0.0, loop.time() - t0 - period_s)
            if t0 - last_clock >= 5.0:
                last_clock = t0
                self._synced = bool(await loop.run_in_executor(None, clock_synced))
                self.hub.set_clock_synced(self._synced)

    def stop(self) -> None:
        """Ask the app to stop (signal handlers call this)."""
        self._stop.set()

    async def wait_closed(self) -> None:
        """Wait until :meth:`stop` is called or a task crashes."""
        await self._stop.wait()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        gc.unfreeze()
        if self.notifier is not None:
            self.notifier.stopping()
        self._closing = True
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.hub.flush()
        if self.history is not None:
            await self.history.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.commands.apply_safe(), 1.0)
        if self.server.server is not None:
            self.server.server.close()  # closes every client with 1001 (going away)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.server.server.wait_closed(), 1.5)
        await asyncio.gather(*(r.close() for r in self.runners), return_exceptions=True)
        for a in self.actuators.values():
            with contextlib.suppress(Exception):
                await self._worker(a.bus_id).call(a.close, timeout_s=0.5)
        for w in self.workers.values():
            w.shutdown()
        self.ctx.close()
