"""TLS (mqtts://), credentials and MQTT 3.1.1 against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bridges.mqtt.client import MqttClientError, PahoConnection
from bridges.mqtt.config import MqttConfig
from tests.conftest import scaled
from tests.integration.mqtt.broker import Mosquitto, free_port
from tests.integration.mqtt.helpers import bridge_running, json_seqs, mqtt_config, until
from tests.integration.mqtt.seam_impl import TestCommands, TestSource
from tests.integration.mqtt.subscriber import Subscriber

pytestmark = pytest.mark.mqtt


def make_ca_and_server_cert(d: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl CLI)."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=sensorcast test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (d / "san.cnf").write_text("subjectAltName = IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
        "-out",
        "server.pem",
    )
    return d / "ca.pem", d / "server.pem", d / "server.key"


async def test_mqtts_with_a_ca_file_delivers_and_an_unknown_ca_is_refused(tmp_path: Path) -> None:
    """mqtts:// with mqtt.ca_file verifies the broker and delivers; without the CA the TLS handshake fails and
    the bridge keeps retrying without raising."""
    ca, cert, key = await asyncio.to_thread(make_ca_and_server_cert, tmp_path)
    tls_port = free_port()
    broker = Mosquitto(
        tmp_path / "broker",
        extra=f"listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n",
    )
    broker.start()
    sub = Subscriber(broker.port, ["sensorcast/gw1/+/data"]).start()  # plain listener, same broker
    src = TestSource()
    try:
        url = f"mqtts://127.0.0.1:{tls_port}"
        async with bridge_running(mqtt_config(url, ca_file=str(ca)), src, TestCommands(src), tmp_path / "a"):
            sent = src.emit(20)
            await until(lambda: len(sub.snapshot()) >= 20, what="readings over TLS")
        src2 = TestSource()
        async with bridge_running(mqtt_config(url), src2, TestCommands(src2), tmp_path / "b") as bridge:
            await until(
                lambda: bridge.metrics()["sensorcast_mqtt_connect_failures_total"] >= 2, what="refusals"
            )
            assert bridge.metrics()["sensorcast_mqtt_connected"] == 0.0
    finally:
        sub.stop()
        broker.stop()
    assert json_seqs(sub.snapshot()) == [r.seq for r in sent]


async def test_credentials_are_required_and_wrong_ones_are_retried_not_fatal(tmp_path: Path) -> None:
    """With allow_anonymous false, the right user/password connects; a wrong password is refused by the
    broker, counted and retried while run() keeps going."""
    pw = tmp_path / "passwd"
    await asyncio.to_thread(
        subprocess.run,
        ["mosquitto_passwd", "-b", "-c", str(pw), "gw", "s3cret-pass"],
        check=True,
        capture_output=True,
    )
    broker = Mosquitto(tmp_path / "broker", extra=f"password_file {pw}\n")
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    broker.start()
    src = TestSource()
    try:
        bad = mqtt_config(f"mqtt://gw:wrong@127.0.0.1:{broker.port}")
        async with bridge_running(bad, src, TestCommands(src), tmp_path / "a") as bridge:
            await until(
                lambda: bridge.metrics()["sensorcast_mqtt_connect_failures_total"] >= 2, what="refusals"
            )
            assert bridge.metrics()["sensorcast_mqtt_connects_total"] == 0.0
        good = mqtt_config(f"mqtt://gw:s3cret-pass@127.0.0.1:{broker.port}")
        async with bridge_running(good, src, TestCommands(src), tmp_path / "b") as bridge:
            await until(lambda: bridge.metrics()["sensorcast_mqtt_connected"] == 1.0, what="connect")
    finally:
        broker.stop()


async def test_mqtt_311_delivers_the_same_payloads_without_user_properties(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """protocol = "3.1.1" works with the same topics and JSON payloads (the boot id is inside them)."""
    sub = Subscriber(broker.port, ["sensorcast/gw1/+/data"]).start()
    src = TestSource()
    try:
        async with bridge_running(
            mqtt_config(broker.url, protocol="3.1.1"), src, TestCommands(src), tmp_path
        ):
            sent = src.emit(30)
            await until(lambda: len(sub.snapshot()) >= 30, what="readings")
    finally:
        sub.stop()
    msgs = sub.snapshot()
    assert [json.loads(m.payload)["seq"] for m in msgs] == [r.seq for r in sent]
    assert {json.loads(m.payload)["boot"] for m in msgs} == {"boot1"} and all(not m.props for m in msgs)


async def test_mqtts_to_mosquittos_plain_listener_gets_the_tls_hint(broker: Mosquitto) -> None:
    """mqtts:// pointed at a real Mosquitto's plain listener (what a user gets from a wrong scheme): connect()
    fails with the hint naming the port and mqtt://, as against the scripted peer in tests/bridges/mqtt, and the
    broker keeps serving plain clients."""
    cfg = MqttConfig(
        host="127.0.0.1", port=broker.port, protocol="3.1.1", tls=True, connect_timeout_s=scaled(5.0)
    )
    conn = PahoConnection(cfg, "wrong-scheme")
    with pytest.raises(
        MqttClientError, match=f"is port {broker.port} a TLS listener\\? use mqtt:// for a plain one"
    ):
        await asyncio.wait_for(conn.connect(), scaled(15.0))
    assert (conn.connected, conn.closed.is_set()) == (False, True)
    plain = PahoConnection(replace(cfg, tls=False), "right-scheme")
    await asyncio.wait_for(plain.connect(), scaled(10.0))
    assert plain.connected
    plain.close()
    await asyncio.wait_for(plain.closed.wait(), scaled(5.0))
