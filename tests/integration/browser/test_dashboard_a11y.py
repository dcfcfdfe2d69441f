"""The dashboard's readability in real headless Chromium against a real `sensorcast run`: axe-core in both
themes, human field labels, one number formatting rule, and the charts one tap away on a phone."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.conftest import scaled
from tests.integration.browser.gateway_proc import GatewayProcess, synthetic, write_config

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[3]
AXE = ROOT / "tests" / "integration" / "seed" / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core from npm (tests/integration/seed/package.json, installed by scripts/test.sh): never from a CDN."""
GatewayFactory = Callable[..., GatewayProcess]
PageFactory = Callable[..., Page]
PHONE = {"width": 390, "height": 844, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}


def ms(seconds: float) -> float:
    """Playwright timeout in ms, scaled for slow boards."""
    return scaled(seconds) * 1000


def open_demo(page: Page, url: str) -> None:
    """Load the dashboard and wait for every card to have a reading and the first chart to have points."""
    page.goto(url)
    page.wait_for_selector('#conn[data-state="open"]', timeout=ms(10))
    page.wait_for_function(
        "() => document.querySelectorAll('.card').length > 0 && [...document.querySelectorAll('.card .age')]"
        ".every(a => a.textContent.endsWith('ago'))",
        timeout=ms(15),
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('.chart')].some(c => +c.dataset.points > 1)", timeout=ms(10)
    )


def serious_violations(page: Page) -> list[tuple[str, str, list[str]]]:
    """axe-core's serious and critical violations on the page as (rule, impact, first targets)."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci` in tests/integration/seed (scripts/test.sh does)")
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
            .map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" ")) }))"""
    )
    return [(v["id"], v["impact"], v["nodes"][:5]) for v in found if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violation_in_either_theme(
    scheme: str, gateways: GatewayFactory, new_page: PageFactory
) -> None:
    """With the demo running, axe-core reports no serious or critical violation (colour contrast included: the
    connection pill, badges, buttons), with the theme following the system (prefers-color-scheme) and with the
    other theme forced from the header's Theme button."""
    url = gateways().start()
    page = new_page(color_scheme=scheme, bypass_csp=True)  # the gateway's CSP forbids the injected axe script
    open_demo(page, url)
    dark = page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
    assert dark == (scheme == "dark")
    assert serious_violations(page) == []
    forced = "light" if scheme == "dark" else "dark"
    while page.get_attribute("html", "data-theme") != forced:  # auto -> light -> dark -> auto
        page.click("#theme")
    page.wait_for_timeout(300)  # the charts are rebuilt with the new colours
    assert serious_violations(page) == []


def test_status_fills_have_aa_text_contrast_in_both_themes(new_page: PageFactory) -> None:
    """Every connection pill state and a switched-on output have at least 4.5:1 text contrast against their
    fill, in the light and the dark theme (the connected pill was white on #4ade80, 1.74:1, in the dark one)."""
    css = (ROOT / "gateway" / "static" / "css" / "dashboard.css").read_text(encoding="utf-8")
    states = ["open", "connecting", "reconnecting", "unauthorized", "closed", "other"]
    body = "".join(f"<span class='pill' data-state='{s}'>{s}</span>" for s in states)
    body += "<button class='switch' aria-checked='true'>On</button>"
    ratios = {}
    for scheme in ("light", "dark"):
        page = new_page(color_scheme=scheme)
        page.set_content(
            f"<html data-theme='auto'><head><style>{css}</style></head><body>{body}</body></html>"
        )
        ratios[scheme] = page.evaluate(
            f"() => [...document.querySelectorAll('.pill, .switch')].map({CONTRAST_JS})"
        )
    low = {
        k: [(n, r) for n, r in zip([*states, "switch"], v, strict=True) if r < 4.5] for k, v in ratios.items()
    }
    assert low == {"light": [], "dark": []}, ratios


CONTRAST_JS = """el => {
    const cs = getComputedStyle(el);
    const rgb = (c) => c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
    const lum = ([r, g, b]) => {
        const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const [a, b] = [lum(rgb(cs.color)), lum(rgb(cs.backgroundColor))].sort((x, y) => y - x);
    return Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100;
}"""


FORMAT_TABLE: list[tuple[Any, str, str, str]] = [
    # value, unit, kind -> text
    (None, "", "float", "–"),
    (True, "", "bool", "on"),
    ("3D", "", "str", "3D"),
    (693325, "B", "int", "693 kB"),  # was "693325 B" next to...
    (440523000, "B", "int", "441 MB"),  # ..."440.5 MB": bytes now always scaled alike
    (512, "B", "int", "512 B"),
    (0, "B/s", "float", "0 B/s"),
    (12.34, "B/s", "float", "12 B/s"),
    (999.7, "B/s", "float", "1.00 kB/s"),  # rounds up into the next prefix, not "1000 B/s"
    (1234567, "B/s", "float", "1.23 MB/s"),
    (1, "", "float", "1.00"),  # load_15m was "1" next to "0.600"
    (0.6, "", "float", "0.600"),
    (0, "", "float", "0.00"),
    (23.456, "°C", "float", "23.5 °C"),
    (-3.14159, "V", "float", "-3.14 V"),
    (99.96, "%", "float", "100 %"),
    (101453, "Pa", "float", "101453 Pa"),  # integer digits are never rounded away
    (0.0000123, "", "float", "0.0000123"),
    (5.5e6, "Hz", "float", "5.50 MHz"),
    (42, "", "int", "42"),
    (2500000, "", "int", "2.50 M"),
    (52.5200081, "°", "float", "52.52001 °"),  # a position keeps metre precision
    (1_700_000_000_000_000_000, "ns", "int", "22:13:20 UTC"),
    (float("inf"), "", "float", "Infinity"),
]


TICKS_TABLE: list[tuple[list[float | None], str, list[str]]] = [
    # a chart's value-axis ticks, unit -> labels (same prefixes as the cards; decimals from the tick step)
    ([24.4e9, 24.5e9, 24.6e9], "B", ["24.4 GB", "24.5 GB", "24.6 GB"]),  # was 24,400,000,000
    ([0, 500, 1000, 1500], "B/s", ["0.0 kB/s", "0.5 kB/s", "1.0 kB/s", "1.5 kB/s"]),
    ([0, 200, 400], "B", ["0 B", "200 B", "400 B"]),
    ([52.2058, 52.206], "°", ["52.2058", "52.2060"]),  # uPlot's default wrote 52.206 twice
    ([101200, 101300], "Pa", ["101200", "101300"]),
    ([0, 0.25, 0.5], "", ["0.00", "0.25", "0.50"]),
    ([2e6, 4e6], "Hz", ["2 MHz", "4 MHz"]),
    ([None, 1, 2], "", ["", "1", "2"]),
    ([], "", []),
]


def test_one_number_format_for_cards_and_charts(
    gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path
) -> None:
    """js/format.js formats a table of values the same way everywhere: bytes scaled by 1000 with 3 significant
    digits, integer fields whole, other numbers with 3 significant digits (never rounding integer digits away),
    degrees with 5 decimals, epoch ns as UTC time; chart axis ticks use the same prefixes, with the decimals
    their step needs."""
    url = gateways(write_config(tmp_path / "gw.toml", sensors=[synthetic("wave", 1.0, ["a"])])).start()
    page = new_page()
    page.goto(url)
    got = page.evaluate(
        """async (rows) => {
            const { formatValue } = await import("./static/js/format.js");
            return rows.map(([v, unit, kind]) => formatValue(v === "inf" ? Infinity : v, unit, kind));
        }""",
        [["inf" if v == float("inf") else v, u, k] for v, u, k, _ in FORMAT_TABLE],
    )
    assert got == [text for *_, text in FORMAT_TABLE]
    ticks = page.evaluate(
        """async (rows) => {
            const { formatTicks } = await import("./static/js/format.js");
            return rows.map(([splits, unit]) => formatTicks(splits, unit));
        }""",
        [[splits, unit] for splits, unit, _ in TICKS_TABLE],
    )
    assert ticks == [texts for *_, texts in TICKS_TABLE]


def test_cards_and_charts_show_labels_and_formatted_values(
    gateways: GatewayFactory, new_page: PageFactory
) -> None:
    """The demo's cards show each field's catalogue label (the id as tooltip), the system card formats its byte
    counters and rates alike and its load averages with the same digits, and chart titles use labels."""
    url = gateways().start()
    page = new_page()
    open_demo(page, url)
    hello = page.evaluate("() => sensorcast.dashboard.client.hello.sensors")
    shown = page.evaluate(
        "() => [...document.querySelectorAll('.card')].map(c => [c.dataset.sensor, "
        "[...c.querySelectorAll('dt')].map(d => [d.textContent, d.title])])"
    )
    assert shown == [[s["id"], [[f["label"], f["name"]] for f in s["fields"]]] for s in hello]
    labels = {f["name"]: f["label"] for s in hello for f in s["fields"]}
    picked = [labels[n] for n in ("pressure_pa", "net_rx_bps", "nmea_errors_total", "pm2_5_ugm3")]
    assert picked == ["Pressure", "Net RX rate", "NMEA errors", "PM2.5"]
    page.wait_for_function(
        "() => [...document.querySelectorAll('.card[data-sensor=system] dd')].every(d => d.textContent !== '–')",
        timeout=ms(10),
    )
    values = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('.card[data-sensor=system] dd')]"
        ".map(d => [d.dataset.field, d.textContent]))"
    )
    units = {f["name"]: f["unit"] for s in hello if s["id"] == "system" for f in s["fields"]}
    for name, text in values.items():
        if units[name] in ("B", "B/s"):
            assert re.fullmatch(
                r"(\d{1,3}|\d\.\d\d|\d\d\.\d|\d{3}) [kMGT]?" + re.escape(units[name]), text
            ), (name, text)
        if name.startswith("load_"):
            assert re.fullmatch(r"\d\.\d\d|0\.\d{3}|\d\d\.\d", text), (name, text)
    page.click('.card[data-sensor="env"] .card-title')
    page.wait_for_selector('.chart[data-sensor="env"]', timeout=ms(5))
    titles = page.eval_on_selector_all(".chart .u-title", "els => els.map(e => e.textContent)")
    env = next(s for s in hello if s["id"] == "env")
    ring_fields = page.evaluate("() => sensorcast.dashboard.rings.get('env').fields")
    by_name = {f["name"]: f for f in env["fields"]}
    expected = [
        f"env · {by_name[n]['label']}" + (f" ({by_name[n]['unit']})" if by_name[n]["unit"] else "")
        for n in ring_fields
    ]
    assert titles == expected


IN_VIEW = (
    """el => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight - 100; }"""
)


def test_phone_one_tap_on_a_card_brings_its_chart_into_view(
    gateways: GatewayFactory, new_page: PageFactory
) -> None:
    """On a phone (390x844, touch), the charts are screens below the cards; one tap on the last card's Chart
    button selects that sensor and scrolls its first chart into the viewport; "Card" goes back to the card."""
    url = gateways().start()
    page = new_page(**PHONE)
    open_demo(page, url)
    last = page.eval_on_selector_all(".card", "els => els.at(-1).dataset.sensor")
    assert last != page.evaluate("() => sensorcast.dashboard.selected")
    button = page.locator(f'.card[data-sensor="{last}"] .chart-link')
    button.scroll_into_view_if_needed()
    assert page.eval_on_selector(".chart", IN_VIEW) is False  # the charts start far below
    button.tap()
    page.wait_for_function(
        f"s => document.querySelector('.chart')?.dataset.sensor === s && ({IN_VIEW})(document.querySelector('.chart'))",
        arg=last,
        timeout=ms(5),
    )
    assert page.eval_on_selector_all(".chart", "els => [...new Set(els.map(e => e.dataset.sensor))]") == [
        last
    ]
    assert page.evaluate("() => document.activeElement.classList.contains('chart')")
    page.locator("#back-to-card").tap()
    page.wait_for_function(
        f"s => ({IN_VIEW})(document.querySelector(`.card[data-sensor='${{s}}']`))", arg=last, timeout=ms(5)
    )
