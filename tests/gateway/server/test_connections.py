"""Unit tests of gateway.server.connections's pure parts: role_for, select_subprotocol, process_request."""

from __future__ import annotations

import hmac
import json
from http import HTTPStatus
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.typing import Subprotocol

from gateway.catalogue import Catalogue
from gateway.commands import CommandRouter
from gateway.config import Config, parse_config
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.server.connections import SUBPROTOCOL, GatewayServer
from gateway.server.fanout import FanOut

OPERATOR = "op-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abc"


def make_server(
    tokens: bool = True,
    health: dict[str, Any] | None = None,
    **sections: Any,
) -> GatewayServer:
    data: dict[str, Any] = {"gateway": {"id": "test", "host": "127.0.0.1", "port": 0}, **sections}
    if tokens:
        data.setdefault("security", {})["tokens"] = [
            {"name": "op", "role": "operator", "token": OPERATOR},
            {"name": "v", "role": "viewer", "token": VIEWER},
        ]
    cfg: Config = parse_config(data, file="(test)")
    metrics = Metrics()
    catalogue = Catalogue(metrics)
    hub = Hub("test", "boot", metrics=metrics, catalogue=catalogue)
    body = health or {"status": "ok"}
    router = CommandRouter({}, {}, hub, catalogue=catalogue, metrics=metrics)
    return GatewayServer(cfg, hub, FanOut(metrics), router, metrics, lambda: body, catalogue=catalogue)


# -- role_for -----------------------------------------------------------------------------------------------


def test_role_for_known_tokens() -> None:
    server = make_server()
    assert server.role_for(OPERATOR) == "operator"
    assert server.role_for(VIEWER) == "viewer"


@pytest.mark.parametrize(
    "token",
    [
        "",
        OPERATOR[:-1],
        OPERATOR + "x",
        OPERATOR.upper(),
        " " + OPERATOR,
        VIEWER + "\n",
        "op-token-0123456789abcdeé",
        "bearer." + OPERATOR,
    ],
)
def test_role_for_rejects_near_misses(token: str) -> None:
    assert make_server().role_for(token) is None


def test_role_for_without_tokens_is_none() -> None:
    assert make_server(tokens=False).role_for(OPERATOR) is None


def test_role_for_compares_against_every_token_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every configured token is compared with hmac.compare_digest, even after a match (no early exit
    that would reveal which token, or how many, matched)."""
    server = make_server()
    real = hmac.compare_digest
    calls: list[tuple[bytes, bytes]] = []

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for token in (OPERATOR, VIEWER, "wrong-token-0123456789"):
        calls.clear()
        server.role_for(token)
        assert sorted(known for _, known in calls) == sorted([OPERATOR.encode(), VIEWER.encode()])
        assert all(given == token.encode() for given, _ in calls)


# -- select_subprotocol -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        ([SUBPROTOCOL], SUBPROTOCOL),
        ([f"bearer.{OPERATOR}", SUBPROTOCOL], SUBPROTOCOL),
        ([SUBPROTOCOL, f"bearer.{OPERATOR}"], SUBPROTOCOL),
        ([f"bearer.{OPERATOR}"], None),
        (["sensorcast.v2", "mqtt"], None),
        (["SENSORCAST.V1"], None),
        ([], None),
    ],
)
def test_select_subprotocol(offered: list[str], expected: str | None) -> None:
    chosen = GatewayServer.select_subprotocol(None, [Subprotocol(p) for p in offered])  # type: ignore[arg-type]
    assert chosen == expected
    assert chosen is None or not chosen.startswith("bearer."), "the token must never be echoed"


def test_select_subprotocol_on_an_instance() -> None:
    server = make_server()
    assert server.select_subprotocol(None, [Subprotocol(SUBPROTOCOL)]) == SUBPROTOCOL  # type: ignore[arg-type]


# -- process_request ----------------------------------------------------------------------------------------


def request(path: str = "/", websocket: bool = False, **headers: str) -> Request:
    h = Headers()
    h["Host"] = headers.pop("host", "127.0.0.1:8765")
    if websocket:
        h["Upgrade"] = "websocket"
        h["Connection"] = "Upgrade"
    for k, v in headers.items():
        h[k.replace("_", "-").title()] = v
    return Request(path, h)


def rejected(server: GatewayServer, reason: str) -> float:
    return server.metrics.get("sensorcast_handshakes_rejected_total", reason=reason)


def test_websocket_handshake_on_root_goes_on() -> None:
    server = make_server()
    assert server.process_request(None, request("/", websocket=True)) is None  # type: ignore[arg-type]
    assert server.process_request(None, request("/?subscribe=none", websocket=True)) is None  # type: ignore[arg-type]


def test_missing_or_rebinding_host_is_refused() -> None:
    server = make_server()
    for host in ("attacker.example", "attacker.example:8765"):
        resp = server.process_request(None, request("/", websocket=True, host=host))  # type: ignore[arg-type]
        assert resp is not None and resp.status_code == HTTPStatus.FORBIDDEN
        assert b"allowed_hosts" in resp.body
    h = Headers()
    resp = server.process_request(None, Request("/healthz", h))  # type: ignore[arg-type]
    assert resp is not None and resp.status_code == HTTPStatus.FORBIDDEN
    assert rejected(server, "host") == 3


def test_allowed_hosts_are_accepted() -> None:
    server = make_server(security={"allowed_hosts": ["sensors.lan"]})
    assert server.process_request(None, request("/", True, host="sensors.lan:8765")) is None  # type: ignore[arg-type]
    assert server.process_request(None, request("/", True, host="localhost")) is None  # type: ignore[arg-type]
    assert server.process_request(None, request("/", True, host="[::1]:8765")) is None  # type: ignore[arg-type]


def test_cross_site_origin_is_refused_same_origin_and_no_origin_are_not() -> None:
    server = make_server()
    bad = server.process_request(None, request("/", True, origin="http://evil.example"))  # type: ignore[arg-type]
    assert bad is not None and bad.status_code == HTTPStatus.FORBIDDEN
    assert b"allowed_origins" in bad.body
    assert rejected(server, "origin") == 1
    same = request("/", True, origin="http://127.0.0.1:8765")
    assert server.process_request(None, same) is None  # type: ignore[arg-type]
    https = request("/", True, origin="https://127.0.0.1:8765")
    assert server.process_request(None, https) is not None, "scheme must match (no TLS here)"  # type: ignore[arg-type]


def test_allowed_origins_are_accepted() -> None:
    server = make_server(security={"allowed_origins": ["https://dash.example/"]})
    ok = request("/", True, origin="https://DASH.example")
    assert server.process_request(None, ok) is None  # type: ignore[arg-type]


def test_websocket_upgrade_on_another_path_is_404() -> None:
    resp = make_server().process_request(None, request("/ws", websocket=True))  # type: ignore[arg-type]
    assert resp is not None and resp.status_code == HTTPStatus.NOT_FOUND
    assert resp.body == b"the WebSocket endpoint is /\n"


def test_max_clients_counts_authenticated_clients_not_those_waiting_for_auth() -> None:
    """Connections still waiting to authenticate have their own budget; only authorised clients fill max_clients."""
    server = make_server(limits={"max_clients": 2})
    for key in range(16):
        server.preauth.admit("10.0.0.9", key)  # type: ignore[arg-type]
    assert server.process_request(None, request("/", websocket=True)) is None  # type: ignore[arg-type]
    server.fanout.clients.update({object(), object()})  # type: ignore[arg-type]
    resp = server.process_request(None, request("/", websocket=True))  # type: ignore[arg-type]
    assert resp is not None and resp.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert resp.headers["Retry-After"] == "5"
    assert rejected(server, "max_clients") == 1
    plain = server.process_request(None, request("/healthz"))  # type: ignore[arg-type]
    assert plain is not None and plain.status_code == HTTPStatus.OK, (
        "plain HTTP is not limited by max_clients"
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [("ok", 200), ("starting", 200), ("degraded", 200), ("down", 503)],
)
def test_healthz_status_code(status: str, code: int) -> None:
    server = make_server(health={"status": status, "sensors": {"a": "x"}})
    resp = server.process_request(None, request("/healthz?x=1"))  # type: ignore[arg-type]
    assert resp is not None and resp.status_code == code
    assert json.loads(resp.body) == {"status": status, "sensors": {"a": "x"}}
    assert resp.headers["Cache-Control"] == "no-store"


def test_metrics_route_renders_the_registry() -> None:
    server = make_server()
    server.metrics.inc("sensorcast_control_messages_total", 7)
    resp = server.process_request(None, request("/metrics"))  # type: ignore[arg-type]
    assert resp is not None and resp.status_code == HTTPStatus.OK
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = resp.body.decode()
    assert "sensorcast_control_messages_total 7" in text
    assert "# TYPE sensorcast_auth_failures_total counter" in text


def test_dashboard_and_unknown_paths() -> None:
    server = make_server()
    page = server.process_request(None, request("/"))  # type: ignore[arg-type]
    assert page is not None and page.status_code == HTTPStatus.OK
    assert page.headers["Content-Type"].startswith("text/html")
    for path in ("/nope", "/static/../../config.py", "/healthz/extra"):
        resp = server.process_request(None, request(path))  # type: ignore[arg-type]
        assert resp is not None and resp.status_code == HTTPStatus.NOT_FOUND, path


def test_token_map_is_built_from_config() -> None:
    assert make_server().tokens == {OPERATOR.encode(): "operator", VIEWER.encode(): "viewer"}
    assert make_server(tokens=False).tokens == {}
    assert not make_server().http.tls
