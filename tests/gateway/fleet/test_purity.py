"""The fleet's decisions are pure: ledger, messages, registry, boot hold import no event loop, socket or clock."""

from __future__ import annotations

import json
import subprocess
import sys

PURE = (
    "gateway.fleet.ledger",
    "gateway.fleet.messages",
    "gateway.fleet.registry",
    "gateway.fleet.origin",
    "gateway.fleet.config",
    "gateway.fleet.ledger_file",
    "gateway.fleet.hold",
)
_PROBE = """
import json, sys, time
def _no_clock(*a, **k):
    raise AssertionError("read the clock")
for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "sleep"):
    setattr(time, name, _no_clock)
for m in MODULES:
    __import__(m)
from gateway.fleet.ledger import GatewayLedger
from gateway.fleet.registry import Registry
led = GatewayLedger(); led.offer("b", "s", 2, 1); led.offer("b", "s", 5, 4)
reg = Registry(); gw = reg.get("g"); gw.reading(1.0, 1); gw.reading(9.0, 1); reg.listing()
from gateway.fleet.hold import BootHold
h = BootHold(2, 5.0); h.hold("g", 1, 0.0); h.hold("g", 2, 1.0); h.hold("h", 3, 2.0); h.expire(6.0); h.release("h")
print(json.dumps(sorted(m for m in ("asyncio", "socket", "websockets", "paho", "threading") if m in sys.modules)))
"""


def test_pure_fleet_modules_load_no_io_and_read_no_clock() -> None:
    """Imported and exercised in a fresh interpreter with every clock function raising: no asyncio, socket,
    websockets, paho or threading module gets loaded."""
    code = f"MODULES = {PURE!r}\n{_PROBE}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == []
