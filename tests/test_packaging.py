"""The distribution's built metadata: project URLs, classifiers, and the pins that scripts/test-floor.sh checks."""

from __future__ import annotations

import os
import tomllib
import zipfile
from email.message import Message
from email.parser import Parser
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def built_metadata() -> Message:
    """METADATA of the wheel named by $SENSORCAST_WHEEL (scripts/test-floor.sh builds one with the setuptools
    floor), else of the installed distribution (scripts/bootstrap.sh reinstalls it when pyproject.toml
    changes)."""
    wheel = os.environ.get("SENSORCAST_WHEEL")
    if not wheel:
        return metadata.metadata("sensorcast")  # type: ignore[return-value]
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(zf.read(name).decode())


def test_metadata_has_project_urls_python_versions_and_a_development_status() -> None:
    """Project-URL, the Python 3.11-3.13 classifiers and a Development Status are in the built metadata."""
    meta = built_metadata()
    assert meta.get_all("Project-URL") == [
        "Homepage, https://github.com/sensorcast/sensorcast",
        "Documentation, https://github.com/sensorcast/sensorcast/tree/main/docs",
        "Source, https://github.com/sensorcast/sensorcast",
        "Issues, https://github.com/sensorcast/sensorcast/issues",
    ]
    classifiers = meta.get_all("Classifier") or []
    python = [c for c in classifiers if c.startswith("Programming Language :: Python :: 3.")]
    assert python == [f"Programming Language :: Python :: 3.{minor}" for minor in (11, 12, 13)]
    assert [c for c in classifiers if c.startswith("Development Status ::")] == [
        "Development Status :: 3 - Alpha"
    ]
    assert (meta["License-Expression"], meta["Requires-Python"]) == ("MIT", ">=3.11")


def test_websockets_and_setuptools_pins_have_a_floor_and_websockets_a_ceiling() -> None:
    """websockets is pinned >=17.0,<18 (the fast path's internals) and setuptools >=77.0.1 (PEP 639)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    deps = [d for d in project["project"]["dependencies"] if d.startswith("websockets")]
    assert deps == ["websockets>=17.0,<18"]
    assert project["build-system"]["requires"] == ["setuptools>=77.0.1"]
    requires = built_metadata().get_all("Requires-Dist") or []
    assert [r for r in requires if r.startswith("websockets")] == ["websockets<18,>=17.0"]


def test_the_console_script_and_the_bench_extra_point_at_what_exists() -> None:
    """`sensorcast` names a callable that exists (gateway.cli.dispatch:main, which `python -m gateway` runs too;
    scripts installed before the move, as gateway.cli:main, reach the same function), and the `bench` extra brings
    what `sensorcast bench` needs (psutil)."""
    import importlib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    target = project["scripts"]["sensorcast"]
    module, _, name = target.partition(":")
    assert target == "gateway.cli.dispatch:main"
    function = getattr(importlib.import_module(module), name)
    assert callable(function) and importlib.import_module("gateway.cli").main is function
    assert [d for d in project["optional-dependencies"]["bench"] if d.startswith("psutil")] == ["psutil>=5.9"]
