"""Blueprint tests: real HA in-process with the integration's own fixtures (sockets, core, peers)."""

from __future__ import annotations

from tests.custom_components.jarvis.conftest import (
    auto_enable_custom_integrations,
    ha_core,
    mosquitto,
    real_loopback_sockets,
    session_worker,
)
from tests.support.printer_peers import moonraker

__all__ = [
    "auto_enable_custom_integrations",
    "ha_core",
    "moonraker",
    "mosquitto",
    "real_loopback_sockets",
    "session_worker",
]
