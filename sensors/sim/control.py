"""A test-only hook: inject faults into a running gateway's emulators from another process.

The emulators' own fault methods (``FakeSMBus.inject``/``stick``, ``FakeSysfs.set_ds18b20``) are reachable only
from inside the process that built them. An end-to-end test of ``sensorcast record`` runs the gateway as a child
process, so when :data:`CONTROL_ENV` names a file, the emulated build context starts a thread that follows the
file (like ``tail -f``) and applies each line written to it to the emulators of that context. Without the
variable nothing starts. Lines (unknown ones are logged and skipped)::

    nack BUS ADDRESS COUNT       the next COUNT transfers to ADDRESS on emulated I2C bus BUS NACK (errno 121)
    stick BUS | release BUS      hold SDA low on bus BUS (every transfer waits) / let it go
    crc ROM SECONDS              the DS18B20 ROM's w1_slave fails its CRC for SECONDS
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

log = logging.getLogger("sensorcast.sim")

CONTROL_ENV = "SENSORCAST_SIM_CONTROL"
"""Environment variable naming the command file (tests only)."""

POLL_S = 0.02
"""How often the command file is checked for new lines: a fault lands within this of being written."""

CRC_REWRITE_S = 0.05
"""How often a CRC fault rewrites the probe's file (the tree's updater rewrites it good every second)."""

MAX_LINE_BYTES = 256
"""Longest command line read; the rest of a longer line is dropped."""


class FaultControl:
    """Follows ``path`` and applies its commands to the emulators of ``ctx`` (a :class:`~sensors.base.BuildContext`)."""

    def __init__(self, ctx: Any, path: str) -> None:
        self._ctx = ctx
        self._path = path
        self._stop = threading.Event()
        self.applied: list[str] = []
        self._thread = threading.Thread(target=self._run, name="sim-control", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        offset = 0
        while not self._stop.wait(POLL_S):
            try:
                with open(self._path, "rb") as f:
                    f.seek(offset)
                    data = f.read()
            except OSError:
                continue
            complete = data.rfind(b"\n") + 1
            offset += complete
            for raw in data[:complete].splitlines():
                line = raw[:MAX_LINE_BYTES].decode("ascii", "replace").strip()
                if line:
                    self.apply(line)

    def apply(self, line: str) -> None:
        """Apply one command line."""
        words = line.split()
        try:
            if words[0] == "nack":
                self._ctx.resources[f"sim-i2c-{int(words[1])}"].inject(
                    "nack", int(words[2], 0), count=int(words[3])
                )
            elif words[0] in ("stick", "release"):
                getattr(self._ctx.resources[f"sim-i2c-{int(words[1])}"], words[0])()
            elif words[0] == "crc":
                rom, seconds = words[1], float(words[2])
                threading.Thread(target=self._bad_crc, args=(rom, seconds), daemon=True).start()
            else:
                raise ValueError("unknown command")
        except (IndexError, KeyError, ValueError) as exc:
            log.warning("sim control: cannot apply %r: %s", line, exc)
            return
        self.applied.append(line)

    def _bad_crc(self, rom: str, seconds: float) -> None:
        tree = self._ctx.resources["sim:sysfs"]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._stop.is_set():
            tree.set_ds18b20(rom, 19.0, crc_ok=False)
            self._stop.wait(CRC_REWRITE_S)

    def close(self) -> None:
        """Stop following the file."""
        self._stop.set()


def start_control(ctx: Any) -> None:
    """Start (once per context) the :class:`FaultControl` of ``ctx`` if :data:`CONTROL_ENV` is set."""
    path = os.environ.get(CONTROL_ENV)
    if path:
        ctx.shared("sim:control", lambda: FaultControl(ctx, path))
