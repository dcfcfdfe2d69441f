"""Config options shared by the serial drivers, and the switch between a real port and an emulated one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sensors.base import BuildContext
from sensors.spec import DeviceSpec

COMMON_OPTIONS = ("url", "baudrate", "timeout_s", "stale_after_s", "sim_noise")
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


@dataclass(frozen=True, slots=True)
class PortOptions:
    """Where and how to open the port.

    Attributes:
        url: ``/dev/ttyUSB0``, ``/dev/serial/by-id/...``, ``socket://host:port``, ``rfc2217://...``, ``loop://``;
            for an emulated device, the path of its pty.
        baudrate: line speed.
        timeout_s: longest one read waits for a complete reading.
        stale_after_s: silence after which the port is declared failed and re-opened (0: never).
        simulated: the port is an emulator's pty.
    """

    url: str
    baudrate: int
    timeout_s: float
    stale_after_s: float
    simulated: bool


def port_options(
    spec: DeviceSpec,
    ctx: BuildContext,
    *,
    baudrate: int,
    stale_after_s: float,
    emulator: tuple[str, float, dict[str, Any]] | None,
) -> PortOptions:
    """Read the common options; with ``spec.simulate`` start (once per sensor id) the device emulator.

    Args:
        spec: the config entry.
        ctx: build context (its shared resources hold the emulator across re-builds).
        baudrate: the device's default line speed.
        stale_after_s: the device's default silence limit.
        emulator: the emulated device's name, its tick period and its parameters, used when simulating.
    """
    baud = spec.opt_int("baudrate", baudrate, min=50, max=4_000_000)
    # A read must end well within the gateway's read timeout (2 s by default), retries included.
    timeout_s = spec.opt_float("timeout_s", 0.5, min=0.05, max=1.5)
    stale_s = spec.opt_float("stale_after_s", stale_after_s, min=0.0, max=86400.0)
    if stale_s and stale_s < timeout_s:
        message = f"expected 0 (off) or at least timeout_s ({timeout_s:g}), got {stale_s:g}"
        raise spec.error("stale_after_s", message)
    if spec.simulate and emulator is not None:
        noise_rate = spec.opt_float("sim_noise", 0.02, min=0.0, max=1.0)
        device, period_s, params = emulator
        path = ctx.emulated().serial_port(
            ctx, f"sim:serial:{spec.id}", device, period_s, noise_rate, len(spec.id), **params
        )
        return PortOptions(path, baud, timeout_s, stale_s, True)
    url = spec.opt_str("url")
    if not url:
        raise spec.error("url", "expected a port path or URL such as /dev/ttyUSB0 or /dev/serial/by-id/...")
    spec.opt_float("sim_noise", 0.0, min=0.0, max=1.0)
    return PortOptions(url, baud, timeout_s, stale_s, False)
