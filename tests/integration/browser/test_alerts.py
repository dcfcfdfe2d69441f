"""The dashboard's Alerts panel in real headless Chromium against a real `sensorcast run` with local rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.conftest import scaled
from tests.integration.browser.gateway_proc import (
    OPERATOR_TOKEN,
    VIEWER_TOKEN,
    GatewayProcess,
    synthetic,
    write_config,
)

pytestmark = pytest.mark.browser

GatewayFactory = Callable[..., GatewayProcess]
PageFactory = Callable[..., Page]
ACTIVE_ROW = '#alerts .alerts-active li[data-rule="counted"]'


def ms(seconds: float) -> float:
    return scaled(seconds) * 1000


def open_as(new_page: PageFactory, url: str, token: str) -> Page:
    page = new_page()
    page.goto(url)
    page.wait_for_selector("#auth:not([hidden])", timeout=ms(10))
    page.fill("#token", token)
    page.press("#token", "Enter")
    page.wait_for_selector('#conn[data-state="open"]', timeout=ms(10))
    return page


def test_a_fired_rule_shows_in_the_panel_highlights_its_card_and_an_operator_acknowledges(
    gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path
) -> None:
    """A rule on a synthetic counter fires soon after start: the operator's page lists it (critical, rule, sensor,
    field) and outlines the sensor's card, the other card is not; a viewer's page opened later sees the same row
    from hello but no Acknowledge button; the operator acknowledges and both pages show who did."""
    cfg = write_config(
        tmp_path / "gw.toml",
        tokens=True,
        sensors=[synthetic("tick", 0.1, ["a"]), synthetic("calm", 1.0, ["a"])],
        rules=[{"id": "counted", "sensor": "tick", "field": "n", "when": "above", "threshold": 5,
                "severity": "critical"}],
    )  # fmt: skip
    url = gateways(cfg).start()
    op = open_as(new_page, url, OPERATOR_TOKEN)
    op.wait_for_selector(f'{ACTIVE_ROW}[data-severity="critical"]', timeout=ms(10))
    row = op.text_content(ACTIVE_ROW) or ""
    assert row.startswith("criticalcounted: tick n = ") and "(limit 5)" in row
    op.wait_for_selector('.card[data-sensor="tick"][data-alert="critical"]', timeout=ms(5))
    assert op.get_attribute('.card[data-sensor="calm"]', "data-alert") is None

    viewer = open_as(new_page, url, VIEWER_TOKEN)
    viewer.wait_for_selector(ACTIVE_ROW, timeout=ms(10))  # from hello.events: it fired before this page
    assert viewer.query_selector(f"{ACTIVE_ROW} button") is None

    op.click(f"{ACTIVE_ROW} button")
    for page in (op, viewer):
        page.wait_for_selector(f"{ACTIVE_ROW} .acked", timeout=ms(10))
        assert (page.text_content(f"{ACTIVE_ROW} .acked") or "").startswith("acknowledged by 127.0.0.1:")
    assert op.query_selector(f"{ACTIVE_ROW} button") is None


def test_events_stored_before_a_restart_are_listed_after_a_reload(
    gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path
) -> None:
    """A rule fires in a first run; after a restart whose rule cannot fire, the reloaded page has no active
    alert but lists the stored 'fired' event of the first run (from /api/events, with the token)."""
    rule = {
        "id": "counted",
        "sensor": "tick",
        "field": "n",
        "when": "above",
        "threshold": 5,
        "severity": "critical",
    }
    sensors = [synthetic("tick", 0.1, ["a"])]
    cfg = write_config(tmp_path / "gw.toml", tokens=True, sensors=sensors, rules=[rule])
    first = gateways(cfg)
    url = first.start()
    page = open_as(new_page, url, OPERATOR_TOKEN)
    page.wait_for_selector(ACTIVE_ROW, timeout=ms(10))
    fired = (page.text_content(ACTIVE_ROW) or "").removeprefix("critical").removesuffix("Acknowledge")
    first.stop()  # a clean stop: the event is in the database
    write_config(cfg, tokens=True, sensors=sensors, rules=[{**rule, "threshold": 10**9}])
    gateways(cfg, port=first.port).start()
    page.reload()
    page.wait_for_selector('#conn[data-state="open"]', timeout=ms(10))
    stored = '#alerts .alerts-recent li[data-rule="counted"][data-state="active"]'
    page.wait_for_selector(stored, timeout=ms(10))
    assert page.text_content(stored) == f"fired {fired}"
    assert page.text_content("#alerts .alerts-active") == "No active alerts."
