"""gateway.protocol is a pure core: no event loop, no network library, no sockets, no clock."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import gateway.protocol

PACKAGE_DIR = Path(gateway.protocol.__file__).parent
SUBMODULES = sorted(p.stem for p in PACKAGE_DIR.glob("*.py") if p.stem != "__init__")
FORBIDDEN_IMPORTS = {
    "asyncio",
    "websockets",
    "socket",
    "time",
    "datetime",
    "threading",
    "selectors",
    "select",
}

# Runs in a fresh interpreter: every clock function raises, then the whole package is imported and exercised.
_PROBE = """
import json, sys, time
def _no_clock(*args, **kwargs):
    raise AssertionError("gateway.protocol read the clock")
for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns",
             "process_time", "process_time_ns", "localtime", "gmtime", "sleep"):
    setattr(time, name, _no_clock)
import gateway.protocol
for sub in SUBMODULES:
    __import__("gateway.protocol." + sub)
from gateway.protocol.control import parse_control
from gateway.protocol.model import Reading
from gateway.protocol.ring import ReadingRing
from gateway.protocol.stream import Stream
from gateway.protocol.subscription import SubscriptionSet
from gateway.protocol.wire import decode_frame, encode_agg, encode_data, readings_of
msg = parse_control('{"t": "subscribe", "subscribe": [{"path": "a", "policy": "fixed", "period": 10},'
                    ' {"path": "b", "period": 10, "agg": ["min"]}, {"path": "c", "minPeriod": 10}]}')
stream = Stream(SubscriptionSet(msg.entries))
readings = [Reading(i, 0, i, s, {"x": i}) for i, s in enumerate("abcc", start=1)]
ring = ReadingRing(2)
ring.extend(readings)
out = stream.on_readings(readings, 0)
tick = stream.on_tick(10**9)
frames = [decode_frame(encode_data(out.readings + tick.readings)), decode_frame(encode_agg(10, tick.agg[10]))]
plan = ring.plan_resume("b1", "b1", 0, 4)
try:
    time.monotonic_ns()
    patched = False
except AssertionError:
    patched = True
print(json.dumps({"mods": [m for m in FORBIDDEN if m in sys.modules], "n": len(readings_of(frames)),
                  "gaps": len(plan.gaps), "agg": len(tick.agg[10]), "clock_patched": patched}))
"""


def test_importing_and_running_the_package_loads_no_io_modules_and_reads_no_clock() -> None:
    """Importing every submodule and running a full parse/stream/ring/wire cycle loads no I/O module."""
    code = f"SUBMODULES = {SUBMODULES!r}\nFORBIDDEN = {['asyncio', 'websockets', 'socket']!r}\n{_PROBE}"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    # a: fixed, sent on the tick; b: one agg entry; c: first sent at once, second held then sent on the tick.
    assert json.loads(proc.stdout) == {"mods": [], "n": 3, "gaps": 1, "agg": 1, "clock_patched": True}


def test_no_submodule_imports_io_threading_or_clock_modules() -> None:
    """No module of gateway/protocol imports asyncio, websockets, socket, time, datetime or threading."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module.split(".")[0])
        if names & FORBIDDEN_IMPORTS:
            found[path.name] = names & FORBIDDEN_IMPORTS
    assert {"aggregate", "control", "errors", "model", "ring", "stream", "subscription", "wire"} <= set(
        SUBMODULES
    )
    assert found == {}
