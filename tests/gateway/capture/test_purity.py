"""The capture room's pure modules import no event loop, sockets, threads, buses or the replay's I/O (they are held
to 100 % branch coverage in scripts/test.sh)."""

from __future__ import annotations

import subprocess
import sys

import pytest

IMPURE = ("asyncio", "socket", "threading", "sqlite3", "serial", "smbus2", "gateway.capture.session")


@pytest.mark.parametrize("module", ["check", "codec", "holding"])
def test_the_module_is_pure(module: str) -> None:
    """Importing gateway.capture.<module> in a fresh interpreter loads none of IMPURE."""
    code = f"import sys, gateway.capture.{module}; print(sorted(m for m in {IMPURE!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
