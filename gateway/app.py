"""The gateway's lifecycle: wires sensor -> poller -> hub -> fan-out -> socket (and hub -> bridge, hub -> history)
from config, starts the tasks, and stops them in an order that loses nothing.

Why no ``asyncio.TaskGroup`` (STYLE.md habit 4) and no ``AsyncExitStack``: the app is an async context manager
whose tasks outlive ``__aenter__``, and its stop is an ordered sequence (sensors -> rules -> safe values -> last
flush -> history commit, bridge commit and bounded delivery -> other tasks -> clients 1001). A TaskGroup cancels
every task at once when one fails and at its exit, which would cut the bridge's last commit short; an exit stack
unwinds in one reverse order, with no room for "cancel these, flush, then cancel those". ``_spawn``/``_task_done``
keep the one thing a TaskGroup would give (a crash stops the app, through the same ordered stop) and add what it
cannot (a sensor task that ends is shown as stopped and the rest keeps serving).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import socket
import time
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from gateway import __version__
from gateway.buses import BusWorker
from gateway.catalogue import Catalogue
from gateway.clock import clock_synced
from gateway.commands import CommandRouter
from gateway.config import Config
from gateway.devices import build_context, build_devices
from gateway.history.service import HistoryService
from gateway.lifecycle import Stoppable, build_hub
from gateway.metrics import Metrics
from gateway.poller import PollLog, PollVerdicts, SensorRunner
from gateway.protocol.wire import encode_event, encode_status
from gateway.rules_runtime import RuleRunner
from gateway.server.connections import GatewayServer
from gateway.server.fanout import FanOut
from sensors.base import Actuator, BuildContext
from sensors.health import HealthPolicy

if TYPE_CHECKING:
    from gateway.reload_plan import ReloadPlan

log = logging.getLogger(__name__)

LOOP_LAG_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Upper bounds of the loop-lag histogram: from "fine" (1 ms) to "the watchdog is near" (seconds)."""


class ServiceManager(Protocol):
    """What the app tells its service manager (:class:`gateway.sdnotify.Notifier` under systemd)."""

    def ready(self) -> bool: ...

    def status(self, text: str) -> bool: ...

    def stopping(self) -> bool: ...

    async def watchdog_loop(self) -> None: ...


class Bridge(Protocol):
    """What the app needs of a bridge (:class:`bridges.mqtt.bridge.MqttBridge`)."""

    dashboard_url: str | None

    async def run(self) -> None: ...

    async def stop(self) -> None: ...

    def metrics(self) -> dict[str, float]: ...

    def drops(self) -> dict[str, float]: ...

    def republish(self) -> None: ...


class GatewayApp(Stoppable):
    """The running gateway. ``async with GatewayApp(cfg) as app: await app.wait_closed()``.

    Attributes:
        hub: the reading source (also the bridge's :class:`gateway.protocol.seam.ReadingSource`).
        commands: the command path (:class:`gateway.protocol.seam.CommandHandler`).
    """

    def __init__(
        self,
        config: Config,
        *,
        ctx: BuildContext | None = None,
        notifier: ServiceManager | None = None,
        health_policy: HealthPolicy | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.health_policy = health_policy or HealthPolicy()
        self.ctx = ctx or build_context(data_dir=str(config.gateway.data_dir))
        self.notifier = notifier
        self.metrics = Metrics()
        self._describe_metrics()
        self.boot_id = secrets.token_hex(8)
        self._synced = bool(clock_synced())
        gw = config.gateway
        self.catalogue = Catalogue(self.metrics)
        self.hub = build_hub(gw, self.boot_id, self.metrics, self.catalogue, clock_synced=self._synced)
        self.fanout = FanOut(self.metrics)
        self.workers: dict[str, BusWorker] = {}
        self.runners: list[SensorRunner] = []
        self.actuators: dict[str, Actuator] = {}
        """The outputs that opened: what commands and the safe values reach."""
        self._built_actuators: list[Actuator] = []
        self.commands = CommandRouter(
            self.actuators,
            self.workers,
            self.hub,
            catalogue=self.catalogue,
            metrics=self.metrics,
            timeout_s=gw.read_timeout_s,
        )
        self.server = GatewayServer(
            config,
            self.hub,
            self.fanout,
            self.commands,
            self.metrics,
            self.health,
            on_last_operator=lambda: self.commands.apply_safe(only_on_disconnect=True),
            catalogue=self.catalogue,
        )
        self.rules = RuleRunner(config.rules, self.hub, self.commands, self.metrics)
        self.server.rules = self.rules
        hist = config.history
        self.history = HistoryService(hist, gw.data_dir, self.metrics) if hist.enabled else None
        self.server.history = self.history
        self.bridge: Bridge | None = None
        self.started_s = time.monotonic()
        self._tasks: list[asyncio.Task[Any]] = []
        self._sensor_tasks: list[asyncio.Task[Any]] = []
        self._task_sensors: dict[asyncio.Task[Any], str] = {}
        self._retired: set[asyncio.Task[Any]] = set()
        """Sensor tasks a reload cancels: their end is no error."""
        self._closing = False
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
        states = self.catalogue.states()
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
            self._sensor_tasks.append(task)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task in self._retired:  # a reload stopped this sensor on purpose
            self._retired.discard(task)
            return
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
            self.catalogue.set_state(sensor_id, "stopped", "polling stopped unexpectedly")

    async def __aenter__(self) -> GatewayApp:
        """Start everything; if any step fails (a port already taken, a driver that cannot open), stop what
        already started through the same ordered stop as :meth:`__aexit__`, quietly, and raise the cause: the
        tasks already spawned are not reported as "cancelled unexpectedly", so the one line the CLI prints
        about the cause is all a user reads."""
        try:
            return await self._start()
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise

    async def _start(self) -> GatewayApp:
        sensors, actuators = build_devices(self.config, self.ctx)
        self._status("starting sensors")
        loop = asyncio.get_running_loop()
        for s in sensors:
            self._start_sensor(s, loop)
        for a in actuators:
            self._built_actuators.append(a)  # closed at the stop, even if its open is cut short
            self.catalogue.register_actuator(a.info)
            await self._worker(a.bus_id).call(a.open, timeout_s=self.config.gateway.read_timeout_s)
            # Commanded (and driven to its safe value at the stop) once it is open: a start that fails or is
            # interrupted before leaves the pin alone - it may belong to someone else.
            self.actuators[a.info.id] = a
        self.hub.add_encoded_sink(self.fanout.on_batch)
        if self.history is not None:
            self.history.start(self.hub, self.catalogue)
        self.catalogue.add_status_sink(self._on_status)
        self.hub.add_event_sink(lambda event: self.fanout.broadcast_control(encode_event(event)))
        self.metrics.add_callback(self._gauges)
        await self.commands.apply_safe()
        for r in self.runners:
            self._spawn(r.run(), f"sensor-{r.id}", sensor_id=r.id)
        self._spawn(self.fanout.run_ticks(), "fanout-ticks")
        self._spawn(self._monitor(), "monitor")
        if self.config.rules:
            self._spawn(self.rules.run(), "rules")
        if self.config.mqtt is not None:
            from bridges.mqtt.bridge import MqttBridge
            from bridges.mqtt.metrics import METRICS

            for name, (kind, help_text, labels) in METRICS.items():
                self.metrics.describe(name, kind, help_text, labels)

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

    def _start_sensor(self, sensor: Any, loop: asyncio.AbstractEventLoop) -> SensorRunner:
        self.catalogue.register_sensor(sensor.info)
        tap = self.ctx.tap
        runner = SensorRunner(
            sensor,
            self._worker(sensor.bus_id),
            self.hub,
            self.health_policy,
            self.config.gateway.read_timeout_s,
            catalogue=self.catalogue,
            metrics=self.metrics,
            poll_log=tap if isinstance(tap, PollLog) else None,  # a recording keeps the poller's verdicts
            verdicts=tap if isinstance(tap, PollVerdicts) else None,  # a replay follows them
        )
        runner.attach(loop)
        self.runners.append(runner)
        return runner

    async def _stop_sensor(self, sensor_id: str) -> None:
        """Stop one sensor's polling and close its driver (a reload removed or changed it)."""
        for task, sid in list(self._task_sensors.items()):
            if sid == sensor_id:
                self._task_sensors.pop(task)
                self._sensor_tasks.remove(task)
                self._tasks.remove(task)
                self._retired.add(task)  # so _task_done does not report it as an unexpected stop
                await self._cancel([task])
        for runner in [r for r in self.runners if r.id == sensor_id]:
            self.runners.remove(runner)
            await runner.close()
        self.catalogue.unregister_sensor(sensor_id)

    async def reload(self, new: Config) -> ReloadPlan:
        """Apply what can change without a restart (see gateway/reload_plan.py): rotate tokens, stop removed
        sensors, rebuild changed ones and start added ones; every other sensor and every client keeps going.

        Raises:
            ConfigErrors: a new or changed sensor's driver refused its options. Nothing was applied then: the
                new drivers are built before anything running is touched.
        """
        from gateway.reload_plan import plan_reload  # a SIGHUP's: not resident in a gateway never reloaded

        plan = plan_reload(self.config, new)
        fresh = replace(new, sensors=plan.added + plan.changed, actuators=())
        sensors, _ = build_devices(fresh, self.ctx)  # raises before anything changes
        loop = asyncio.get_running_loop()
        for sensor_id in (*plan.removed, *(s.id for s in plan.changed)):
            await self._stop_sensor(sensor_id)
        for sensor in sensors:
            runner = self._start_sensor(sensor, loop)
            self._spawn(runner.run(), f"sensor-{runner.id}", sensor_id=runner.id)
        if plan.tokens_changed:  # open sessions too: a removed token's sessions close, a changed role applies
            closed, changed = self.server.apply_tokens(
                {t.token.encode(): t.role for t in new.security.tokens}
            )
            if closed or changed:
                log.warning(
                    "reload: closed %d session(s) whose token was revoked; %d changed role", closed, changed
                )
        if self.bridge is not None and (plan.added or plan.removed or plan.changed):
            self.bridge.republish()  # discovery and meta of the new catalogue; removed sensors' entities cleared
        kept = tuple(spec for spec in self.config.sensors if spec.id in plan.kept)
        self.config = replace(
            self.config,
            sensors=new.sensors + kept,  # a kept sensor is still running: a later reload compares against it
            security=replace(
                self.config.security, tokens=new.security.tokens, token_file=new.security.token_file
            ),
            origins=new.origins,
        )
        return plan

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

    def _describe_metrics(self) -> None:
        """Declare the app's own metrics, the standard ``process_*`` ones and the build info."""
        m = self.metrics
        m.add_process_metrics()
        m.describe("sensorcast_build_info", "gauge", "Always 1; the running version as a label", ("version",))
        m.set("sensorcast_build_info", 1, version=__version__)
        for name, text in (
            ("sensorcast_loop_lag_seconds", "Event-loop lag at the last check (every 0.5 s)"),
            ("sensorcast_uptime_seconds", "Seconds since the gateway started"),
            ("sensorcast_clock_synced", "1 while the system clock is synchronised (NTP)"),
            ("sensorcast_ring_readings", "Readings held in the resume ring"),
        ):
            m.describe(name, "gauge", text)
        m.describe(
            "sensorcast_bus_threads_abandoned_total",
            "counter",
            "Bus worker threads given up on after a driver call hung",
            ("bus",),
        )
        self._lag_hist = m.histogram(
            "sensorcast_loop_lag_hist_seconds",
            "Event-loop lag, every check (every 0.5 s)",
            LOOP_LAG_BUCKETS_S,
        )

    def _gauges(self) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        out: list[tuple[str, tuple[tuple[str, str], ...], float]] = [
            ("sensorcast_loop_lag_seconds", (), self._lag_s),
            ("sensorcast_uptime_seconds", (), time.monotonic() - self.started_s),
            ("sensorcast_clock_synced", (), float(self._synced)),
            ("sensorcast_ring_readings", (), float(len(self.hub.ring))),
        ]
        if self.bridge is not None:
            out += [(name, (), float(v)) for name, v in self.bridge.metrics().items()]
            out += [
                ("sensorcast_mqtt_dropped_total", (("reason", reason),), float(n))
                for reason, n in self.bridge.drops().items()
            ]
        return out

    async def _monitor(self, period_s: float = 0.5) -> None:
        """Measure event-loop lag and refresh the clock-sync flag."""
        loop = asyncio.get_running_loop()
        last_clock = 0.0
        while True:
            t0 = loop.time()
            await asyncio.sleep(period_s)
            self._lag_s = max(0.0, loop.time() - t0 - period_s)
            self._lag_hist.observe(self._lag_s)
            if t0 - last_clock >= 5.0:
                last_clock = t0
                self._synced = bool(await loop.run_in_executor(None, clock_synced))
                self.hub.set_clock_synced(self._synced)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop in an order that loses nothing (issue 20): sensors stop -> outputs to their safe values -> the
        hub's last flush (to WebSocket clients, the history store and the bridge alike) -> the history store
        commits it -> the bridge commits all of it to its outbox and delivers what it can in a bounded time ->
        the other tasks stop -> clients are closed (1001)."""
        gc.unfreeze()
        if self.notifier is not None:
            self.notifier.stopping()
        self._closing = True
        await self._cancel(self._sensor_tasks)
        await asyncio.gather(*(r.close() for r in self.runners), return_exceptions=True)
        await asyncio.sleep(0)  # readings a driver thread pushed (call_soon_threadsafe) before it closed
        await self.rules.close()  # no rule action may land after the safe values
        self.commands.stopping = True  # a command now would undo the safe values
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.commands.apply_safe(), 1.0)
        self.hub.flush()
        if self.history is not None:
            try:
                await self.history.close()  # commits the last flush, like the bridge below
            except Exception:  # a bug here must not keep the gateway from stopping
                log.exception("history: clean stop failed")
        if self.bridge is not None:
            try:
                await self.bridge.stop()
            except Exception:  # a bug here must not keep the gateway from stopping; run()'s end still commits
                log.exception("MQTT bridge: clean stop failed")
        await self._cancel(self._tasks)
        await self.server.close()  # closes every client with 1001 (going away)
        for a in self._built_actuators:
            with contextlib.suppress(Exception):
                await self._worker(a.bus_id).call(a.close, timeout_s=0.5)
        for w in self.workers.values():
            w.shutdown()
        self.ctx.close()
