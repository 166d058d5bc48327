"""Constants for the Jarvis integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "jarvis"
LOGGER = logging.getLogger(__package__)

CONF_API_TOKEN: Final = "api_token"  # noqa: S105 - a config key, not a secret
CONF_ADDON_SLUG: Final = "addon_slug"

# How the add-on is reached when it announces itself through the Supervisor.
ADDON_DISCOVERY_SCHEME: Final = "http"

# Every call to the add-on is bounded; health is cheap, so a short timeout.
ADDON_TIMEOUT: Final = 10.0
HEALTH_INTERVAL: Final = timedelta(seconds=30)

# MQTT contract (DESIGN.md): the add-on's last will on this topic says whether it is alive.
MQTT_STATUS_TOPIC: Final = "jarvis/status"
STATUS_ONLINE: Final = "online"
STATUS_OFFLINE: Final = "offline"

SERVICE_GET_ADDON_STATUS: Final = "get_addon_status"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
