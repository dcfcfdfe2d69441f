"""What ``record`` and ``replay`` share: the capture header (config without secrets), the config a replay
rebuilds, the build contexts, and the driving loop of ``replay --dump`` (each sensor read until its capture ends).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from gateway.capture.replayer import ReplayEnd, ReplayMismatch, ReplayTap
from gateway.config import Config, parse_config
from gateway.pollstep import PollCycle, poll_step, run_inline
from sensors import registry
from sensors.base import BuildContext, Sensor, Value, Values
from sensors.buses import BusTap
from sensors.health import HealthPolicy, read_with_retry
from sensors.spec import DeviceSpec, did_you_mean

T = TypeVar("T")

SECRET_KEY = re.compile(r"(token|password|passwd|secret|credential|private|api_?key)", re.IGNORECASE)
"""Option names whose values never go into a capture (replaced by ``"(removed)"``)."""

_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]*@", re.IGNORECASE)


def scrub(value: Any, depth: int = 0) -> Any:
    """``value`` with secrets removed: keys that name one, ``user:pass@`` in URLs; TOML dates as text."""
    if depth > 16:
        return "(removed: too deep)"
    if isinstance(value, Mapping):
        return {
            str(k): "(removed)" if SECRET_KEY.search(str(k)) else scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, depth + 1) for v in value]
    if isinstance(value, str):
        return _URL_USERINFO.sub(r"\g<scheme>(removed)@", value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


def device_table(spec: DeviceSpec) -> dict[str, Any]:
    """The config table of a sensor, as it was written (generic keys and the driver's options)."""
    table: dict[str, Any] = {"id": spec.id, "driver": spec.driver, "interval_s": spec.interval_s}
    if spec.simulate:
        table["simulate"] = True
    table.update(spec.options)
    return table


def capture_header(cfg: Config, version: str, board: str, sensors: list[DeviceSpec]) -> dict[str, Any]:
    """The header of a capture of ``sensors`` under ``cfg``: only the gateway id and the sensor tables of the
    config go in (no security, MQTT, history or rules sections), with secrets scrubbed from them too."""
    return {
        "sensorcast": version,
        "board": board,
        "config": {
            "source": "(demo)" if cfg.source in (None, "(demo)") else str(cfg.source),
            "gateway": {"id": cfg.gateway.id},
            "sensors": [scrub(device_table(s)) for s in sensors],
        },
    }


NOT_RECORDED = ("sensors.gpio.analog:",)
"""Drivers that time pins through gpiozero alone (HC-SR04 echo timing, MCP3xxx bit-banged SPI): below the GPIO
backend, so not in captures."""


def is_gpio(spec: DeviceSpec) -> bool:
    """True for a driver whose pins captures cannot hold (see :data:`NOT_RECORDED`)."""
    return registry.sensor_drivers().get(spec.driver, "").startswith(NOT_RECORDED)


def is_push(spec: DeviceSpec) -> bool:
    """True for a GPIO input driver: its readings follow replayed edges in time, not a bus exchange."""
    return registry.sensor_drivers().get(spec.driver, "").startswith("sensors.gpio.")


def select(cfg: Config, names: list[str] | None) -> tuple[list[DeviceSpec], list[str]]:
    """The sensors of ``cfg`` a capture covers (``names``: only those), and notes on the ones left out.

    Raises:
        ValueError: a name in ``names`` is not a sensor of the config.
    """
    ids = {s.id for s in cfg.sensors}
    unknown = [n for n in names or [] if n not in ids]
    if unknown:
        hint = did_you_mean(unknown[0], ids) if len(unknown) == 1 else ""
        raise ValueError(
            f"--sensors: no sensor {', '.join(unknown)} in the config{hint} (known: {', '.join(sorted(ids))})"
        )
    chosen = [s for s in cfg.sensors if names is None or s.id in names]
    notes = [
        f"{s.id} ({s.driver}) is not recorded: it times its pins through gpiozero, below the GPIO backend "
        "captures hold; it runs live as usual, but the capture has none of its readings and a replay leaves "
        "it out (docs/record-replay.md)"
        for s in chosen
        if is_gpio(s)
    ]
    return [s for s in chosen if not is_gpio(s)], notes


def recording_config(cfg: Config, sensors: list[DeviceSpec]) -> Config:
    """``cfg`` with only ``sensors`` (and no outputs or rules: a capture is about what sensors read)."""
    return replace(cfg, sensors=tuple(sensors), actuators=(), rules=())


def replay_config(header: Mapping[str, Any], **gateway: Any) -> Config:
    """The config a replay builds from a capture's header (``gateway``: listen overrides such as ``port``).

    Raises:
        ConfigErrors: the header's config does not validate.
        ValueError: the header has no config.
    """
    config = header.get("config")
    if not isinstance(config, Mapping) or not isinstance(config.get("sensors"), list):
        raise ValueError("the capture header holds no config")
    gid = (
        config.get("gateway", {}).get("id", "replay")
        if isinstance(config.get("gateway"), Mapping)
        else "replay"
    )
    # No history: a served replay's readings are stamped now, and would go into the history database of the
    # gateway (or demo) that runs on this machine as if its sensors had read them.
    data = {
        "gateway": {"id": str(gid), **gateway},
        "history": {"enabled": False},
        "sensors": list(config["sensors"]),
    }
    return parse_config(data, file="(capture)")


def replay_context(tap: BusTap, emulators: Any) -> BuildContext:
    """A build context whose every bus is ``tap``'s (``emulators`` still give simulated devices their shape:
    an emulated tree's directories; no emulated device is started for serial ports)."""
    return BuildContext(emulators=ReplayEmulators(emulators), tap=tap)


class ReplayEmulators:
    """The emulators, minus what would produce data of its own: a serial device is not started (its port
    is the capture's), so replay does not spend a pty and a thread per serial device."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def serial_port(self, ctx: BuildContext, key: str, *args: Any, **kwargs: Any) -> str:
        """No device: the replayed port needs only a name."""
        return f"replay:{key}"

    def gpio(self, ctx: BuildContext) -> Any:
        """No emulated board: the pins' edges come from the capture."""
        return _NoBoard()


class _NoBoard:
    """The emulated GPIO board's interface, driving nothing (a replay's pins are the capture's)."""

    factory = None

    def drive_input(self, *args: Any) -> None:
        """Nothing to drive."""

    def adc(self, *args: Any) -> None:
        """Nothing to attach."""


@dataclass
class Outcome:
    """One read of one sensor: its values, or the error it raised."""

    sensor: str
    index: int
    t_s: float
    values: dict[str, Value] | None = None
    error: str | None = None
    errno: int | None = None
    health: str | None = None
    """The sensor's new health state after this poll, when it changed (``ok``, ``failing``, ...)."""

    def as_json(self) -> dict[str, Any]:
        """The ``--dump`` line."""
        out: dict[str, Any] = {"sensor": self.sensor, "n": self.index, "t_s": round(self.t_s, 6)}
        if self.error is None:
            out["values"] = self.values
        else:
            out["error"], out["errno"] = self.error, self.errno
        if self.health is not None:
            out["health"] = self.health
        return out


@dataclass
class Driven:
    """What :func:`drive` saw: outcomes per sensor (none when its ``keep`` took them), the first mismatch."""

    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    mismatch: str | None = None


MAX_OPEN_FAILURES_IN_A_ROW = 10_000
"""A sensor whose polls keep failing is driven this many times in a row before drive() gives up on it."""


def drive(
    sensors: list[Sensor],
    stop: threading.Event,
    *,
    pause: Callable[[Sensor], None] = lambda _s: None,
    now_s: Callable[[], float] = lambda: 0.0,
    hit_end: Callable[[], bool] = lambda: False,
    policy: HealthPolicy | None = None,
    abandoned: Callable[[str, int], tuple[str, bool] | None] = lambda _s, _n: None,
    keep: Callable[[Outcome], None] | None = None,
) -> Driven:
    """Poll every sensor the way the poller does, each on its own thread, until ``stop`` is set or its replayed
    capture ends (``hit_end``: the calling thread's last call ran past a stream's end); ``pause`` waits between
    two polls.

    One poll is the poller's own step (:func:`gateway.pollstep.poll_step`, run here without an event loop):
    (re)open when not open or while the health state asks for a re-initialisation (closing first), then
    ``read_with_retry`` with ``policy.retries``; its outcome moves the same :class:`~sensors.health.SensorHealth`
    state machine, whose changes are kept with the outcome. So the bus transactions of a replayed poll are the
    ones the gateway made while recording.

    ``abandoned(sensor, poll)`` gives the recording poller's verdict on poll number ``poll`` (from 0): when it
    abandoned that poll's ``close``, ``open`` or ``read`` call past its read timeout, the call is replayed (if it
    had started: the abandoned thread still made its bus exchange, which the capture holds) and its result
    dropped, and the poll fails with a timeout as it did live.

    ``keep``, when given, takes each outcome as it comes (on the sensor's thread, in read order per sensor)
    instead of :attr:`Driven.outcomes` keeping them all: ``replay --dump`` writes them out so its memory does
    not grow with the capture.
    """
    driven = Driven()
    lock = threading.Lock()
    policy = policy or HealthPolicy()

    def run(sensor: Sensor) -> None:
        out: list[Outcome] = []
        count = [0]  # outcomes so far: each one's index
        cycle = PollCycle(policy)

        def add(**kw: Any) -> None:
            outcome = Outcome(sensor.info.id, count[0], now_s(), **kw)
            count[0] += 1
            if keep is None:
                out.append(outcome)
            else:
                keep(outcome)

        def emit(values: Mapping[str, Value], ts_ns: int | None = None) -> None:
            if values:  # as the poller: a burst's older samples come before the poll's newest one
                add(values=dict(values))

        sensor.attach(emit)
        try:
            while not stop.is_set() and cycle.health.consecutive_failures < MAX_OPEN_FAILURES_IN_A_ROW:
                verdict = abandoned(sensor.info.id, cycle.next_poll())
                try:
                    values = dict(run_inline(poll_step(cycle, sensor, verdict, _DIRECT)))
                    if hit_end():
                        break
                    change = cycle.health.on_success(now_s())
                    add(values=values, health=change)
                except Exception as exc:  # what the poller handles: a failed poll
                    replay = _replay_cause(exc)
                    if replay is not None:  # drivers wrap bus errors: the capture's end is under theirs
                        raise replay from exc
                    if hit_end():
                        break
                    code = getattr(exc, "errno", None)
                    change = cycle.health.on_failure(now_s(), type(exc).__name__)
                    add(error=type(exc).__name__, errno=code, health=change)
                pause(sensor)
        except ReplayEnd:
            pass
        except ReplayMismatch as exc:
            with lock:
                driven.mismatch = driven.mismatch or str(exc)
            stop.set()
        finally:
            sensor.close()
            with lock:
                driven.outcomes[sensor.info.id] = out

    threads = [
        threading.Thread(target=run, args=(s,), name=f"drive-{s.info.id}", daemon=True) for s in sensors
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return driven


def record_polled(path: str, cfg: Config, calls: int, board: str, pause_s: float = 0.002) -> None:
    """Record ``cfg``'s polled sensors (push sources and GPIO inputs aside) polled one after another,
    ``pause_s`` apart, until the capture at ``path`` holds ``calls`` transactions: how tests and
    benchmarks/record.py make demo-sized captures without waiting for the sensors' own rates."""
    from gateway import __version__
    from gateway.capture.recorder import CaptureWriter, RecordingTap
    from gateway.devices import build_context, build_devices

    specs = [s for s in select(cfg, None)[0] if not is_push(s)]
    writer = CaptureWriter(path, capture_header(cfg, __version__, board, specs))
    ctx = build_context(tap=RecordingTap(writer))
    sensors, _ = build_devices(recording_config(cfg, specs), ctx)
    stop = threading.Event()

    def watch() -> None:
        while writer.records < calls and not stop.wait(0.05):
            pass
        stop.set()

    def pause(_sensor: Sensor) -> None:
        stop.wait(pause_s)

    watcher = threading.Thread(target=watch, name="record-polled")
    watcher.start()
    try:
        drive(sensors, stop, pause=pause)
    finally:
        stop.set()
        watcher.join()
        ctx.close()
        writer.close()


class _Direct:
    """The replay driver's poll port (:class:`gateway.pollstep.PollPort`): every call at once on the sensor's
    own thread; the end of the capture or a mismatch ends the poll even from a replayed abandoned call."""

    inline = True

    async def call_bus(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    async def read_bus(self, sensor: Sensor, retries: int) -> tuple[Values, int | None]:
        return read_with_retry(sensor, retries), None

    def on_opened(self) -> None:
        """Nothing to tell."""

    def replay_cause(self, exc: BaseException) -> BaseException | None:
        return _replay_cause(exc)


_DIRECT = _Direct()


def _replay_cause(exc: BaseException) -> BaseException | None:
    """The :class:`ReplayEnd` or :class:`ReplayMismatch` ``exc`` is or wraps (a few causes deep), or None."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ReplayEnd | ReplayMismatch):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def replay_error(tap: ReplayTap) -> str | None:
    """The first mismatch the replay met, if any."""
    return tap.first_mismatch
