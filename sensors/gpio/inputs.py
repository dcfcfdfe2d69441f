"""Digital inputs (button, PIR motion sensor, line sensor, generic input) and a pulse counter.

Edges are pushed through ``emit`` the moment they happen, stamped with the edge's own wall-clock time; ``read()``
gives the current state for the periodic reading. Debounce and hold detection are
:class:`sensors.gpio.edges.EdgeFilter`; this module is the threaded shell around it (backend callbacks arrive on
gpiozero's or Jetson.GPIO's thread, timers on a ``threading.Timer``; ``emit`` is thread-safe by contract).
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable

from sensors.base import BuildContext, Emit, FieldSpec, Sensor, SensorInfo, Values
from sensors.errors import SensorError
from sensors.gpio.backend import GpioBackend, InputLine, Pull
from sensors.gpio.choose import choose_backend, pin_option, pull_option
from sensors.gpio.edges import Edge, EdgeFilter, PulseRate
from sensors.spec import DeviceSpec

KINDS: dict[str, tuple[Pull, bool, float, str | None, str]] = {
    # driver: (default pull, active when high?, default bounce_time_s, device class, description)
    "button": ("up", False, 0.02, None, "push button to GND, internal pull-up (active = pressed)"),
    "motion": ("down", True, 0.0, "motion", "PIR motion sensor, 3.3 V output (active = motion)"),
    "line": ("none", True, 0.0, None, "line/IR reflectance sensor, digital output (active = line)"),
    "digital_input": ("none", True, 0.0, None, "generic digital input"),
}


def wall_ns(mono_ns: int) -> int:
    """Convert a monotonic time to wall-clock ns (time.time_ns() of that instant)."""
    return time.time_ns() - (time.monotonic_ns() - mono_ns)


class _EdgeShell:
    """Runs an EdgeFilter from backend callbacks and a timer, under one lock.

    ``on_edge`` is called with the lock held, so it must not block (``emit`` only queues onto the event loop).
    """

    def __init__(self, on_edge: Callable[[Edge], None]) -> None:
        self._on_edge = on_edge
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self.filter: EdgeFilter | None = None

    def start(self, edge_filter: EdgeFilter) -> None:
        with self._lock:
            self.filter = edge_filter

    def raw(self, level_active: bool, mono_ns: int) -> None:
        with self._lock:
            if self.filter is None:
                return
            for e in self.filter.on_raw(level_active, mono_ns):
                self._on_edge(e)  # under the lock: edges from the pin thread and the timer keep their order
            self._arm()

    def _tick(self) -> None:
        with self._lock:
            if self.filter is None:
                return
            for e in self.filter.on_time(time.monotonic_ns()):
                self._on_edge(e)
            self._arm()

    def _arm(self) -> None:
        assert self.filter is not None
        deadline = self.filter.deadline_ns()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            delay_s = max(0.0, (deadline - time.monotonic_ns()) / 1e9) + 0.0005
            self._timer = threading.Timer(delay_s, self._tick)
            self._timer.daemon = True
            self._timer.start()

    def stop(self) -> None:
        with self._lock:
            self.filter = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


class DigitalInputSensor(Sensor):
    """A debounced digital input: fields ``active``, ``held``, ``activations``.

    Args:
        info: catalogue entry.
        backend: GPIO backend.
        pin: BCM pin.
        pull: internal pull resistor.
        active_high: True if a high level means active.
        bounce_time_s: debounce window (0: none).
        hold_time_s: active time for the ``held`` event (0: no hold detection).
    """

    bus_id = "gpio"

    def __init__(
        self,
        info: SensorInfo,
        backend: GpioBackend,
        pin: int,
        *,
        pull: Pull,
        active_high: bool,
        bounce_time_s: float = 0.0,
        hold_time_s: float = 0.0,
    ) -> None:
        super().__init__(info)
        self.backend = backend
        self.pin = pin
        self.pull: Pull = pull
        self.active_high = active_high
        self.bounce_ns = int(bounce_time_s * 1e9)
        self.hold_ns = int(hold_time_s * 1e9)
        self._emit: Emit | None = None
        self._line: InputLine | None = None
        self._shell = _EdgeShell(self._deliver)
        self._activations = 0

    def attach(self, emit: Emit) -> None:
        """Receive the thread-safe push callback for edges."""
        self._emit = emit

    def _values(self, active: bool, held: bool, activations: int) -> dict[str, bool | int]:
        return {"active": active, "held": held, "activations": activations}

    def _deliver(self, edge: Edge) -> None:
        if self._emit is not None:
            self._emit(self._values(edge.active, edge.held, edge.activations), wall_ns(edge.mono_ns))

    def _raw(self, level: bool, mono_ns: int) -> None:
        self._shell.raw(level == self.active_high, mono_ns)

    def open(self) -> None:
        """Claim the pin and start reporting edges.

        Raises:
            SensorError: the pin cannot be claimed.
        """
        self.close()
        line = self.backend.input(self.pin, self.pull, self._raw)
        edge_filter = EdgeFilter(line.level() == self.active_high, self.bounce_ns, self.hold_ns)
        edge_filter.activations = self._activations  # the count survives a re-open after a failure
        self._shell.start(edge_filter)
        self._line = line

    def read(self) -> Values:
        """The debounced state now.

        Raises:
            SensorError: the input is not open.
        """
        f = self._shell.filter
        if f is None or self._line is None:
            raise SensorError(errno.EBADF, f"GPIO{self.pin} is not open")
        return self._values(f.active, f.held, f.activations)

    def close(self) -> None:
        """Stop edge reporting and release the pin."""
        if self._shell.filter is not None:
            self._activations = self._shell.filter.activations
        self._shell.stop()
        line, self._line = self._line, None
        if line is not None:
            line.close()


class PulseCounter(Sensor):
    """Counts debounced activations: fields ``pulses``, ``rate_hz`` and optional scaled totals/rates.

    Args:
        info: catalogue entry.
        backend: GPIO backend.
        pin: BCM pin.
        pull: internal pull resistor.
        active_high: count rising (True) or falling (False) edges.
        window_s: the rate's averaging window.
        bounce_time_s: debounce window (reed switches bounce for ~1 ms).
        rate_field: optional ``(name, factor)``: ``name = rate_hz * factor`` (e.g. wind speed).
        total_field: optional ``(name, factor)``: ``name = pulses * factor`` (e.g. rain in mm).
    """

    bus_id = "gpio"

    def __init__(
        self,
        info: SensorInfo,
        backend: GpioBackend,
        pin: int,
        *,
        pull: Pull,
        active_high: bool,
        window_s: float,
        bounce_time_s: float = 0.0,
        rate_field: tuple[str, float] | None = None,
        total_field: tuple[str, float] | None = None,
    ) -> None:
        super().__init__(info)
        self.backend = backend
        self.pin = pin
        self.pull: Pull = pull
        self.active_high = active_high
        self.bounce_ns = int(bounce_time_s * 1e9)
        self.rate_field = rate_field
        self.total_field = total_field
        self.counter = PulseRate(int(window_s * 1e9))
        self._count_lock = threading.Lock()
        self._line: InputLine | None = None
        self._shell = _EdgeShell(self._count)

    def _count(self, edge: Edge) -> None:
        if edge.active and not edge.held:
            with self._count_lock:
                self.counter.pulse(edge.mono_ns)

    def _raw(self, level: bool, mono_ns: int) -> None:
        self._shell.raw(level == self.active_high, mono_ns)

    def open(self) -> None:
        """Claim the pin and start counting (the total survives re-opening)."""
        self.close()
        line = self.backend.input(self.pin, self.pull, self._raw)
        with self._count_lock:
            self.counter.start(time.monotonic_ns())
        self._shell.start(EdgeFilter(line.level() == self.active_high, self.bounce_ns, 0))
        self._line = line

    def read(self) -> Values:
        """Total pulses and the rate over the window."""
        if self._line is None:
            raise SensorError(errno.EBADF, f"GPIO{self.pin} is not open")
        with self._count_lock:
            total = self.counter.total
            rate = self.counter.rate_hz(time.monotonic_ns())
        out: dict[str, float | int] = {"pulses": total, "rate_hz": round(rate, 4)}
        if self.rate_field:
            out[self.rate_field[0]] = round(rate * self.rate_field[1], 4)
        if self.total_field:
            out[self.total_field[0]] = round(total * self.total_field[1], 6)
        return out

    def close(self) -> None:
        """Stop counting and release the pin."""
        self._shell.stop()
        line, self._line = self._line, None
        if line is not None:
            line.close()


def build_input(spec: DeviceSpec, ctx: BuildContext) -> DigitalInputSensor:
    """Build ``button``, ``motion``, ``line`` or ``digital_input`` from config.

    Options: ``pin`` (BCM, required), ``pull`` (up/down/none), ``active_high``, ``bounce_time_s``,
    ``hold_time_s`` (0: off), ``device_class`` (Home Assistant, e.g. ``door``), ``backend``; defaults per
    driver in :data:`KINDS`.
    """
    spec.check_unknown(
        ["pin", "pull", "active_high", "bounce_time_s", "hold_time_s", "device_class", "backend"]
    )
    pull0, high0, bounce0, cls0, desc = KINDS[spec.driver]
    pin = pin_option(spec)
    backend = choose_backend(spec, ctx)
    if spec.simulate:
        ctx.emulated().gpio(ctx).drive_input(pin, spec.driver, spec.id)
    device_class = spec.opt_str("device_class", cls0 or "") or None
    fields = (
        FieldSpec("active", "", "bool", device_class),
        FieldSpec("held", "", "bool"),
        FieldSpec("activations", "", "int", None, 0, series="counter"),
    )
    info = SensorInfo(
        spec.id, spec.driver, fields, spec.interval_s, simulated=spec.simulate, description=desc, model="GPIO"
    )
    return DigitalInputSensor(
        info,
        backend,
        pin,
        pull=pull_option(spec, pull0),
        active_high=spec.opt_bool("active_high", high0),
        bounce_time_s=spec.opt_float("bounce_time_s", bounce0, min=0.0, max=10.0),
        hold_time_s=spec.opt_float("hold_time_s", 0.0, min=0.0, max=3600.0),
    )


def build_counter(spec: DeviceSpec, ctx: BuildContext) -> PulseCounter:
    """Build a ``pulse_counter`` (anemometer, flow meter, rain gauge) from config.

    Options: ``pin``, ``pull`` (up), ``active_high`` (false: count falling edges of a switch to GND),
    ``window_s`` (10), ``bounce_time_s`` (0.001), ``rate_field``/``rate_factor``/``rate_unit``,
    ``total_field``/``total_factor``/``total_unit``, ``backend``.
    """
    extra = ["rate_field", "rate_factor", "rate_unit", "total_field", "total_factor", "total_unit"]
    spec.check_unknown(["pin", "pull", "active_high", "window_s", "bounce_time_s", "backend", *extra])
    pin = pin_option(spec)
    backend = choose_backend(spec, ctx)
    if spec.simulate:
        ctx.emulated().gpio(ctx).drive_input(pin, "pulse_counter", spec.id)
    fields = [
        FieldSpec("pulses", "", "int", None, 0, series="counter"),
        FieldSpec("rate_hz", "Hz", "float", "frequency", 0),
    ]
    scaled: dict[str, tuple[str, float] | None] = {}
    for which in ("rate", "total"):
        name = spec.opt_str(f"{which}_field", "")
        if name:
            factor = spec.opt_float(f"{which}_factor")
            scaled[which] = (name, factor)
            fields.append(FieldSpec(name, spec.opt_str(f"{which}_unit", ""), "float"))
        else:
            scaled[which] = None
    info = SensorInfo(
        spec.id,
        spec.driver,
        tuple(fields),
        spec.interval_s,
        simulated=spec.simulate,
        description="pulse counter (anemometer, flow meter, rain gauge)",
        model="GPIO",
    )
    return PulseCounter(
        info,
        backend,
        pin,
        pull=pull_option(spec, "up"),
        active_high=spec.opt_bool("active_high", False),
        window_s=spec.opt_float("window_s", 10.0, min=0.1, max=3600.0),
        bounce_time_s=spec.opt_float("bounce_time_s", 0.001, min=0.0, max=1.0),
        rate_field=scaled["rate"],
        total_field=scaled["total"],
    )
