"""A plain paho subscriber for tests (its own network thread: it plays an independent consumer, like Home
Assistant or Telegraf would be, not part of the gateway)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from tests.conftest import scaled


class Message:
    """A received message."""

    def __init__(self, topic: str, payload: bytes, retain: bool, props: dict[str, str]) -> None:
        self.topic = topic
        self.payload = payload
        self.retain = retain
        self.props = props

    def __repr__(self) -> str:
        return f"Message({self.topic!r}, {self.payload[:60]!r}, retain={self.retain})"


class Subscriber:
    """Subscribes to ``filters`` at QoS 1; with ``persistent`` its session (and queued messages) survive its
    own reconnects and graceful broker restarts (the broker runs with persistence)."""

    def __init__(
        self, port: int, filters: list[str], client_id: str = "test-sub", persistent: bool = True
    ) -> None:
        self.filters = filters
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_disconnect = lambda *a: self.connected.clear()
        self.c.reconnect_delay_set(1, 1)
        self.port = port
        self.persistent = persistent

    def _on_connect(self, c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
        if not flags.session_present:
            for f in self.filters:  # retainAsPublished: a live retained publish still shows retain=True
                c.subscribe(f, options=SubscribeOptions(qos=1, retainAsPublished=True))
        self.connected.set()

    def _on_message(self, c: Any, u: Any, msg: Any) -> None:
        props = dict(getattr(msg.properties, "UserProperty", []) or []) if msg.properties else {}
        with self.lock:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain), props))

    def start(self) -> Subscriber:
        """Connect and start the network thread; returns once subscribed."""
        props = None
        if self.persistent:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 3600
        self.c.connect("127.0.0.1", self.port, keepalive=5, clean_start=not self.persistent, properties=props)
        self.c.loop_start()
        assert self.connected.wait(scaled(5)), "subscriber did not connect"
        time.sleep(0.1)  # SUBACK
        return self

    def stop(self) -> None:
        """Disconnect and join the network thread."""
        self.c.disconnect()
        self.c.loop_stop()

    def snapshot(self) -> list[Message]:
        """A copy of what arrived so far."""
        with self.lock:
            return list(self.messages)

    def wait_for(self, pred: Callable[[list[Message]], bool], timeout_s: float = 5.0) -> list[Message]:
        """Wait until ``pred(messages)`` holds; return the messages (raises AssertionError on timeout)."""
        deadline = time.monotonic() + scaled(timeout_s)
        while time.monotonic() < deadline:
            snap = self.snapshot()
            if pred(snap):
                return snap
            time.sleep(0.02)
        snap = self.snapshot()
        raise AssertionError(f"timed out; {len(snap)} messages, last: {snap[-3:]}")
