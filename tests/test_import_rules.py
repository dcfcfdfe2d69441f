"""The house rules on who may import whom, read from the source's own import statements (an AST walk).

Every import counts, at module level or inside a function: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gateway", "sensors", "bridges")


def module_name(path: Path) -> str:
    """``gateway/server/http.py`` -> ``gateway.server.http``; a package's ``__init__.py`` -> the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "static" not in path.relative_to(ROOT).parts:
                found[module_name(path)] = path
    return found


def resolve(name: str) -> str | None:
    """The most specific module of this tree that ``import name`` loads, or None (not ours)."""
    while name:
        if name in modules():
            return name
        name = name.rpartition(".")[0]
    return None


@cache
def imports_of(module: str) -> frozenset[str]:
    """The modules of this tree that ``module`` imports (``from a import b`` counts ``a.b`` when it is one)."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for name in names:
            target = resolve(name)
            if target is not None and target != module:
                found.add(target)
    return frozenset(found)


def offenders(sources: str, rule: object) -> list[str]:
    """``module -> import`` for every import of a module under ``sources`` that ``rule(module, target)`` refuses."""
    assert callable(rule)
    return [
        f"{m} -> {t}"
        for m in modules()
        if m == sources or m.startswith(sources + ".")
        for t in sorted(imports_of(m))
        if not rule(m, t)
    ]


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_walk_sees_the_tree() -> None:
    """The walk finds the packages and their imports (a walk that saw nothing would pass every rule below)."""
    assert {"gateway.app", "sensors.sim.emulators", "bridges.mqtt.bridge"} <= set(modules())
    assert "gateway.protocol.seam" in imports_of("bridges.mqtt.bridge")
    assert "sensors.sim.emulators" in imports_of("gateway.devices")


def test_drivers_never_import_their_emulators() -> None:
    """No module of sensors/ outside sensors/sim imports sensors.sim: the emulators depend on the drivers."""
    got = offenders("sensors", lambda m, t: within(m, "sensors.sim") or not within(t, "sensors.sim"))
    assert got == []


def test_drivers_name_no_emulator_module_for_a_dynamic_import_either() -> None:
    """No module of sensors/ outside sensors/sim holds a string naming a sensors.sim module (the registry's
    ``"module:function"`` tables load by name, past any import statement)."""
    named = re.compile(r"sensors\.sim(\.\w+)*(:\w+)?")
    got = [
        f"{m}: {node.value}"
        for m, path in modules().items()
        if within(m, "sensors") and not within(m, "sensors.sim")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and named.fullmatch(node.value)
    ]
    assert got == []


def test_sensors_import_nothing_from_the_gateway_or_the_bridges() -> None:
    """sensors/ is the bottom floor: it imports nothing from gateway/ or bridges/."""
    got = offenders("sensors", lambda m, t: within(t, "sensors"))
    assert got == []


def test_bridges_see_the_gateway_only_through_its_protocol_core() -> None:
    """bridges/ imports nothing of gateway/ but gateway.protocol (the seam lives there)."""
    got = offenders("bridges", lambda m, t: not within(t, "gateway") or within(t, "gateway.protocol"))
    assert got == []


def test_no_import_cycles_between_modules() -> None:
    """No module reaches itself through the imports of others (package faces count as modules too)."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(imports_of(module)):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in modules():
        if module not in state:
            visit(module)
    assert cycles == []


OPENERS = {"open", "SMBus", "serial_for_url", "Serial", "statvfs", "make_real_factory", "import_jetson_gpio"}
"""Calls that open a bus, a port, a file or a GPIO library: only sensors/hardware.py makes them."""


def test_drivers_open_no_hardware_themselves() -> None:
    """Outside sensors/hardware.py (and the emulators), no module of sensors/ opens a file, an I2C bus, a serial
    port or a pin factory: the BuildContext hands every bus out, so a recording or replaying one can stand in."""
    offenders = []
    for name, path in modules().items():
        if not name.startswith("sensors.") or name.startswith("sensors.sim") or name == "sensors.hardware":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                called = (
                    func.id
                    if isinstance(func, ast.Name)
                    else func.attr
                    if isinstance(func, ast.Attribute)
                    else ""
                )
                if called in OPENERS:
                    offenders.append(f"{name}:{node.lineno} {called}()")
    assert offenders == []
