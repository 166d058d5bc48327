"""What the CV tests share: waiting on a condition, and a real MQTT bridge to the test broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import time

from jarvis_addon.mqtt import Broker, MqttBridge
from tests.support.mosquitto import Mosquitto


async def until(
    check: Callable[[], object], timeout: float = 60.0, what: str = "condition"
) -> None:
    """Poll check until it is truthy; AssertionError naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(0.02)


async def started_bridge(broker: Mosquitto, *, connected: bool = True) -> MqttBridge:
    """A bridge to the test broker, started (and, by default, connected)."""
    target = Broker(broker.host, broker.port)

    async def resolve() -> Broker:
        return target

    bridge = MqttBridge(resolve, keepalive=5, reconnect_min=0.1, reconnect_max=0.3)
    bridge.start()
    if connected:
        await until(lambda: bridge.connected, 10, "MQTT connected")
    return bridge
