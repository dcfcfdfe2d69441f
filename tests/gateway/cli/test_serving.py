"""The scaffolding the serving commands share (gateway/cli/serving.py)."""

from __future__ import annotations

import argparse
import asyncio
import os

import pytest

from gateway.cli.serving import STOP_SIGNALS, configure, stop_on_signals
from gateway.config import ConfigErrors
from sensors.errors import ConfigError


async def test_stop_on_signals_calls_stop_inside_and_removes_its_handlers() -> None:
    """SIGTERM and SIGINT call stop while inside; on the way out neither has a loop handler left."""
    calls: list[str] = []
    loop = asyncio.get_running_loop()
    with stop_on_signals(lambda: calls.append("stop")):
        for sig in STOP_SIGNALS:
            os.kill(os.getpid(), sig)
            await asyncio.sleep(0.05)
    assert calls == ["stop", "stop"]
    assert [loop.remove_signal_handler(sig) for sig in STOP_SIGNALS] == [False, False]


@pytest.fixture
def levels(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The levels configure() set logging up with (the real setup changes the test process's root logger)."""
    got: list[str] = []
    monkeypatch.setattr("gateway.cli.serving.setup_logging", got.append)
    return got


def test_configure_prints_every_mistake_and_returns_none(
    capsys: pytest.CaptureFixture[str], levels: list[str]
) -> None:
    """A config with mistakes gives None and every mistake on stderr under one heading, logging set up first."""

    def prepare(args: argparse.Namespace) -> int:
        raise ConfigErrors(
            [ConfigError("gateway.port", "expected 0..65535"), ConfigError("fleet.url", "expected")]
        )

    got = configure(argparse.Namespace(log_level="error"), prepare)
    assert (got, levels) == (None, ["error"])
    assert capsys.readouterr().err.splitlines() == [
        "sensorcast: configuration error:",
        f"  {ConfigError('gateway.port', 'expected 0..65535')}",
        f"  {ConfigError('fleet.url', 'expected')}",
    ]


def test_configure_returns_what_prepare_gives(levels: list[str]) -> None:
    """A good config is returned as prepare built it."""
    got = configure(argparse.Namespace(log_level="debug"), lambda args: ("cfg", 1))
    assert (got, levels) == (("cfg", 1), ["debug"])
