"""The dashboard's output controls against a scripted gateway that accepts one command and rejects another.

The real-gateway versions (tests in test_dashboard.py) need an output driver in the build; these pin the page's
side of the protocol: pending until `result`, confirmed with the applied value, rejected with the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from tests.conftest import scaled
from tests.integration.browser.test_client_module import pack, recv, static_files

pytestmark = pytest.mark.browser

ACTUATORS = [
    {
        "id": "relay1",
        "driver": "gpio_output",
        "kind": "switch",
        "min": 0,
        "max": 1,
        "unit": "",
        "value": False,
        "sim": True,
    },
    {
        "id": "fan",
        "driver": "pwm",
        "kind": "number",
        "min": 0,
        "max": 100,
        "unit": "%",
        "value": 20.0,
        "sim": True,
    },
]


class FakeGateway:
    """Says hello with two outputs and `role`; applies switch commands after a delay, rejects numbers above 50."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.commands: list[tuple[str, Any]] = []
        self.release = threading.Event()

    def handler(self, conn: ServerConnection) -> None:
        recv(conn)
        conn.send(
            pack(
                {
                    "t": "hello",
                    "v": 1,
                    "gw": "scripted",
                    "boot": "b0",
                    "seq": 0,
                    "role": self.role,
                    "caps": ["subscribe", "command", "ping"],
                    "sensors": [],
                    "actuators": ACTUATORS,
                }
            )
        )
        try:
            while True:
                msg = recv(conn)
                if msg["t"] == "command":
                    self.commands.append((msg["target"], msg["value"]))
                    if msg["target"] == "fan" and msg["value"] > 50:
                        conn.send(
                            pack(
                                {
                                    "t": "result",
                                    "ref": msg["id"],
                                    "target": "fan",
                                    "ok": False,
                                    "error": "expected a number in 0..50",
                                }
                            )
                        )
                    else:
                        self.release.wait(scaled(5))  # lets the test see "pending"
                        conn.send(
                            pack(
                                {
                                    "t": "result",
                                    "ref": msg["id"],
                                    "target": msg["target"],
                                    "ok": True,
                                    "value": msg["value"],
                                }
                            )
                        )
                elif msg["t"] == "ping":
                    conn.send(pack({"t": "pong", "ref": msg["id"], "ts": 0, "echo": msg.get("ts")}))
                else:
                    conn.send(pack({"t": "ack", "ref": msg["id"], "op": msg["t"]}))
        except (ConnectionClosed, TimeoutError):
            return


@pytest.fixture(params=["operator", "viewer"])
def fake(request: pytest.FixtureRequest) -> Iterator[tuple[FakeGateway, int]]:
    """The scripted gateway (one per role) on 127.0.0.1."""
    gw = FakeGateway(request.param)
    server: Server = serve(
        gw.handler, "127.0.0.1", 0, process_request=static_files, subprotocols=[Subprotocol("sensorcast.v1")]
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield gw, server.socket.getsockname()[1]
    gw.release.set()
    server.shutdown()
    thread.join(5)


def test_controls_follow_the_role_and_the_result(
    fake: tuple[FakeGateway, int], new_page: Callable[..., Page]
) -> None:
    """Operators get a switch and a slider that show pending, then confirmed or rejected (reverting the slider);
    viewers get no control, only a note."""
    gw, port = fake
    page = new_page()
    page.goto(f"http://127.0.0.1:{port}/dashboard")
    page.wait_for_selector("#controls:not([hidden])", timeout=scaled(10) * 1000)
    if gw.role == "viewer":
        assert page.text_content("#controls .controls-note") == "2 outputs: controls need an operator token."
        assert page.eval_on_selector_all("#controls .control", "els => els.length") == 0
        return
    assert page.eval_on_selector_all("#controls .control", "els => els.map(e => e.dataset.target)") == [
        "relay1",
        "fan",
    ]
    assert page.get_attribute("#ctl-relay1", "aria-checked") == "false"
    assert page.text_content('.control[data-target="fan"] output') == "20 %"
    page.focus("#ctl-relay1")
    page.keyboard.press("Space")
    page.wait_for_selector('.control[data-target="relay1"][data-cmd="pending"]', timeout=scaled(5) * 1000)
    assert page.text_content('.control[data-target="relay1"] .cmd-status') == "pending…"
    gw.release.set()
    page.wait_for_selector('.control[data-target="relay1"][data-cmd="confirmed"]', timeout=scaled(5) * 1000)
    assert page.get_attribute("#ctl-relay1", "aria-checked") == "true"
    assert page.text_content('.control[data-target="relay1"] output') == "on"
    page.fill("#ctl-fan", "80")  # sets the range input and fires change
    page.wait_for_selector('.control[data-target="fan"][data-cmd="rejected"]', timeout=scaled(5) * 1000)
    assert (
        page.text_content('.control[data-target="fan"] .cmd-status') == "rejected: expected a number in 0..50"
    )
    assert page.input_value("#ctl-fan") == "20"
    assert page.text_content('.control[data-target="fan"] output') == "20 %"
    assert gw.commands == [("relay1", True), ("fan", 80)]
