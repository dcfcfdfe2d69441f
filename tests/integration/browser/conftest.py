"""Fixtures for the dashboard tests: Debian's Chromium driven by Playwright, and real gateway subprocesses."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.integration.browser.gateway_proc import CHROMIUM, CHROMIUM_ARGS, GatewayProcess

pytestmark = pytest.mark.browser


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for this package's tests (Debian's binary; `playwright install` is never used).

    Package scope, not session: Playwright's sync API keeps an event loop running in the main thread while it
    is open, which would break every asyncio test collected after this package.
    """
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs it (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Factory of pages, each in its own context (own sessionStorage); JS errors fail the test."""
    contexts = []
    errors: list[str] = []

    def make(width: int = 1280, height: int = 900, **context: Any) -> Page:
        """``context``: more Playwright context options (``color_scheme``, ``is_mobile``, ``has_touch``...)."""
        ctx = browser.new_context(viewport={"width": width, "height": height}, **context)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """Factory of `sensorcast run` subprocesses, all stopped (SIGTERM by PID) at the end of the test."""
    procs: list[GatewayProcess] = []

    def make(config: Path | None = None, port: int = 0) -> GatewayProcess:
        gw = GatewayProcess(config, tmp_path, port)
        procs.append(gw)
        return gw

    yield make
    for gw in procs:
        gw.stop()
