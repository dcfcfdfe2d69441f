"""Refresh the README's dashboard screenshot (docs/img/dashboard.png) on purpose.

The tests never write into the source tree; this script is how the picture changes. It starts the demo exactly
as a user does (``.venv/bin/sensorcast run``), opens the dashboard in the same headless Chromium the browser
tests use (Debian's /usr/bin/chromium through Playwright), waits for live cards and a few seconds of curve on
the ``env`` sensor, and saves a full-page PNG.

    .venv/bin/python scripts/screenshot.py                 # rewrites docs/img/dashboard.png
    .venv/bin/python scripts/screenshot.py --out /tmp/x.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.browser.gateway_proc import CHROMIUM, CHROMIUM_ARGS, GatewayProcess  # noqa: E402

DEFAULT_OUT = ROOT / "docs" / "img" / "dashboard.png"
WIDTH, HEIGHT = 1280, 900
"""The viewport the README picture has always had."""
CURVE_S = 4.0
"""Seconds of live data drawn before the picture is taken."""
WAIT_MS = 20_000
"""Deadline of each wait for the page (first start on a slow board included)."""


def capture(out: Path) -> None:
    """Run the demo, open the dashboard and write its screenshot to ``out``."""
    with tempfile.TemporaryDirectory(prefix="sensorcast-shot-") as tmp, GatewayProcess(None, Path(tmp)) as gw:
        url = gw.url
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}).new_page()
                page.goto(url)
                page.wait_for_selector('#conn[data-state="open"]', timeout=WAIT_MS)
                page.wait_for_selector(".card", timeout=WAIT_MS)
                page.select_option("#sensor-select", "env")
                page.wait_for_function(
                    "() => +document.querySelector('.chart').dataset.points > 1", timeout=WAIT_MS
                )
                time.sleep(CURVE_S)
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=True)
            finally:
                browser.close()


def main() -> int:
    """Parse ``--out`` and take the picture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG to write (default {DEFAULT_OUT})")
    args = parser.parse_args()
    capture(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
