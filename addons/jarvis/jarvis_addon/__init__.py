"""Jarvis add-on worker: MQTT bridge and HTTP API that run next to Home Assistant."""

from __future__ import annotations

__version__ = "0.1.0"
