"""The history store's pure parts import no clock, thread, database or event loop."""

from __future__ import annotations

import ast
from pathlib import Path

import gateway.history

PURE = ("policy", "rollup", "codec", "errors", "frames")
FORBIDDEN = {"asyncio", "sqlite3", "threading", "time", "datetime", "socket", "websockets", "os", "pathlib"}


def test_pure_modules_import_nothing_impure() -> None:
    """policy, rollup and codec import none of the I/O modules (they are held to 100 % branch coverage)."""
    root = Path(gateway.history.__file__).parent
    found = {}
    for name in PURE:
        tree = ast.parse((root / f"{name}.py").read_text())
        mods = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods.add(node.module.split(".")[0])
        found[name] = sorted(mods & FORBIDDEN)
    assert found == {name: [] for name in PURE}
