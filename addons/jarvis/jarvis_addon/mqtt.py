"""MQTT bridge: one long-lived broker connection that announces the add-on's presence.

`jarvis/status` is `online` (retained) while connected and `offline` (retained) otherwise: the
broker publishes the last will when the connection dies, and a graceful stop publishes it itself
(a clean DISCONNECT suppresses the will). The bridge reconnects forever with capped exponential
backoff; a broker outage never stops the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import logging
import secrets
import ssl
from typing import Final

import aiomqtt

_LOGGER = logging.getLogger(__name__)

# Topics (DESIGN.md "Contracts"). Everything the add-on publishes or reads lives under this prefix.
TOPIC_PREFIX: Final = "jarvis"
STATUS_TOPIC: Final = f"{TOPIC_PREFIX}/status"
STATUS_ONLINE: Final = "online"
STATUS_OFFLINE: Final = "offline"
STATUS_QOS: Final = 1


def device_topic(device_id: str, leaf: str) -> str:
    """`jarvis/devices/<device_id>/<leaf>`, leaf being `cmd`, `ack` or `state`."""
    return f"{TOPIC_PREFIX}/devices/{device_id}/{leaf}"


def cv_event_topic(camera_id: str) -> str:
    """`jarvis/cv/<camera_id>/event`: CV warnings and failures (not retained)."""
    return f"{TOPIC_PREFIX}/cv/{camera_id}/event"


class BrokerUnavailableError(Exception):
    """The broker's address or credentials could not be obtained (e.g. the Supervisor is down)."""


@dataclass(frozen=True, slots=True)
class Broker:
    """Where and how to connect. The password is kept out of repr (and so out of logs)."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    protocol: str = "3.1.1"
    source: str = "options"


BrokerResolver = Callable[[], Awaitable[Broker]]
MessageHandler = Callable[[aiomqtt.Message], Awaitable[None]]
ConnectHandler = Callable[[], Awaitable[None]]
PENDING_LIMIT: Final = 500  # non-retained messages kept while disconnected (acks, events)


class MqttBridge:
    """Keeps one aiomqtt connection up; `connected` and `reconnects` feed the health endpoint."""

    def __init__(
        self,
        resolve: BrokerResolver,
        *,
        client_id: str | None = None,
        keepalive: int = 60,
        reconnect_min: float = 1.0,
        reconnect_max: float = 30.0,
        timeout: float = 10.0,
        clean_session: bool = True,
    ) -> None:
        """Set up; nothing connects before start().

        With clean_session False (and a stable client_id) the broker keeps the subscriptions and
        queues QoS 1 messages while the bridge is away, delivering them after the reconnect.
        """
        self._resolve = resolve
        self.client_id = client_id or f"jarvis-addon-{secrets.token_hex(4)}"
        self._keepalive = keepalive
        self._reconnect_min = min(reconnect_min, reconnect_max)
        self._reconnect_max = reconnect_max
        self._timeout = timeout
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.reconnects = 0  # connection attempts after the first one (failed or lost before)
        self.broker: Broker | None = None
        self._session_connected = False
        self._clean_session = clean_session
        self._client: aiomqtt.Client | None = None
        self._subscriptions: dict[str, MessageHandler] = {}
        self._on_connect: list[ConnectHandler] = []
        self._retained: dict[str, tuple[bytes, int]] = {}  # latest per topic, resent on reconnect
        self._pending: list[tuple[str, bytes, int]] = []
        self._handlers: set[asyncio.Task[None]] = set()

    def subscribe(self, topic: str, handler: MessageHandler) -> None:
        """Call handler (as its own task) for every QoS 1 message on topic; before start()."""
        self._subscriptions[topic] = handler

    def on_connect(self, handler: ConnectHandler) -> None:
        """Run handler after every (re)connect (e.g. publish discovery again)."""
        self._on_connect.append(handler)

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish now, or keep it for the next connection (retained: the latest per topic)."""
        data = payload.encode() if isinstance(payload, str) else payload
        if retain:
            self._retained[topic] = (data, qos)
        client = self._client
        if client is not None and self.connected:
            try:
                await client.publish(topic, data, qos=qos, retain=retain, timeout=self._timeout)
            except aiomqtt.MqttError as err:
                _LOGGER.debug("MQTT: publish to %s failed (%s); kept for the reconnect", topic, err)
            else:
                return
        if not retain:
            self._pending.append((topic, data, qos))
            del self._pending[:-PENDING_LIMIT]

    def start(self) -> None:
        """Start connecting in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="jarvis-mqtt-bridge")

    async def stop(self, grace: float = 5.0) -> None:
        """Publish `offline`, disconnect and wait for the bridge to finish (cancel it after grace s)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            _LOGGER.warning("MQTT bridge did not stop within %.1f s; cancelling it", grace)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay = self._reconnect_min
        attempt = 0
        while not self._stopping.is_set():
            if attempt:
                self.reconnects += 1
                _LOGGER.info("MQTT: reconnect attempt %d", self.reconnects)
            attempt += 1
            self._session_connected = False
            where = "the broker"
            try:
                broker = await self._resolve()
                self.broker = broker
                where = f"{broker.host}:{broker.port}"
                await self._session(broker)
            except (aiomqtt.MqttError, BrokerUnavailableError) as err:
                if self._stopping.is_set():
                    return
                if self._session_connected:
                    # It worked until now: retry soon, then back off again.
                    delay = self._reconnect_min
                    _LOGGER.warning(
                        "MQTT: connection to %s lost (%s); reconnecting in %.1f s",
                        where,
                        err,
                        delay,
                    )
                else:
                    _LOGGER.warning(
                        "MQTT: cannot connect to %s (%s); retrying in %.1f s", where, err, delay
                    )
            except Exception:  # a bug must not end the bridge: log it (with traceback) and retry
                if self._stopping.is_set():
                    return
                _LOGGER.exception("MQTT: unexpected error; retrying in %.1f s", delay)
            else:
                return  # _session returns normally only when a stop was requested
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, self._reconnect_max)

    async def _session(self, broker: Broker) -> None:
        """One connection: online on connect, wait for stop or loss, offline on stop."""
        client = aiomqtt.Client(
            broker.host,
            broker.port,
            username=broker.username,
            password=broker.password,
            identifier=self.client_id,
            clean_session=self._clean_session,
            protocol=aiomqtt.ProtocolVersion.V31
            if broker.protocol == "3.1"
            else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(STATUS_TOPIC, STATUS_OFFLINE, qos=STATUS_QOS, retain=True),
            keepalive=self._keepalive,
            timeout=self._timeout,
            tls_context=ssl.create_default_context() if broker.tls else None,
        )
        async with client:
            await client.publish(STATUS_TOPIC, STATUS_ONLINE, qos=STATUS_QOS, retain=True)
            for topic in self._subscriptions:
                await client.subscribe(topic, qos=1)
            self._client = client
            self._session_connected = self.connected = True
            await self._after_connect(client)
            _LOGGER.info(
                "MQTT: connected to %s:%d (from %s) as %s; %s=%s",
                broker.host,
                broker.port,
                broker.source,
                self.client_id,
                STATUS_TOPIC,
                STATUS_ONLINE,
            )
            try:
                await self._until_stop_or_loss(client)
            finally:
                self.connected = False
                self._client = None
            try:
                await client.publish(
                    STATUS_TOPIC, STATUS_OFFLINE, qos=STATUS_QOS, retain=True, timeout=3
                )
                _LOGGER.info("MQTT: published %s=%s; disconnecting", STATUS_TOPIC, STATUS_OFFLINE)
            except aiomqtt.MqttError as err:
                _LOGGER.warning("MQTT: could not publish %s on shutdown (%s)", STATUS_OFFLINE, err)

    async def _until_stop_or_loss(self, client: aiomqtt.Client) -> None:
        """Return when a stop is requested; raise MqttError when the connection drops."""

        # Iterating messages is how aiomqtt reports a lost connection; subscriptions for
        # device commands will be consumed here too.
        async def drain() -> None:
            async for message in client.messages:
                self._dispatch(message)
            raise aiomqtt.MqttError(
                "message stream ended"
            )  # pragma: no cover - the iterator never ends cleanly

        loss = asyncio.create_task(drain())
        stop = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({loss, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (loss, stop):
                task.cancel()
            await asyncio.gather(loss, stop, return_exceptions=True)
        if loss.done() and not loss.cancelled() and (err := loss.exception()) is not None:
            raise err

    async def _after_connect(self, client: aiomqtt.Client) -> None:
        """Resend retained state and queued messages, then run the on_connect handlers."""
        pending, self._pending = self._pending, []
        for topic, (data, qos) in list(self._retained.items()):
            await client.publish(topic, data, qos=qos, retain=True, timeout=self._timeout)
        for topic, data, qos in pending:
            await client.publish(topic, data, qos=qos, timeout=self._timeout)
        for handler in self._on_connect:
            try:
                await handler()
            except Exception:  # a handler's bug must not drop the connection
                _LOGGER.exception("MQTT: on-connect handler failed")

    def _dispatch(self, message: aiomqtt.Message) -> None:
        for pattern, handler in self._subscriptions.items():
            if message.topic.matches(pattern):
                task = asyncio.create_task(self._run_handler(handler, message))
                self._handlers.add(task)
                task.add_done_callback(self._handlers.discard)

    async def _run_handler(self, handler: MessageHandler, message: aiomqtt.Message) -> None:
        try:
            await handler(message)
        except Exception:  # one bad message must not end the bridge
            _LOGGER.exception("MQTT: handler for %s failed", message.topic)
