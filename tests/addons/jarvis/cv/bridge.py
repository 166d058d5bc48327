"""What the CV tests share: waiting on a condition, and a real MQTT bridge to the test broker."""

from __future__ import annotations

from collections.abc import Callable

from jarvis_addon.mqtt import Broker, MqttBridge
from tests.support.mosquitto import Mosquitto
from tests.support.wait import until as wait_until


async def until(
    check: Callable[[], object], timeout: float = 60.0, what: str = "condition"
) -> None:
    """Poll check every 20 ms until it is truthy (frames come every few hundred ms)."""
    await wait_until(check, timeout, what, interval=0.02)


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
