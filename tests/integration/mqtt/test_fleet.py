"""The fleet view end to end: real `sensorcast run` gateways -> real Mosquitto -> the fleet -> WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bridges.mqtt.config import config_from_url
from gateway.fleet.app import FleetApp
from tests.conftest import scaled
from tests.integration.helpers import OPERATOR, TOKENS, VIEWER, Frames, client, make_config
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.fleet_helpers import Link, gateway_config, stop, websocket_url
from tests.integration.mqtt.helpers import spawn_gateway, until
from tests.integration.mqtt.subscriber import Subscriber

pytestmark = pytest.mark.mqtt


@contextlib.asynccontextmanager
async def fleet(url: str, **sections: Any) -> AsyncIterator[FleetApp]:
    """A fleet (in process) reading the broker at ``url``, with its own data directory (its ledgers and
    history: one test's gateways must not be another's restored ledgers)."""
    data_dir = tempfile.mkdtemp(prefix="fleet-", dir=os.environ.get("SENSORCAST_DATA_DIR"))
    cfg = make_config(gateway={"id": "fleet", "data_dir": data_dir}, **sections)
    mq = config_from_url(url)
    async with FleetApp(cfg, mq) as app:
        yield app


async def readings_of(c: Frames, sensor: str, n: int, timeout: float = 15.0) -> list[list[Any]]:
    """The next ``n`` readings of ``sensor`` the client gets."""
    out: list[list[Any]] = []
    deadline = time.monotonic() + scaled(timeout)
    while len(out) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(out)} readings of {sensor}"
        f = await c.until(lambda f: f["t"] == "data", timeout=left)
        out += [r for r in f["r"] if r[3] == sensor]
    return out


async def fleet_frame(c: Frames, pred: Any, timeout: float = 15.0) -> dict[str, Any]:
    """The next ``fleet`` frame whose gateway list (by id) satisfies ``pred``."""
    return await c.until(
        lambda f: f["t"] == "fleet" and pred({g["id"]: g for g in f["gateways"]}), timeout=scaled(timeout)
    )


def chained(rs: list[list[Any]]) -> bool:
    """Each reading's prev is the seq of the one before (one sensor, full rate)."""
    return all(b[1] == a[0] for a, b in itertools.pairwise(rs))


async def test_cli_fleet_serves_two_gateways_as_gw_slash_sensor(broker: Mosquitto, tmp_path: Path) -> None:
    """`sensorcast fleet --mqtt` with two `sensorcast run` gateways: hello lists g1/wave and g2/wave (and the
    relays), a `fleet` frame lists both gateways online with their boot, and both sensors' readings arrive with
    unbroken prev chains."""
    gws = [spawn_gateway(gateway_config(tmp_path, g, broker.port)) for g in ("g1", "g2")]
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before the loop has work
        [sys.executable, "-m", "gateway", "fleet", "--mqtt", broker.url, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = await websocket_url(proc)
        assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/", url)
        async with client(url) as c:
            hello = await c.next()
            assert hello["t"] == "hello" and hello["gw"] == "fleet"
            frame = await fleet_frame(
                c,
                lambda g: {"g1", "g2"} <= g.keys() and all(x["online"] and x["outputs"] for x in g.values()),
            )
            assert [g["id"] for g in frame["gateways"]] == ["g1", "g2"]
            assert all(
                len(g["boot"]) == 16 and g["sensors"] == 1 and g["outputs"] == 1 for g in frame["gateways"]
            )
            r1 = await readings_of(c, "g1/wave", 10)
            r2 = await readings_of(c, "g2/wave", 10)
            assert chained(r1) and chained(r2)
            assert all(set(r[4]) == {"a", "n"} and r[5] & 2 for r in r1 + r2)  # values and sim flag as sent
        async with client(url) as c:  # a later client gets the whole catalogue in hello
            hello = await c.next()
            ids = sorted(s["id"] for s in hello["sensors"])
            assert {"g1/wave", "g2/wave"} <= set(ids)
            assert sorted(a["id"] for a in hello["actuators"]) == ["g1/relay1", "g2/relay1"]
            after = await c.next()
            assert after["t"] == "fleet"
    finally:
        stop(proc)
        for g in gws:
            stop(g)


async def test_offline_from_last_will_then_hole_filled_from_the_outbox(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """A gateway whose network is cut shows offline (its Last Will) and its sensor `offline`; back online, the
    readings it took meanwhile come from its outbox: the client gets every reading exactly once (the same
    timestamps a plain subscriber saw, de-duplicated by identity), and the fleet reports the hole as filled."""
    link = await Link(broker.port).start()
    sub = Subscriber(broker.port, ["sensorcast/g1/wave/data"]).start()
    gw = spawn_gateway(gateway_config(tmp_path, "g1", link.port))
    try:
        async with fleet(broker.url) as app, client(app.url) as c:
            await fleet_frame(c, lambda g: "g1" in g and g["g1"]["online"])
            got: list[list[Any]] = await readings_of(c, "g1/wave", 5)
            link.cut()
            await c.until(  # at once, before the next gateway list
                lambda f: (
                    f["t"] == "status" and f.get("sensors", {}).get("g1/wave", {}).get("state") == "offline"
                ),
                timeout=scaled(10),
            )
            await fleet_frame(c, lambda g: not g["g1"]["online"])
            await asyncio.sleep(1.0)  # ~20 readings go to the gateway's outbox
            link.restore()
            collect = asyncio.ensure_future(_collect(c, "g1/wave", got))
            await fleet_frame_seen(got, lambda: app.source.registry.gateways["g1"].online)
            await asyncio.sleep(1.0)  # the outbox replays, live readings flow
            collect.cancel()
            ledger = app.source.registry.gateways["g1"].ledger
            assert (ledger.counters.lost, ledger.counters.duplicates, ledger.open_gaps()) == (0, 0, 0)
        stop(gw)
        msgs = sub.snapshot()
        seen = {
            (json.loads(m.payload)["boot"], json.loads(m.payload)["seq"]): json.loads(m.payload)["ts_ns"]
            for m in msgs
        }
        assert len(seen) >= 30
        # every reading from before the cut to the last one the client saw is there, once
        fleet_ts = [r[2] for r in got]
        assert max(fleet_ts) - min(fleet_ts) > 1.5e9  # spans the outage
        assert len(fleet_ts) == len(set(fleet_ts))
        window = sorted(ts for ts in seen.values() if min(fleet_ts) <= ts <= max(fleet_ts))
        assert sorted(fleet_ts) == window
    finally:
        sub.stop()
        stop(gw)
        await link.close()


async def _collect(c: Frames, sensor: str, out: list[list[Any]]) -> None:
    while True:
        f = await c.until(lambda f: f["t"] == "data", timeout=60)
        out += [r for r in f["r"] if r[3] == sensor]


async def fleet_frame_seen(got: list[list[Any]], pred: Any) -> None:
    await until(pred, timeout_s=scaled(15), what="gateway back online")


def _publisher(port: int, client_id: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def _reading(gw: str, boot: str, seq: int, prev: int, a: float) -> bytes:
    doc = {
        "gw": gw,
        "boot": boot,
        "seq": seq,
        "prev": prev,
        "ts_ns": 1_700_000_000_000_000_000 + seq,
        "flags": 1,
    }
    return json.dumps({**doc, "values": {"a": a}}).encode()


async def test_duplicates_dropped_gaps_break_the_chain_late_readings_fill(broker: Mosquitto) -> None:
    """A hand-made gateway publishing the wire format: a QoS 1 re-delivery (same gw, boot, seq) reaches the
    client once; a hole upstream (prev 3 after seq 1) breaks the fleet's prev chain; the late reading 3 is
    delivered, its re-delivery is not; hostile messages (another gateway's id in the payload, oversize, bad
    meta) are skipped and counted."""
    pub = _publisher(broker.port, "fake-gw")
    try:
        async with fleet(broker.url) as app, client(app.url) as c:
            await c.next()
            meta = {"gw": "gx", "boot": "b1", "payload": "json", "sensors": ["s"], "outputs": []}
            pub.publish("sensorcast/gx/meta", json.dumps(meta), 1, retain=True).wait_for_publish(5)
            sensor_meta = {
                "id": "s",
                "driver": "synthetic",
                "interval_s": 1.0,
                "fields": [{"name": "a", "unit": "V"}],
            }
            pub.publish("sensorcast/gx/s/meta", json.dumps(sensor_meta), 1, retain=True).wait_for_publish(5)
            pub.publish("sensorcast/gx/status", b"online", 1, retain=True).wait_for_publish(5)
            await fleet_frame(c, lambda g: "gx" in g and g["gx"]["online"])
            for seq, prev in ((1, 0), (1, 0), (2, 1), (5, 3), (3, 2), (3, 2), (6, 5)):
                pub.publish(
                    "sensorcast/gx/s/data", _reading("gx", "b1", seq, prev, float(seq)), 1
                ).wait_for_publish(5)
            pub.publish("sensorcast/gx/s/data", _reading("gy", "b1", 7, 6, 7.0), 1).wait_for_publish(5)
            pub.publish("sensorcast/gx/s/data", b"x" * 20_000, 1).wait_for_publish(5)
            pub.publish("sensorcast/gx/t/meta", b"{not json", 1).wait_for_publish(5)
            rs = await readings_of(c, "gx/s", 5)
            assert [r[4]["a"] for r in rs] == [1.0, 2.0, 5.0, 3.0, 6.0]
            assert rs[1][1] == rs[0][0]  # 2 follows 1
            assert rs[2][1] != rs[1][0]  # 5 after a hole: the chain is broken for the client
            assert rs[3][1] == rs[2][0] and rs[4][1] == rs[3][0]
            assert all(r[5] & 1 for r in rs)  # the gateway's clock flag is kept
            await until(lambda: app.source.bad_input == 3, what="three hostile messages counted")
            counters = app.source.registry.gateways["gx"].ledger.counters
            assert (counters.received, counters.duplicates, counters.gaps, counters.late) == (5, 2, 1, 1)
            assert (
                app.source.registry.gateways["gx"].ledger.open_gaps() == 0
            )  # 3 closed the hole (4: another sensor)
            hello_sensors = {s["id"]: s for s in app.catalogue.entries()["sensors"]}
            assert hello_sensors["gx/s"]["fields"][0]["unit"] == "V"
    finally:
        pub.loop_stop()
        pub.disconnect()


async def test_operator_commands_a_gateway_output_viewer_cannot(broker: Mosquitto, tmp_path: Path) -> None:
    """An operator's command to g1/relay1 goes through the gateway's command topic and its result comes back;
    the gateway's allowlist decides (a value it refuses is refused); a viewer is refused by the fleet."""
    gw = spawn_gateway(gateway_config(tmp_path, "g1", broker.port))
    try:
        async with fleet(broker.url, security=TOKENS) as app:
            async with client(app.url, subprotocols=[f"bearer.{OPERATOR}"]) as op:
                await fleet_frame(op, lambda g: "g1" in g and g["g1"]["online"] and g["g1"]["outputs"] == 1)
                await until(
                    lambda: "g1/relay1" in app.catalogue.actuator_values(), timeout_s=10, what="relay meta"
                )
                await op.send({"t": "command", "id": 1, "target": "g1/relay1", "value": True})
                res = await op.until(lambda f: f["t"] == "result", timeout=scaled(10))
                assert (res["ref"], res["target"], res["ok"], res["value"]) == (1, "g1/relay1", True, True)
                await op.send({"t": "command", "id": 2, "target": "g1/relay1", "value": 7})
                res = await op.until(lambda f: f["t"] == "result", timeout=scaled(10))
                assert (res["ref"], res["ok"]) == (2, False) and res["error"]
                await op.send({"t": "command", "id": 3, "target": "g9/relay1", "value": True})
                res = await op.until(lambda f: f["t"] == "result", timeout=scaled(10))
                assert (res["ref"], res["ok"], res["error"]) == (3, False, "unknown target")
            async with client(app.url, subprotocols=[f"bearer.{VIEWER}"]) as v:
                await v.next()
                await v.send({"t": "command", "id": 4, "target": "g1/relay1", "value": False})
                res = await v.until(lambda f: f["t"] == "result", timeout=scaled(10))
                assert (res["ref"], res["ok"], res["error"]) == (4, False, "operator role required")
    finally:
        stop(gw)


async def test_bridged_brokers_gateway_on_one_fleet_on_the_other(tmp_path: Path) -> None:
    """Gateways on broker A, the fleet on broker B bridged to A (topic sensorcast/# both ways): readings,
    online state and a command round trip work the same as on one broker."""
    a = Mosquitto(tmp_path / "a")
    a.start()
    b = Mosquitto(
        tmp_path / "b", extra=f"connection to-a\naddress 127.0.0.1:{a.port}\ntopic sensorcast/# both 1\n"
    )
    b.start()
    gw = spawn_gateway(gateway_config(tmp_path, "g1", a.port))
    try:
        async with fleet(b.url) as app, client(app.url) as c:
            await fleet_frame(c, lambda g: "g1" in g and g["g1"]["online"], timeout=20)
            rs = await readings_of(c, "g1/wave", 10)
            assert chained(rs)
            await until(
                lambda: "g1/relay1" in app.catalogue.actuator_values(), timeout_s=10, what="relay meta"
            )
            await c.send({"t": "command", "id": 9, "target": "g1/relay1", "value": True})
            res = await c.until(lambda f: f["t"] == "result", timeout=scaled(10))
            assert (res["ref"], res["ok"], res["value"]) == (9, True, True)
    finally:
        stop(gw)
        b.stop()
        a.stop()


ACL = Path(__file__).resolve().parents[3] / "deploy" / "mosquitto" / "sensorcast.acl"


def _rogue_publish(port: int, topic: str, payload: bytes) -> None:
    """Publish once as user g2 on a fresh MQTT 3.1.1 connection (a denied publish is dropped by the broker)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="rogue", protocol=mqtt.MQTTv311)
    c.username_pw_set("g2", "pw-g2")
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        deadline = time.monotonic() + 5
        while not c.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        c.publish(topic, payload, 1).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


async def test_the_documented_acl_keeps_each_gateway_under_its_own_prefix(tmp_path: Path) -> None:
    """Mosquitto with deploy/mosquitto/sensorcast.acl and passwords: gateway g1 (user g1) reaches the fleet (user
    fleet), which can command it; a client logged in as g2 cannot publish readings or meta under g1's prefix nor
    command g1's relay, while its own topics get through."""
    pw = tmp_path / "passwd"
    for i, user in enumerate(("g1", "g2", "fleet")):
        subprocess.run(  # noqa: ASYNC221 - setup, before anything runs on the loop
            ["mosquitto_passwd", "-b", *([] if i else ["-c"]), str(pw), user, f"pw-{user}"],
            check=True,
            capture_output=True,
            timeout=30,
        )
    b = Mosquitto(
        tmp_path / "acl",
        extra=f"allow_anonymous false\npassword_file {pw}\nacl_file {ACL}\n",
    )
    b.start()
    gw = spawn_gateway(gateway_config(tmp_path, "g1", b.port, username="g1", password="pw-g1"))
    try:
        async with fleet(f"mqtt://fleet:pw-fleet@127.0.0.1:{b.port}") as app, client(app.url) as c:
            await fleet_frame(c, lambda g: "g1" in g and g["g1"]["online"] and g["g1"]["outputs"])
            await until(
                lambda: "g1/relay1" in app.catalogue.actuator_values(), timeout_s=10, what="relay meta"
            )
            fake = _reading("g1", "fake", 10**9, 0, 999.0)
            for topic, payload in (
                ("sensorcast/g1/wave/data", fake),
                (
                    "sensorcast/g1/meta",
                    b'{"gw": "g1", "boot": "x", "payload": "json", "sensors": [], "outputs": []}',
                ),
                ("sensorcast/g1/relay1/set", b"true"),
                ("sensorcast/g2/status", b"online"),
            ):
                await asyncio.to_thread(_rogue_publish, b.port, topic, payload)
            await fleet_frame(c, lambda g: "g2" in g and g["g2"]["online"])  # its own prefix: allowed
            rs = await readings_of(c, "g1/wave", 20)
            assert all(r[4]["a"] != 999.0 for r in rs)
            g1 = app.source.registry.gateways["g1"]
            assert g1.boot != "x" and g1.sensors == ("wave",)
            assert app.catalogue.actuator_value("g1/relay1") in (
                None,
                False,
            )  # the rogue's command never arrived
            await c.send({"t": "command", "id": 1, "target": "g1/relay1", "value": True})
            res = await c.until(lambda f: f["t"] == "result", timeout=scaled(10))
            assert (res["ok"], res["value"]) == (True, True)
    finally:
        stop(gw)
        b.stop()


async def _frames_until(c: Frames, pred: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Every frame ``c`` gets until ``pred(frames so far)`` holds."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + scaled(timeout)
    while not pred(frames):
        left = deadline - time.monotonic()
        assert left > 0, f"{len(frames)} frames and still waiting"
        frames.append(await c.next(timeout=left))
    return frames


async def test_origin_opt_in_carries_each_readings_gateway_boot_and_seq(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """A client connected with `?origin=1` gets `origin` frames giving, for every g1/wave reading it gets, the
    (boot, seq) the gateway itself published (as a plain MQTT subscriber saw it, matched by ts_ns); a client
    without the opt-in gets the same readings and no `origin` frame."""
    sub = Subscriber(broker.port, ["sensorcast/g1/wave/data"], client_id="plain-origin").start()
    gw = spawn_gateway(gateway_config(tmp_path, "g1", broker.port))
    try:
        async with fleet(broker.url) as app, client(app.url + "?origin=1") as a, client(app.url) as b:

            def readings(fs: list[dict[str, Any]]) -> list[list[Any]]:
                return [r for f in fs if f["t"] == "data" for r in f["r"] if r[3] == "g1/wave"]

            def origins(fs: list[dict[str, Any]]) -> set[int]:
                return {row[0] for f in fs if f["t"] == "origin" for row in f["o"]}

            # An origin frame may come before or after the data frame of its readings: match by seq.
            fa = await _frames_until(
                a, lambda fs: len(readings(fs)) >= 30 and {r[0] for r in readings(fs)} <= origins(fs)
            )
            fb = await _frames_until(b, lambda fs: len(readings(fs)) >= 30)
        await asyncio.sleep(0.3)
    finally:
        stop(gw)
        sub.stop()
    assert [f["t"] for f in fb if f["t"] == "origin"] == []
    origin = {row[0]: (row[1], row[2]) for f in fa if f["t"] == "origin" for row in f["o"]}
    published = {}
    for m in sub.snapshot():
        doc = json.loads(m.payload)
        published[doc["ts_ns"]] = (doc["boot"], doc["seq"])
    ra = readings(fa)
    assert [origin.get(r[0]) for r in ra] == [published[r[2]] for r in ra]
    boots = {o[0] for o in origin.values()}
    assert len(boots) == 1 and len(next(iter(boots))) == 16
