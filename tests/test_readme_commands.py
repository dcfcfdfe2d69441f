"""Every `sensorcast ...` line the README and docs show names a real command and only options it has."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from gateway.cli.dispatch import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINE = re.compile(r"^\s*(?:sudo\s+)?(?:\S+=\S+\s+)*sensorcast\s+([a-z][a-z-]*)(.*)$")


def shown_commands() -> list[tuple[str, int, str, str]]:
    """(file, line number, command, rest) for each `sensorcast <command>` line inside a fenced code block."""
    found = []
    for doc in DOCS:
        fenced = False
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            m = LINE.match(line) if fenced else None
            if m:
                found.append((doc.name, n, m.group(1), m.group(2).split("#", 1)[0]))
    return found


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    opts = {o for a in parser._actions for o in a.option_strings}
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub in a.choices.values():
                opts |= options_of(sub)
    return opts


def test_the_docs_show_commands_at_all() -> None:
    """The scan finds the README's command block (so the check below cannot pass by finding nothing)."""
    readme = {c for f, _, c, _ in shown_commands() if f == "README.md"}
    assert {"run", "check-config", "record", "replay", "history", "fleet"} <= readme


@pytest.mark.parametrize(("doc", "line", "command", "rest"), shown_commands())
def test_shown_command_and_options_exist(doc: str, line: int, command: str, rest: str) -> None:
    """The command exists and every --option on the line is one of its options (a renamed flag fails here)."""
    assert command in COMMANDS, f"{doc}:{line}: `sensorcast {command}` is not a command"
    known = options_of(subparsers()[command])
    for opt in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest):
        assert opt in known, f"{doc}:{line}: `sensorcast {command}` has no option {opt}"
