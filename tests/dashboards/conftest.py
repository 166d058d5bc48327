"""The dashboards are checked against a real HA with Jarvis: reuse the integration's fixtures."""

from __future__ import annotations

from tests.custom_components.jarvis.conftest import (  # noqa: F401 - fixtures
    auto_enable_custom_integrations,
    ha_core,
    mosquitto,
    prometheus_registry,
    real_loopback_sockets,
    session_worker,
)
from tests.support.printer_peers import octoprint, octoprint_server  # noqa: F401 - fixtures
