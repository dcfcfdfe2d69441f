"""Tokens, roles, Origin/Host checks, TLS, and the plain HTTP routes on the WebSocket port."""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.buses import BusWorker
from gateway.server.http import STATIC_ROOT
from sensors.base import Actuator, ActuatorInfo, Value
from sensors.sim.emulators import context_with_emulators
from tests.integration.helpers import OPERATOR, TOKENS, VIEWER, client, make_config, running, synthetic


def http_get(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Blocking GET on loopback; returns status, headers (lower-case names) and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


async def aget(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """:func:`http_get` off the event loop (the gateway runs on it)."""
    return await asyncio.to_thread(http_get, port, path, headers)


async def test_auth_by_first_message_assigns_role_and_bad_token_is_closed_1008() -> None:
    """With tokens configured: auth first message -> ack + hello with role; a wrong token -> auth_failed, 1008."""
    cfg = make_config(sensors=[synthetic("wave", 0.05)], security=TOKENS)
    async with running(cfg) as app:
        async with client(app.url) as c:
            await c.send({"t": "auth", "id": 1, "token": VIEWER})
            assert await c.next() == {"t": "ack", "ref": 1, "op": "auth"}
            hello = await c.next()
            assert (hello["t"], hello["role"]) == ("hello", "viewer")
        async with client(app.url) as c:
            await c.send({"t": "auth", "id": 1, "token": "wrong-token-0000000000"})
            err = await c.next()
            assert (err["t"], err["code"], err["msg"]) == ("error", "auth_failed", "invalid token")
            with pytest.raises(ConnectionClosed) as info:
                await c.next()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        async with client(app.url) as c:
            await c.send({"t": "ping"})
            err = await c.next()
            assert (err["t"], err["code"]) == ("error", "auth_required")
        assert app.metrics.get("sensorcast_auth_failures_total") == 1


async def test_frame_order_around_auth_is_the_documented_one() -> None:
    """docs/protocol.md "Connection start": a token in the first message gets ack(auth), then hello, then the
    session's frames; a token in the subprotocol gets hello first (no ack); with no tokens configured hello
    comes first and an auth sent anyway is acked later, among data and status frames."""
    cfg = make_config(sensors=[synthetic("wave", 0.02)], security=TOKENS)
    async with running(cfg) as app:
        async with client(app.url) as c:
            await c.send({"t": "auth", "id": 7, "token": VIEWER})
            first = [await c.next() for _ in range(2)]
            assert [f["t"] for f in first] == ["ack", "hello"]
            assert first[0] == {"t": "ack", "ref": 7, "op": "auth"}
            await c.until(lambda f: f["t"] == "data")
        async with client(app.url, subprotocols=["sensorcast.v1", f"bearer.{VIEWER}"]) as c:
            assert (await c.next())["t"] == "hello"
            await c.until(lambda f: f["t"] == "data")
    open_cfg = make_config(sensors=[synthetic("wave", 0.02)])
    async with running(open_cfg) as app, client(app.url) as c:
        await c.send({"t": "auth", "id": 7, "token": VIEWER})
        assert (await c.next())["t"] == "hello"
        ack = await c.until(lambda f: f["t"] not in ("data", "status"))
        assert ack == {"t": "ack", "ref": 7, "op": "auth"}


async def test_token_in_subprotocol_is_accepted_and_never_echoed() -> None:
    """A browser can pass its token as subprotocol bearer.<token>; the server selects only sensorcast.v1."""
    cfg = make_config(sensors=[synthetic("wave", 0.05)], security=TOKENS)
    async with (
        running(cfg) as app,
        connect(app.url, subprotocols=["sensorcast.v1", f"bearer.{OPERATOR}"]) as ws,
    ):
        assert ws.subprotocol == "sensorcast.v1"
        hello = msgpack.unpackb(await ws.recv())
        assert hello["role"] == "operator"


class Relay(Actuator):
    """A software output used to exercise the command path end to end (records what it was driven to)."""

    bus_id = "test"

    def __init__(self, info: ActuatorInfo) -> None:
        super().__init__(info)
        self.history: list[Value] = []

    def apply(self, value: Value) -> Value:
        self.history.append(value)
        return value


async def test_commands_need_operator_role_are_validated_and_echoed_as_readings() -> None:
    """Viewer commands are refused; operator commands are range-checked, applied, and echoed as a reading."""
    cfg = make_config(sensors=[synthetic("wave", 0.05)], security=TOKENS)
    async with running(cfg) as app:
        relay = Relay(ActuatorInfo("relay1", "test", "switch", safe_value=False))
        app.actuators["relay1"] = relay
        app.catalogue.register_actuator(relay.info)
        app.workers.setdefault("test", BusWorker("test"))
        async with client(app.url) as v:
            await v.send({"t": "auth", "token": VIEWER})
            await v.until(lambda f: f["t"] == "hello")
            await v.send({"t": "command", "id": 5, "target": "relay1", "value": True})
            res = await v.until(lambda f: f["t"] == "result")
            assert res == {
                "t": "result",
                "ref": 5,
                "target": "relay1",
                "ok": False,
                "error": "operator role required",
            }
        async with client(app.url) as o:
            await o.send({"t": "auth", "token": OPERATOR})
            hello = await o.until(lambda f: f["t"] == "hello")
            assert hello["actuators"][0]["id"] == "relay1"
            await o.send({"t": "command", "id": 6, "target": "relay1", "value": "maybe"})
            res = await o.until(lambda f: f["t"] == "result")
            assert (res["ok"], res["error"]) == (False, "expected true/false (or on/off)")
            await o.send({"t": "command", "id": 7, "target": "nope", "value": True})
            res = await o.until(lambda f: f["t"] == "result")
            assert (res["ok"], res["error"]) == (False, "unknown target")
            await o.send({"t": "command", "id": 8, "target": "relay1", "value": True})
            res = await o.until(lambda f: f["t"] == "result")
            assert res == {"t": "result", "ref": 8, "target": "relay1", "ok": True, "value": True}
            echo = await o.until(lambda f: f["t"] == "data" and any(r[3] == "relay1" for r in f["r"]))
            assert [r[4] for r in echo["r"] if r[3] == "relay1"] == [{"value": True}]
        assert relay.history[-1] is True


async def test_cross_site_origin_and_rebinding_host_are_refused() -> None:
    """A foreign Origin or an unknown Host gets 403; same-origin and Origin-less clients are allowed."""
    cfg = make_config(
        sensors=[synthetic("wave", 0.05)], security={"allowed_origins": ["http://dash.example"]}
    )
    async with running(cfg) as app:
        with pytest.raises(InvalidStatus) as info:
            async with connect(app.url, origin="http://evil.example"):  # type: ignore[arg-type]
                pass
        assert info.value.response.status_code == 403
        async with connect(app.url, origin=f"http://127.0.0.1:{app.port}") as ws:  # type: ignore[arg-type]
            assert msgpack.unpackb(await ws.recv())["t"] == "hello"
        async with connect(app.url, origin="http://dash.example") as ws:  # type: ignore[arg-type]
            assert msgpack.unpackb(await ws.recv())["t"] == "hello"
        status, _, body = await aget(app.port, "/healthz", {"Host": f"attacker.example:{app.port}"})
        assert status == 403 and b"host not allowed" in body


async def test_healthz_and_metrics() -> None:
    """/healthz is JSON with sensor states; /metrics is Prometheus text with the documented series."""
    cfg = make_config(sensors=[synthetic("wave", 0.02)])
    async with running(cfg) as app, client(app.url) as c:
        await c.until(lambda f: f["t"] == "data")
        status, headers, body = await aget(app.port, "/healthz")
        doc = json.loads(body)
        assert status == 200 and headers["content-type"] == "application/json"
        assert (doc["status"], doc["gateway"], doc["boot"], doc["clients"]) == ("ok", "test", app.boot_id, 1)
        assert doc["sensors"] == {"wave": "ok"}
        status, headers, body = await aget(app.port, "/metrics")
        text = body.decode()
        assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
        for series in (
            "sensorcast_readings_produced_total ",
            "sensorcast_readings_sent_total ",
            "sensorcast_readings_dropped_total ",
            "sensorcast_clients 1",
            "sensorcast_loop_lag_seconds ",
            'sensorcast_sensor_up{sensor="wave"} 1',
            "sensorcast_client_queue_frames_max ",
        ):
            assert series in text, series
        status, _, _ = await aget(app.port, "/nope")
        assert status == 404


async def test_dashboard_page_is_served_with_types_and_caching() -> None:
    """GET / serves the dashboard HTML; vendor files are immutable-cached; ETag revalidation gives 304."""
    cfg = make_config(sensors=[synthetic("wave", 0.1)])
    async with running(cfg) as app:
        status, headers, body = await aget(app.port, "/")
        assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
        assert headers["cache-control"] == "no-cache" and b"<html" in body.lower()
        status, _, _ = await aget(app.port, "/", {"If-None-Match": headers["etag"]})
        assert status == 304
        vendor = await asyncio.to_thread(lambda: sorted((STATIC_ROOT / "vendor").rglob("*.js")))
        assert vendor, "vendored front-end libraries are missing"
        rel = vendor[0].relative_to(STATIC_ROOT).as_posix()
        status, headers, _ = await aget(app.port, f"/static/{rel}")
        assert status == 200 and "immutable" in headers["cache-control"]
        assert headers["content-type"].startswith(("text/javascript", "application/javascript"))
        status, _, _ = await aget(app.port, "/static/../config.py")
        assert status == 404


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_serves_wss_and_https(tmp_path: Path) -> None:
    """With tls_cert/tls_key the same port speaks wss:// and https://."""
    cert, key = _self_signed(tmp_path)
    cfg = make_config(
        sensors=[synthetic("wave", 0.05)], security={"tls_cert": str(cert), "tls_key": str(key)}
    )
    ctx = ssl.create_default_context(cafile=str(cert))
    async with running(cfg) as app:
        assert app.url.startswith("wss://")
        async with connect(app.url, ssl=ctx) as ws:
            assert msgpack.unpackb(await ws.recv())["t"] == "hello"


def test_ctx_resources_are_shared() -> None:
    """BuildContext.shared builds a resource once per key (drivers on one bus share one bus object)."""
    ctx = context_with_emulators()
    made: list[int] = []

    def make(tag: int) -> Any:
        made.append(tag)
        return object()

    a = ctx.shared("i2c-1", lambda: make(1))
    assert ctx.shared("i2c-1", lambda: make(2)) is a and made == [1]
