"""A token from `sensorcast token` authenticates a browser WebSocket through the bearer.<token> subprotocol."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page

from tests.integration.browser.gateway_proc import (
    SENSORCAST,
    GatewayProcess,
    synthetic,
    toml_value,
    write_config,
)

OPEN_SOCKET = """async ([url, protocols]) => {
  let ws;
  try {
    ws = new WebSocket(url, protocols);
  } catch (err) {
    return {thrown: err.name};
  }
  ws.binaryType = "arraybuffer";
  return await new Promise((resolve) => {
    const timer = setTimeout(() => resolve({timeout: true}), 10000);
    ws.onmessage = (ev) => {
      clearTimeout(timer);
      const head = new TextDecoder().decode(new Uint8Array(ev.data).slice(0, 12));
      resolve({protocol: ws.protocol, hello: head.includes("hello"), error: head.includes("error")});
      ws.close();
    };
    ws.onclose = (ev) => { clearTimeout(timer); resolve({closed: ev.code}); };
  });
}"""


def test_browser_authenticates_with_a_generated_token_as_subprotocol(
    new_page: Callable[..., Page], gateways: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """new WebSocket(url, ["sensorcast.v1", "bearer." + token]) gets hello; a base64 token cannot even be offered."""
    token = subprocess.run(
        [str(SENSORCAST), "token", "--role", "viewer"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    config = write_config(tmp_path / "gw.toml", sensors=[synthetic("wave", 0.1, ["a"])])
    with config.open("a", encoding="utf-8") as f:
        f.write(
            "[security]\ntokens = " + toml_value([{"name": "v", "role": "viewer", "token": token}]) + "\n"
        )
    gw = gateways(config)
    url = gw.start()
    page = new_page()
    page.goto(url)
    ws_url = url.replace("http://", "ws://")
    assert page.evaluate(OPEN_SOCKET, [ws_url, ["sensorcast.v1", "bearer." + token]]) == {
        "protocol": "sensorcast.v1",
        "hello": True,
        "error": False,
    }
    # The wrong token is refused by the gateway (not by the browser): the check above is not vacuous.
    assert page.evaluate(OPEN_SOCKET, [ws_url, ["sensorcast.v1", "bearer." + "x" * 43]]) == {
        "protocol": "sensorcast.v1",
        "hello": False,
        "error": True,
    }
    # What the old alphabet allowed: Chromium refuses such a subprotocol before connecting.
    assert page.evaluate(OPEN_SOCKET, [ws_url, ["sensorcast.v1", "bearer.abc/def=="]]) == {
        "thrown": "SyntaxError"
    }
