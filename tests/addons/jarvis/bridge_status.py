"""What the add-on's API reads from the MQTT bridge, for tests of the API alone.

The real bridge is exercised in test_mqtt.py; these tests only need its status fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from jarvis_addon.mqtt import Broker


@dataclass
class BridgeStatus:
    """The bridge's status fields (ApiState.mqtt)."""

    connected: bool = True
    reconnects: int = 0
    broker: Broker | None = None
    client_id: str = "jarvis-addon-test"
