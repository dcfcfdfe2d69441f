"""The dashboard in real headless Chromium against a real `sensorcast run` subprocess on loopback."""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page

from sensors.registry import demo_tables
from tests.conftest import scaled
from tests.integration.browser.gateway_proc import (
    OPERATOR_TOKEN,
    VIEWER_TOKEN,
    GatewayProcess,
    synthetic,
    write_config,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[3]
README_PICTURE = ROOT / "docs" / "img" / "dashboard.png"
"""Tracked: only scripts/screenshot.py rewrites it; a test run must leave the checkout clean."""
GatewayFactory = Callable[..., GatewayProcess]
PageFactory = Callable[..., Page]


def ms(seconds: float) -> float:
    """Playwright timeout in ms, scaled for slow boards."""
    return scaled(seconds) * 1000


def card_texts(page: Page) -> str:
    """Every value shown on every card, joined."""
    return "|".join(page.eval_on_selector_all(".card dd", "els => els.map(e => e.textContent)"))


def text(page: Page, selector: str) -> str:
    """Text content of ``selector`` (which must exist)."""
    value = page.text_content(selector)
    assert value is not None, f"{selector} not found"
    return value


def ring_column(page: Page, sensor: str, field: str) -> list[float | None]:
    """The page's whole stored series of ``sensor.field`` (None where a gap is drawn)."""
    values: list[float | None] = page.evaluate(
        "([s, f]) => sensorcast.dashboard.rings.get(s).slice(f, 0, Infinity).v", [sensor, field]
    )
    return values


def demo_with_tokens(path: Path) -> Path:
    """A config running the demo's sensors and outputs, plus an operator and a viewer token."""
    sensors, actuators = demo_tables()
    assert actuators, "the demo declares no output (DEMO_ACTUATORS): nothing to command"
    return write_config(
        path,
        tokens=True,
        sensors=[dict(t, simulate=True) for t in sensors],
        actuators=[dict(t, simulate=True) for t in actuators],
    )


def sign_in(page: Page, token: str) -> None:
    """Type ``token`` into the token form and submit it."""
    page.wait_for_selector("#auth:not([hidden])", timeout=ms(10))
    page.fill("#token", token)
    page.press("#token", "Enter")


def test_demo_cards_values_change_and_chart_has_points(
    gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path
) -> None:
    """With the demo running, one card per demo sensor appears (in catalogue order), values change, and the
    selected sensor's charts have points; its screenshot goes to a temporary directory, not into docs/."""
    tracked = README_PICTURE.read_bytes()
    expected = [t["id"] for t in demo_tables()[0]]  # what `sensorcast run` without a config runs, in order
    url = gateways().start()
    assert expected, "the demo runs no sensor"
    page = new_page()
    page.goto(url)
    page.wait_for_selector('#conn[data-state="open"]', timeout=ms(10))
    page.wait_for_function(
        "n => document.querySelectorAll('.card').length === n", arg=len(expected), timeout=ms(10)
    )
    assert page.eval_on_selector_all(".card", "els => els.map(e => e.dataset.sensor)") == expected
    simulated = page.evaluate(
        "() => sensorcast.dashboard.client.hello.sensors.filter(s => s.sim).map(s => s.id)"
    )
    assert (
        simulated
        and page.eval_on_selector_all(".card:has(.badge.sim)", "els => els.map(e => e.dataset.sensor)")
        == simulated
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('.card')].every(c => c.querySelector('.age').textContent.endsWith('ago'))",
        timeout=ms(15),
    )
    before = card_texts(page)
    page.wait_for_function(
        "b => [...document.querySelectorAll('.card dd')].map(e => e.textContent).join('|') !== b",
        arg=before,
        timeout=ms(10),
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('.chart')].some(c => +c.dataset.points > 1)", timeout=ms(10)
    )
    assert text(page, "#role") == "operator"  # no tokens configured: loopback demo
    if "env" in expected:
        page.select_option("#sensor-select", "env")
        page.wait_for_function(
            "() => document.querySelector('.chart').dataset.field !== undefined "
            "&& +document.querySelector('.chart').dataset.points > 1",
            timeout=ms(10),
        )
    time.sleep(scaled(4))  # a few seconds of curve for the picture
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert README_PICTURE.read_bytes() == tracked


def test_screenshot_script_writes_the_readme_picture_where_it_is_told(tmp_path: Path) -> None:
    """scripts/screenshot.py (the on-purpose refresh of the README picture) writes a full-page PNG to --out."""
    out = tmp_path / "shot.png"
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshot.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=scaled(90),
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"wrote {out} ({out.stat().st_size} bytes)\n"
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    width, height = struct.unpack(">II", png[16:24])
    assert width == 1280 and height >= 900


def test_restart_shows_reconnecting_then_resumes_with_the_gap_drawn(
    gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path
) -> None:
    """Killing the gateway turns the page to "reconnecting"; after a restart on the same port it resumes and
    the hole (readings lost with the old boot) is one explicit break in the chart, not a line across it."""
    cfg = write_config(tmp_path / "gw.toml", sensors=[synthetic("wave", 0.05, ["a"])])
    gw = gateways(cfg)
    url = gw.start()
    page = new_page()
    page.goto(url)
    page.wait_for_function(
        "() => +document.querySelector('.chart[data-field=\"n\"]')?.dataset.points > 20", timeout=ms(15)
    )
    assert page.get_attribute('.chart[data-field="n"]', "data-gaps") == "0"
    gw.stop(signal.SIGKILL)
    page.wait_for_selector('#conn[data-state="reconnecting"]', timeout=ms(10))
    assert text(page, "#conn").startswith("reconnecting")
    before = int(page.get_attribute('.chart[data-field="n"]', "data-points") or 0)
    time.sleep(scaled(1.5))
    gateways(cfg, port=gw.port).start()
    page.wait_for_selector('#conn[data-state="open"]', timeout=ms(20))
    page.wait_for_function(
        "() => +document.querySelector('.chart[data-field=\"n\"]').dataset.gaps === 1", timeout=ms(10)
    )
    page.wait_for_function(
        "() => sensorcast.dashboard.rings.get('wave').newestT > Date.now() - 1000", timeout=ms(10)
    )
    # and for a few readings of the new boot: the reconnect can be quick enough to have only one or two yet
    page.wait_for_function(
        "n => +document.querySelector('.chart[data-field=\"n\"]').dataset.points >= n",
        arg=before + 4,
        timeout=ms(10),
    )
    series = ring_column(page, "wave", "n")
    assert series.count(None) == 1
    cut = series.index(None)
    old, new = series[:cut], series[cut + 1 :]
    assert old == [float(i) for i in range(1, len(old) + 1)]  # the first boot, complete
    assert new == [float(i) for i in range(1, len(new) + 1)]  # the new boot from its first reading (backfill)
    assert len(old) > 20 and len(new) > 2
    assert "gateway restarted" in text(page, "#notes")
    page.wait_for_selector('#drops[data-gaps="1"]', timeout=ms(3))  # refreshed once a second


def test_dropped_connection_resumes_and_fills_the_hole_from_the_ring(
    gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path
) -> None:
    """When only the connection drops (same gateway boot), the page resumes from its last seq and the
    gateway's backfill fills the hole: the counter series stays contiguous with no gap drawn."""
    cfg = write_config(tmp_path / "gw.toml", sensors=[synthetic("wave", 0.1, ["a"])])
    url = gateways(cfg).start()
    page = new_page()
    page.goto(url)
    page.wait_for_function(
        "() => +document.querySelector('.chart[data-field=\"n\"]')?.dataset.points > 20", timeout=ms(15)
    )
    page.evaluate("""() => {
        window.backfilled = 0;
        sensorcast.dashboard.client.on("readings", (e) => { if (e.backfill) backfilled += e.readings.length; });
        sensorcast.dashboard.client._ws.close();
    }""")
    page.wait_for_selector('#conn[data-state="reconnecting"]', timeout=ms(5))
    page.wait_for_selector('#conn[data-state="open"]', timeout=ms(10))
    page.wait_for_function("() => sensorcast.dashboard.client.stats.connects === 2", timeout=ms(5))
    time.sleep(scaled(1))
    series = ring_column(page, "wave", "n")
    assert None not in series
    assert series == [float(i) for i in range(1, len(series) + 1)]
    assert page.evaluate("() => backfilled") > 0  # there was a hole, and the backfill filled it
    assert text(page, "#mode") == "every reading"
    assert page.get_attribute("#drops", "data-gaps") == "0"


def test_wide_window_asks_the_gateway_for_aggregates(
    gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path
) -> None:
    """A 10-minute window of a 50 Hz sensor holds far more readings than the chart has pixels, so the page
    subscribes with server-side min/max aggregation and draws a min/max band; back at 1 min... stays raw for
    a 1 Hz sensor."""
    cfg = write_config(
        tmp_path / "gw.toml", sensors=[synthetic("fast", 0.02, ["a"]), synthetic("slow", 1.0, ["x"])]
    )
    url = gateways(cfg).start()
    page = new_page(width=1280)
    page.goto(url)
    page.wait_for_selector('#conn[data-state="open"]', timeout=ms(10))
    page.click('#windows button:has-text("10 min")')
    page.wait_for_function(
        "() => /aggregates fast into \\d+ ms buckets/.test(document.querySelector('#mode').textContent)",
        timeout=ms(5),
    )
    bucket = int(text(page, "#mode").split(" into ")[1].split(" ms")[0])
    width = page.evaluate("() => sensorcast.dashboard.charts.pixelWidth()")
    assert bucket == round(600_000 / width)
    page.wait_for_function("() => sensorcast.dashboard.rings.get('fast').lo !== null", timeout=ms(10))
    page.wait_for_function("() => document.querySelectorAll('.chart .u-series').length >= 4", timeout=ms(10))
    page.select_option("#sensor-select", "slow")
    page.wait_for_function(
        "() => document.querySelector('#mode').textContent === 'every reading'", timeout=ms(5)
    )


def test_wrong_token_is_refused_with_a_clear_message(
    gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path
) -> None:
    """A gateway with tokens asks for one; a wrong token is refused with a clear message and no retry loop; the
    right one connects."""
    cfg = write_config(tmp_path / "gw.toml", tokens=True, sensors=[synthetic("wave", 0.1, ["a"])])
    url = gateways(cfg).start()
    page = new_page()
    page.goto(url)
    sign_in(page, "not-the-right-token-0000")
    page.wait_for_selector('#auth-msg[data-code="auth_failed"]', timeout=ms(10))
    assert (
        text(page, "#auth-msg") == "The gateway refused this token (invalid token). Check it and try again."
    )
    assert page.get_attribute("#conn", "data-state") == "unauthorized"
    assert page.evaluate("() => sessionStorage.getItem('sensorcast.token')") is None
    time.sleep(scaled(1.5))
    assert page.get_attribute("#conn", "data-state") == "unauthorized"  # no reconnect loop with a bad token
    sign_in(page, VIEWER_TOKEN)
    page.wait_for_selector('#conn[data-state="open"]', timeout=ms(10))
    assert page.is_hidden("#auth")
    assert text(page, "#role") == "viewer"
    assert page.url == url  # the token never lands in the URL


def test_viewer_sees_no_controls(gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path) -> None:
    """A viewer token sees the outputs counted but gets no switch or slider."""
    url = gateways(demo_with_tokens(tmp_path / "gw.toml")).start()
    page = new_page()
    page.goto(url)
    sign_in(page, VIEWER_TOKEN)
    page.wait_for_selector('#conn[data-state="open"]', timeout=ms(10))
    page.wait_for_selector("#controls:not([hidden])", timeout=ms(5))
    assert "controls need an operator token" in text(page, "#controls .controls-note")
    assert (
        page.eval_on_selector_all("#controls .switch, #controls input[type=range]", "els => els.length") == 0
    )


def test_operator_toggles_an_output_and_sees_it_confirmed(
    gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path
) -> None:
    """An operator flips a switch output with the keyboard: the control goes pending then confirmed with the
    applied value; after a reload (token kept for the tab) the page shows the gateway's state of the output: the
    new value, or the safe value when the output is driven safe on the loss of its last operator."""
    url = gateways(demo_with_tokens(tmp_path / "gw.toml")).start()
    page = new_page()
    page.goto(url)
    sign_in(page, OPERATOR_TOKEN)
    page.wait_for_selector('#conn[data-state="open"]', timeout=ms(10))
    switch = page.wait_for_selector("#controls .switch", timeout=ms(5))
    assert switch is not None
    target = page.eval_on_selector("#controls .switch", "e => e.closest('.control').dataset.target")
    was = switch.get_attribute("aria-checked") == "true"
    control = f'.control[data-target="{target}"]'
    page.eval_on_selector(
        control,
        """el => {
        window.cmdStates = [];
        new MutationObserver(() => cmdStates.push(el.dataset.cmd)).observe(el, {attributeFilter: ["data-cmd"]});
    }""",
    )
    switch.focus()
    page.keyboard.press("Enter")  # keyboard reachable
    page.wait_for_selector(f'{control}[data-cmd="confirmed"]', timeout=ms(10))
    assert page.evaluate("() => cmdStates") == ["pending", "confirmed"]
    assert page.get_attribute(f"{control} .switch", "aria-checked") == ("false" if was else "true")
    assert text(page, f"{control} .cmd-status") == "confirmed"
    info = page.evaluate("t => sensorcast.dashboard.client.hello.actuators.find(a => a.id === t)", target)
    after = bool(info["safe_value"]) if info["safe_on_disconnect"] else not was
    page.reload()
    page.wait_for_selector('#conn[data-state="open"]', timeout=ms(10))  # token kept for the tab session
    page.wait_for_selector(f'{control} .switch[aria-checked="{str(after).lower()}"]', timeout=ms(10))
    assert not page.is_visible("#auth")


def test_a_sensor_that_stops_is_shown_stale_not_flat_lined(
    gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path
) -> None:
    """When readings stop (here: the whole gateway frozen with SIGSTOP), the card turns stale and the chart gets a
    break instead of a straight line across the silence; when readings return the card is fresh again."""
    cfg = write_config(tmp_path / "gw.toml", sensors=[synthetic("wave", 0.1, ["a"])])
    gw = gateways(cfg)
    url = gw.start()
    page = new_page()
    page.goto(url)
    page.wait_for_function(
        "() => +document.querySelector('.chart[data-field=\"n\"]')?.dataset.points > 10", timeout=ms(15)
    )
    assert gw.proc is not None
    gw.proc.send_signal(signal.SIGSTOP)
    try:
        page.wait_for_selector('.card[data-sensor="wave"].stale', timeout=ms(8))  # 3 intervals + 1 s, min 3 s
        assert text(page, '.card[data-sensor="wave"] .age').startswith("stale: last reading ")
    finally:
        gw.proc.send_signal(signal.SIGCONT)
    page.wait_for_selector('.card[data-sensor="wave"]:not(.stale)', timeout=ms(8))
    page.wait_for_function(
        "() => sensorcast.dashboard.rings.get('wave').newestT > Date.now() - 1000", timeout=ms(10)
    )
    series = ring_column(page, "wave", "n")
    assert series.count(None) == 1
    cut = series.index(None)
    assert cut > 10 and len(series) - cut > 2  # readings on both sides of the break
    page.wait_for_selector('.chart[data-field="n"][data-gaps="1"]', timeout=ms(3))  # the break is on screen
