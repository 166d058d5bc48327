"""A test-side MQTT client (paho) that sends device commands and records acks, states and events."""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


class DeviceProbe:
    """Subscribes to jarvis/devices/# and homeassistant/#; `command()` publishes and awaits its ack."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.retained: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)
        self._subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-dev-{secrets.token_hex(4)}"
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=1)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, port, keepalive=10)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            self.close()
            raise TimeoutError("probe could not subscribe")

    def _on_connect(self, client: paho.Client, *_a: object) -> None:
        client.subscribe([("jarvis/devices/#", 1), ("homeassistant/#", 1)])

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self._new:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            if msg.retain or msg.topic.endswith(("/state", "/availability")):
                self.retained[msg.topic] = msg.payload
            self._new.notify_all()

    def publish(self, topic: str, payload: Any, qos: int = 1) -> None:
        data = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        self._client.publish(topic, data, qos=qos).wait_for_publish(10)

    def send(
        self,
        device: str,
        command: str,
        args: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> str:
        request_id = request_id or secrets.token_hex(8)
        self.publish(
            f"jarvis/devices/{device}/cmd",
            {"request_id": request_id, "command": command, "args": args or {}},
        )
        return request_id

    def acks(self, request_id: str) -> list[dict[str, Any]]:
        with self._lock:
            found = []
            for topic, payload, _ in self.messages:
                if topic.endswith("/ack"):
                    ack = json.loads(payload)
                    if ack.get("request_id") == request_id:
                        found.append(ack)
            return found

    def wait_ack(self, request_id: str, timeout: float = 20.0) -> dict[str, Any]:
        return self.wait(
            lambda: (a := self.acks(request_id)) and a[0], timeout, f"ack {request_id}"
        )

    def command(
        self, device: str, command: str, args: dict[str, Any] | None = None, timeout: float = 20.0
    ) -> dict[str, Any]:
        return self.wait_ack(self.send(device, command, args), timeout)

    def state(self, device: str) -> dict[str, Any] | None:
        with self._lock:
            raw = self.retained.get(f"jarvis/devices/{device}/state")
        return json.loads(raw) if raw else None

    def availability(self, device: str) -> str | None:
        with self._lock:
            raw = self.retained.get(f"jarvis/devices/{device}/availability")
        return raw.decode() if raw is not None else None

    def events(self, device: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                json.loads(p) for t, p, _ in self.messages if t == f"jarvis/devices/{device}/event"
            ]

    def wait(self, check: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"{what} not seen within {timeout}s; last messages: {self.messages[-5:]}"
                )
            with self._new:
                self._new.wait(min(left, 0.2))

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
