"""The dashboard with the gateway's history store, in real headless Chromium against `sensorcast run`."""

from __future__ import annotations

import csv
import io
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page

from gateway.history.store import HistoryStore
from tests.conftest import scaled
from tests.integration.browser.gateway_proc import GatewayProcess, synthetic, write_config

pytestmark = pytest.mark.browser
GatewayFactory = Callable[..., GatewayProcess]
PageFactory = Callable[..., Page]
S = 10**9


def ms(seconds: float) -> float:
    return scaled(seconds) * 1000


def stored_hour(data_dir: Path) -> int:
    """Write an hour of 1 Hz history of sensor ``wave`` ending 10 s ago, as a previous run would have; return
    its first timestamp (ns)."""
    st = HistoryStore(data_dir / "history.db", policies={"wave": "raw"})
    st._open()
    first = (time.time_ns() // S - 3600) * S
    st.on_batch([(i + 1, i, first + i * S, "wave", {"a": math.sin(i / 60), "n": i}, 0) for i in range(3590)])
    st.commit(final=True)
    assert st._conn is not None
    st._conn.close()
    return first


def test_reload_shows_the_last_hour_at_once_and_downloads_csv(
    gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path
) -> None:
    """A page (re)load puts the stored hour in front of the live points within seconds; long windows are open
    at once; "Download CSV" saves the chart's sensor and window as CSV that parses back with units."""
    data = tmp_path / "data"
    data.mkdir()
    first = stored_hour(data)
    cfg = write_config(
        tmp_path / "gw.toml", gateway={"data_dir": str(data)}, sensors=[synthetic("wave", 1.0, ["a"])]
    )
    url = gateways(cfg).start()
    page = new_page()
    for load in ("first", "reload"):
        if load == "first":
            page.goto(url)
        else:
            page.reload()
        page.wait_for_function(
            "t => sensorcast.dashboard.rings.get('wave')?.oldestT <= t",
            arg=first / 1e6 + 60_000,
            timeout=ms(10),
        )
    assert page.is_enabled('#windows button[data-ms="86400000"]')
    assert page.is_enabled('#windows button[data-ms="2592000000"]')
    page.wait_for_selector("#history-note:not(:empty)", timeout=ms(5))
    page.click('#windows button[data-ms="3600000"]')
    # Every clock read a millisecond later than the last, as on a slow machine: the hour asked for must still be
    # one hour (two reads of the clock once made it 3600.001 s, so the export came back as 2000 aggregates).
    page.evaluate("() => { const real = Date.now; let k = 0; Date.now = () => real() + k++; }")
    with page.expect_download(timeout=ms(15)) as info:
        page.click("#csv")
    raw = Path(info.value.path()).read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") > 3500  # RFC 4180 line ends
    table = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert table[0] == ["time_utc", "ts_ns", "a", "n"]
    stamps = [int(r[1]) for r in table[1:]]
    assert stamps == sorted(stamps) and len(stamps) >= 3500
    assert [float(r[3]) for r in table[1:11]] == [
        float(i) for i in range((stamps[0] - first) // S, (stamps[0] - first) // S + 10)
    ]


def ring_column(page: Page, sensor: str, field: str) -> list[float | None]:
    values: list[float | None] = page.evaluate(
        "([s, f]) => sensorcast.dashboard.rings.get(s).slice(f, 0, Infinity).v", [sensor, field]
    )
    return values


def test_after_a_restart_the_hole_is_filled_from_history(
    gateways: GatewayFactory, new_page: PageFactory, tmp_path: Path
) -> None:
    """Readings the page missed before the gateway was killed come back from history by time: the old boot's
    counter is contiguous up to the kill (less at most a commit interval), then one break, then the new boot."""
    cfg = tmp_path / "gw.toml"
    cfg.write_text(
        f'[gateway]\nid = "browser"\ndata_dir = "{tmp_path / "data"}"\n[history]\ncommit_interval_s = 0.3\n'
        '[[sensors]]\nid = "wave"\ndriver = "synthetic"\ninterval_s = 0.25\nfields = ["a"]\nhistory = "raw"\n'
    )
    gw = gateways(cfg)
    url = gw.start()
    page = new_page()
    page.goto(url)
    page.wait_for_function(
        "() => +document.querySelector('.chart[data-field=\"n\"]')?.dataset.points > 8", timeout=ms(15)
    )
    page.evaluate("() => sensorcast.dashboard.client.close()")
    seen = len(ring_column(page, "wave", "n"))
    time.sleep(scaled(2.5))  # the gateway records what the page no longer sees
    gw.stop(signal.SIGKILL)
    # Down for longer than a break (1.5 history buckets, up to 1.5 s here): without it, a restart quicker than
    # that is rightly drawn without a break, and the test depended on how fast the new boot came up.
    time.sleep(scaled(2))
    gateways(cfg, port=gw.port).start()
    time.sleep(scaled(1))  # the new boot has readings: the hole has an end when the page comes back
    page.evaluate("() => sensorcast.dashboard.client.connect()")
    page.wait_for_function(
        "() => document.querySelector('#notes').textContent.includes('filled in from the gateway')",
        timeout=ms(15),
    )
    series = ring_column(page, "wave", "n")
    assert series.count(None) == 1, repr(series)
    old = series[: series.index(None)]
    assert old == [float(i) for i in range(1, len(old) + 1)]
    assert len(old) >= seen + 5
