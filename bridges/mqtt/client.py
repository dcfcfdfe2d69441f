"""One MQTT connection: paho-mqtt driven from the running asyncio loop (the aiomqtt 2.x pattern).

There is no paho network thread: the socket is registered with ``loop.add_reader``/``add_writer`` through
paho's ``on_socket_*`` callbacks, writes are coalesced into one ``loop_write`` per loop iteration, and
``loop_misc`` (keepalive pings, dead-connection detection) runs from a loop timer. Only the blocking part of
``connect()`` (DNS, TCP connect, TLS handshake) runs in the loop's default executor, as aiomqtt does; socket
registrations it triggers are applied on the loop thread once it returns, so paho is never touched by two
threads at once.

A :class:`PahoConnection` is used for exactly one connection: after a disconnect the bridge builds a new one,
so paho's in-memory session (which would re-send its own copy of in-flight messages) never mixes with the
outbox, which is the single source of what still has to be sent.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bridges.mqtt.config import MqttConfig
from sensors.errors import SensorcastError

log = logging.getLogger(__name__)

MISC_PERIOD_S = 1.0
"""loop_misc period: keepalive pings and timeouts have 1 s resolution (keepalive is >= 5 s)."""

OnMessage = Callable[[str, bytes], None]
OnAck = Callable[[int, bool], None]


class MqttClientError(SensorcastError, ConnectionError):
    """The broker could not be reached, refused the connection, or the connection is gone."""


class PahoConnection:
    """A single MQTT connection on the running loop.

    Args:
        cfg: bridge settings (host, port, credentials, TLS, protocol, keepalive).
        client_id: MQTT client id.
        will: ``(topic, payload)`` of a retained QoS 1 Last Will, or None.
        on_message: called on the loop with ``(topic, payload)`` of every received message.
        on_ack: called on the loop with ``(mid, ok)`` when a QoS 1 publish is acknowledged (PUBACK), or a
            QoS 0 publish was written; ``ok`` is False when an MQTT 5 broker answered with an error code.
        session_expiry_s: 0 (the default) starts a clean session; above 0 the broker keeps this client id's
            session (its subscriptions and the QoS 1 messages it missed) while it is away: MQTT 5 session
            expiry interval in seconds, ``clean_session=False`` for MQTT 3.1.1 (kept until the broker's own
            ``persistent_client_expiration``). Only a subscriber (the fleet) asks for one.
    """

    def __init__(
        self,
        cfg: MqttConfig,
        client_id: str,
        *,
        will: tuple[str, bytes] | None = None,
        on_message: OnMessage | None = None,
        on_ack: OnAck | None = None,
        session_expiry_s: int = 0,
    ) -> None:
        self.cfg = cfg
        self._session_expiry_s = session_expiry_s
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._v5 = cfg.protocol == "5"
        self._on_message_cb = on_message
        self._on_ack_cb = on_ack
        self._deferred: list[Callable[[], None]] = []
        self._deferred_lock = threading.Lock()
        self._sock: Any = None
        self._reader = False
        self._writer = False
        self._write_scheduled = False
        self._in_write = False
        self._misc_handle: asyncio.TimerHandle | None = None
        self._connack: asyncio.Future[Any] | None = None
        self._props: dict[str, Properties] = {}
        self.receive_maximum = 65535
        """The broker's Receive Maximum (MQTT 5 CONNACK); callers keep their in-flight window below it."""
        self.closed = asyncio.Event()
        """Set when the connection is gone (or never came up)."""
        self.disconnect_reason = ""
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if self._v5 else mqtt.MQTTv311,
            clean_session=None if self._v5 else session_expiry_s == 0,
        )
        c.connect_timeout = cfg.connect_timeout_s
        c.max_inflight_messages_set(0)  # the bridge bounds its own window; paho must not queue behind it
        if cfg.username is not None:
            c.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            c.tls_set(
                ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
                certfile=str(cfg.cert_file) if cfg.cert_file else None,
                keyfile=str(cfg.key_file) if cfg.key_file else None,
            )
            c.tls_insecure_set(cfg.tls_insecure)
        if will is not None:
            c.will_set(will[0], will[1], qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write
        self.client = c

    # -- connecting --------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True between a successful CONNACK and the loss of the connection."""
        return not self.closed.is_set() and self._connack is not None and self._connack.done()

    async def connect(self) -> None:
        """Open the connection and wait for a successful CONNACK.

        Raises:
            MqttClientError: unreachable, TLS failure, refused (bad credentials...), or no CONNACK in time.
        """
        self._connack = self._loop.create_future()
        kwargs: dict[str, Any] = {}
        if self._v5:
            kwargs["clean_start"] = self._session_expiry_s == 0
            if self._session_expiry_s:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = self._session_expiry_s
                kwargs["properties"] = props
        try:
            await self._loop.run_in_executor(
                None,
                lambda: self.client.connect(
                    self.cfg.host, self.cfg.broker_port, self.cfg.keepalive_s, **kwargs
                ),
            )
            self._run_deferred()
            async with asyncio.timeout(self.cfg.connect_timeout_s):
                reason = await self._connack
        except (OSError, ssl.SSLError) as exc:  # OSError covers refused/unreachable/DNS/timeout
            self._abort(f"cannot connect: {exc}")
            hint = ""
            if self.cfg.tls and isinstance(exc, ssl.SSLError | ConnectionResetError | BrokenPipeError):
                # A plain listener answers a TLS ClientHello by closing: say which side is likely wrong.
                hint = f" (is port {self.cfg.broker_port} a TLS listener? use mqtt:// for a plain one)"
            raise MqttClientError(
                f"cannot connect to {self.cfg.host}:{self.cfg.broker_port}: {exc}{hint}"
            ) from exc
        except BaseException:
            self._abort("connect cancelled")
            raise
        if reason is not None:
            self._abort(f"refused: {reason}")
            raise MqttClientError(
                f"broker {self.cfg.host}:{self.cfg.broker_port} refused the connection: {reason}"
            )
        self._misc_handle = self._loop.call_later(MISC_PERIOD_S, self._misc)

    def _abort(self, reason: str) -> None:
        self._run_deferred()
        self.disconnect_reason = self.disconnect_reason or reason
        self.client._sock_close()  # paho has no public 'drop the socket' call
        self._closed()

    def _closed(self) -> None:
        if self._misc_handle is not None:
            self._misc_handle.cancel()
            self._misc_handle = None
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(MqttClientError(self.disconnect_reason or "connection lost"))
            self._connack.exception()  # retrieved: nobody may be waiting any more
        self.closed.set()

    def close(self) -> None:
        """Disconnect cleanly (no Last Will) if connected, then release the socket. Idempotent."""
        if self.connected:
            self.client.disconnect()
            self._flush_write()
        self._abort("closed by the gateway")

    # -- publishing --------------------------------------------------------------------------------------

    def publish(
        self, topic: str, payload: bytes, qos: int, retain: bool = False, boot: str | None = None
    ) -> int:
        """Queue one PUBLISH and return its message id (acknowledged later through ``on_ack``).

        ``boot`` is attached as the MQTT 5 user property ``boot`` (ignored for MQTT 3.1.1).

        Raises:
            MqttClientError: not connected.
        """
        if not self.connected:
            raise MqttClientError("not connected")
        props = None
        if boot is not None and self._v5:
            props = self._props.get(boot)
            if props is None:
                props = self._props[boot] = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                props.UserProperty = [("boot", boot)]
        info = self.client.publish(topic, payload, qos, retain, props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise MqttClientError(f"publish failed: {mqtt.error_string(info.rc)}")
        return int(info.mid)

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe (the SUBACK is not awaited: a refused filter only means no messages arrive)."""
        if self.connected:
            self.client.subscribe(topic_filter, qos)

    # -- paho callbacks (all on the loop thread, except socket ones during connect) ------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self._connack is None or self._connack.done():
            return
        if reason.is_failure:
            self._connack.set_result(str(reason))
            return
        rmax = getattr(props, "ReceiveMaximum", None) if props is not None else None
        if isinstance(rmax, int) and rmax > 0:
            self.receive_maximum = rmax
        self._connack.set_result(None)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.disconnect_reason = self.disconnect_reason or str(reason)
        self._closed()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        if self._on_ack_cb is not None:
            self._on_ack_cb(mid, not reason.is_failure)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if self._on_message_cb is not None:
            self._on_message_cb(msg.topic, bytes(msg.payload))

    def _on_loop(self, fn: Callable[[], None]) -> None:
        if threading.get_ident() == self._loop_thread:
            fn()
        else:
            with self._deferred_lock:
                self._deferred.append(fn)

    def _run_deferred(self) -> None:
        with self._deferred_lock:
            todo, self._deferred = self._deferred, []
        for fn in todo:
            fn()

    def _on_socket_open(self, client: Any, userdata: Any, sock: Any) -> None:
        def register() -> None:
            self._sock = sock
            self._loop.add_reader(sock, self._readable)
            self._reader = True

        self._on_loop(register)

    def _on_socket_close(self, client: Any, userdata: Any, sock: Any) -> None:
        def unregister() -> None:
            if self._reader:
                self._loop.remove_reader(sock)
                self._reader = False
            if self._writer:
                self._loop.remove_writer(sock)
                self._writer = False
            self._sock = None

        self._on_loop(unregister)

    def _on_register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        self._on_loop(self._want_write)

    def _on_unregister_write(self, client: Any, userdata: Any, sock: Any) -> None:
        def unregister() -> None:
            if self._writer:
                self._loop.remove_writer(sock)
                self._writer = False

        self._on_loop(unregister)

    # -- I/O pump ----------------------------------------------------------------------------------------

    def _want_write(self) -> None:
        # Coalesce every publish of this loop iteration into one write; fall back to add_writer only when the
        # socket buffer is full.
        if self._in_write or self._writer or self._write_scheduled:
            return
        self._write_scheduled = True
        self._loop.call_soon(self._flush_write)

    def _flush_write(self) -> None:
        self._write_scheduled = False
        if self._sock is None:
            return
        self._in_write = True
        try:
            self.client.loop_write()
        finally:
            self._in_write = False
        if self._sock is not None and self.client.want_write() and not self._writer:
            self._loop.add_writer(self._sock, self._writable)
            self._writer = True

    def _writable(self) -> None:
        self._in_write = True
        try:
            self.client.loop_write()
        finally:
            self._in_write = False
        if self._writer and not self.client.want_write() and self._sock is not None:
            self._loop.remove_writer(self._sock)
            self._writer = False

    def _readable(self) -> None:
        self.client.loop_read()

    def _misc(self) -> None:
        self._misc_handle = None
        if self.closed.is_set():
            return
        self.client.loop_misc()
        if not self.closed.is_set():
            self._misc_handle = self._loop.call_later(MISC_PERIOD_S, self._misc)
