"""A test-side MQTT subscriber (paho, its own network thread) that records one topic."""

from __future__ import annotations

import queue
import secrets
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
import paho.mqtt.publish as paho_publish

STATUS_TOPIC = "jarvis/status"  # literal on purpose: the contract, not the add-on's constant


def clear_retained(host: str, port: int, topic: str = STATUS_TOPIC) -> None:
    """Remove a retained message (an empty retained payload deletes it)."""
    paho_publish.single(topic, payload=None, qos=1, retain=True, hostname=host, port=port)


class StatusProbe:
    """Subscribes on construction; `wait_for` pops messages until one matches."""

    def __init__(
        self, host: str, port: int, topic: str = STATUS_TOPIC, timeout: float = 10.0
    ) -> None:
        self.topic = topic
        self.seen: list[tuple[str, bool]] = []
        self._queue: queue.Queue[tuple[str, bool]] = queue.Queue()
        self._subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-probe-{secrets.token_hex(4)}"
        )
        # Short reconnect delays so the probe rides through broker restarts quickly.
        self._client.reconnect_delay_set(min_delay=1, max_delay=1)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, port, keepalive=10)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            self.close()
            raise TimeoutError(f"probe could not subscribe to {topic} on {host}:{port}")

    def _on_connect(self, client: paho.Client, *_args: object) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_message(self, _client: paho.Client, _userdata: object, msg: paho.MQTTMessage) -> None:
        item = (msg.payload.decode(), bool(msg.retain))
        self.seen.append(item)
        self._queue.put(item)

    def wait_for(
        self, payload: str, timeout: float = 10.0, retained: bool | None = None
    ) -> tuple[str, bool]:
        """Next message with this payload (and retain flag, if given); TimeoutError lists what came."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if item[0] == payload and (retained is None or item[1] == retained):
                return item
        raise TimeoutError(
            f"no {payload!r} (retained={retained}) on {self.topic} within {timeout}s; saw {self.seen}"
        )

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
