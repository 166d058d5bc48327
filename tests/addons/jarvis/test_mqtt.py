"""MqttBridge in-process against real Mosquitto, watched by an independent paho subscriber."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import time

import pytest

from jarvis_addon.mqtt import STATUS_TOPIC, Broker, BrokerUnavailableError, MqttBridge, device_topic
from tests.addons.mqtt_probe import StatusProbe, clear_retained
from tests.support.mosquitto import Mosquitto
from tests.support.wait import until as wait_until

Probe = Callable[[Mosquitto], StatusProbe]


def bridge_for(broker: Mosquitto, **kwargs: float) -> MqttBridge:
    target = Broker(broker.host, broker.port)

    async def resolve() -> Broker:
        return target

    return MqttBridge(resolve, keepalive=5, reconnect_min=0.1, reconnect_max=0.3, **kwargs)


async def until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll without blocking the loop (the bridge runs on it)."""
    await wait_until(check, timeout, what, interval=0.02)


async def in_thread[T](fn: Callable[[], T]) -> T:
    """Run a blocking probe call off the loop, so the bridge keeps running meanwhile."""
    return await asyncio.to_thread(fn)


def test_topics() -> None:
    assert STATUS_TOPIC == "jarvis/status"
    assert device_topic("mk4", "cmd") == "jarvis/devices/mk4/cmd"


@pytest.mark.asyncio
async def test_online_retained_then_offline_on_stop(broker: Mosquitto, probe: Probe) -> None:
    watcher = probe(broker)
    bridge = bridge_for(broker)
    assert bridge.client_id.startswith("jarvis-addon-")
    bridge.start()
    try:
        await until(lambda: bridge.connected, what="connected")
        assert await in_thread(lambda: watcher.wait_for("online")) == ("online", False)  # live
        late = await in_thread(lambda: StatusProbe(broker.host, broker.port))
        try:
            assert await in_thread(lambda: late.wait_for("online")) == ("online", True)  # retained
        finally:
            late.close()
        assert bridge.reconnects == 0
    finally:
        await bridge.stop()
    assert not bridge.connected
    await in_thread(lambda: watcher.wait_for("offline"))
    after = await in_thread(lambda: StatusProbe(broker.host, broker.port))
    try:
        assert await in_thread(lambda: after.wait_for("offline")) == ("offline", True)
    finally:
        after.close()


@pytest.mark.asyncio
async def test_broker_down_at_start_then_up(private_broker: Mosquitto) -> None:
    bridge = bridge_for(private_broker)
    bridge.start()
    try:
        await until(lambda: bridge.reconnects >= 2, what="two reconnect attempts")
        assert not bridge.connected
        private_broker.start()
        await until(lambda: bridge.connected, what="connected after the broker came up")
        watcher = await in_thread(lambda: StatusProbe(private_broker.host, private_broker.port))
        try:
            assert await in_thread(lambda: watcher.wait_for("online")) == ("online", True)
        finally:
            watcher.close()
    finally:
        await bridge.stop()


@pytest.mark.asyncio
async def test_broker_restart_reconnects_and_republishes(private_broker: Mosquitto) -> None:
    private_broker.start()
    bridge = bridge_for(private_broker)
    bridge.start()
    try:
        await until(lambda: bridge.connected, what="connected")
        # Remove the retained `online`, so seeing it after the restart proves a new publish.
        await in_thread(lambda: clear_retained(private_broker.host, private_broker.port))
        await in_thread(private_broker.stop)
        await until(lambda: not bridge.connected, what="disconnect noticed")
        before = bridge.reconnects
        await in_thread(private_broker.start)
        await until(lambda: bridge.connected, what="reconnected")
        assert bridge.reconnects > before
        watcher = await in_thread(lambda: StatusProbe(private_broker.host, private_broker.port))
        try:
            assert await in_thread(lambda: watcher.wait_for("online")) == ("online", True)
        finally:
            watcher.close()
    finally:
        await bridge.stop()


@pytest.mark.asyncio
async def test_resolver_failures_are_retried() -> None:
    calls = 0

    async def resolve() -> Broker:
        nonlocal calls
        calls += 1
        raise BrokerUnavailableError("Supervisor is down")

    bridge = MqttBridge(resolve, reconnect_min=0.05, reconnect_max=0.1)
    bridge.start()
    try:
        await until(lambda: calls >= 3, what="three resolver calls")
        assert not bridge.connected and bridge.reconnects >= 2
    finally:
        await bridge.stop(grace=2)


@pytest.mark.asyncio
async def test_unexpected_errors_do_not_end_the_bridge(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def resolve() -> Broker:
        nonlocal calls
        calls += 1
        raise RuntimeError("bug in a resolver")

    bridge = MqttBridge(resolve, reconnect_min=0.05, reconnect_max=0.1)
    bridge.start()
    try:
        await until(lambda: calls >= 2, what="a retry after an unexpected error")
    finally:
        await bridge.stop(grace=2)
    assert "MQTT: unexpected error" in caplog.text


@pytest.mark.asyncio
async def test_wrong_port_backs_off_and_stop_is_prompt(private_broker: Mosquitto) -> None:
    bridge = MqttBridge(
        lambda: _static(Broker("127.0.0.1", private_broker.port)),
        reconnect_min=0.1,
        reconnect_max=5,
    )
    bridge.start()
    await until(lambda: bridge.reconnects >= 2, what="backing off")
    started = time.monotonic()
    await bridge.stop()
    assert time.monotonic() - started < 1.0  # a stop interrupts the backoff wait


async def _static(broker: Broker) -> Broker:
    return broker
