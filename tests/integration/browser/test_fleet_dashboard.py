"""The fleet's dashboard in real headless Chromium: real Mosquitto, real `sensorcast run` gateways and a real
`sensorcast fleet` process, all on loopback."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.conftest import scaled
from tests.integration.mqtt.broker import Mosquitto, running_broker
from tests.integration.mqtt.fleet_helpers import gateway_config, stop
from tests.integration.mqtt.helpers import spawn_gateway

pytestmark = [pytest.mark.browser, pytest.mark.mqtt]

PageFactory = Callable[..., Page]


def ms(seconds: float) -> float:
    """Playwright timeout in ms, scaled for slow boards."""
    return scaled(seconds) * 1000


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto on a free loopback port, stopped by PID afterwards."""
    with running_broker(tmp_path / "broker") as b:
        yield b


def start_fleet(url: str) -> tuple[subprocess.Popen[str], str]:
    """`python -m gateway fleet --mqtt url --port 0` and its dashboard URL (stop it by PID)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "fleet", "--mqtt", url, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for _ in range(5):
        line = proc.stdout.readline()
        m = re.fullmatch(r"Dashboard: (http://127\.0\.0\.1:\d+/)\s*", line)
        if m:
            return proc, m.group(1)
    stop(proc)
    raise AssertionError("the fleet printed no Dashboard line")


def rows(page: Page) -> list[list[str]]:
    """The Gateways table: [gateway, state] per row."""
    return page.eval_on_selector_all(
        "#fleet-rows tr", "trs => trs.map(tr => [...tr.cells].slice(0, 2).map(td => td.textContent))"
    )


def test_the_gateways_table_follows_the_last_will_and_cards_are_gw_slash_sensor(
    broker: Mosquitto, tmp_path: Path, new_page: PageFactory
) -> None:
    """The fleet's dashboard shows the Gateways table (g1 and g2 online) and one card per `<gw>/<sensor>`; when g2
    is killed (SIGKILL: its Last Will) its row turns offline and g1 stays online; restarted, g2 is online again."""
    cfgs = {g: gateway_config(tmp_path, g, broker.port, interval_s=0.2) for g in ("g1", "g2")}
    gws = {g: spawn_gateway(c) for g, c in cfgs.items()}
    fleet, url = start_fleet(broker.url)
    try:
        page = new_page()
        page.goto(url)
        page.wait_for_selector("#fleet:not([hidden])", timeout=ms(15))
        page.wait_for_function(
            "() => [...document.querySelectorAll('#fleet-rows tr')].map(tr => tr.dataset.gateway + ':' "
            "+ tr.dataset.online).join(' ') === 'g1:true g2:true'",
            timeout=ms(20),
        )
        assert rows(page) == [["g1", "online"], ["g2", "online"]]
        page.wait_for_function(
            "() => ['g1/wave', 'g2/wave'].every(s => document.querySelector(`.card[data-sensor=\"${s}\"]`))",
            timeout=ms(20),
        )
        cards = page.eval_on_selector_all(".card", "els => els.map(e => e.dataset.sensor)")
        assert sorted(cards) == ["g1/wave", "g2/wave"]
        page.wait_for_function(  # values arrive on both cards
            "() => ['g1/wave', 'g2/wave'].every(s => "
            'document.querySelector(`.card[data-sensor="${s}"] dd`)?.textContent.match(/\\d/))',
            timeout=ms(15),
        )

        gws["g2"].send_signal(signal.SIGKILL)
        gws["g2"].wait(10)
        page.wait_for_selector('#fleet-rows tr[data-gateway="g2"][data-online="false"]', timeout=ms(20))
        assert rows(page) == [["g1", "online"], ["g2", "offline"]]

        gws["g2"] = spawn_gateway(cfgs["g2"])
        page.wait_for_selector('#fleet-rows tr[data-gateway="g2"][data-online="true"]', timeout=ms(20))
        assert rows(page) == [["g1", "online"], ["g2", "online"]]
    finally:
        stop(fleet)  # type: ignore[arg-type]
        for p in gws.values():
            stop(p)
