"""Home Assistant MQTT discovery for each printer: sensors, buttons and the webcam image.

Pure: builds (topic, config) pairs; the MQTT bridge publishes them retained. Entities are
available only while the add-on is online (jarvis/status) AND the printer answers
(jarvis/devices/<id>/availability).
"""

from __future__ import annotations

import json
from typing import Any, Final

from .. import __version__
from ..settings import PrinterConfig
from .base import STATES

DISCOVERY_PREFIX: Final = "homeassistant"
STATUS_TOPIC: Final = "jarvis/status"


def device_topic(device_id: str, leaf: str) -> str:
    """`jarvis/devices/<id>/<leaf>` (cmd, ack, state, availability, event, snapshot)."""
    return f"jarvis/devices/{device_id}/{leaf}"


def _temp(key: str, field: str) -> str:
    return (
        "{% set t = value_json.temperatures.get('" + key + "') %}"
        "{{ t." + field + " if t and t." + field + " is not none else 'None' }}"
    )


def discovery_messages(printer: PrinterConfig) -> list[tuple[str, dict[str, Any]]]:
    """Every discovery config for one printer, as (topic, payload) pairs."""
    pid = printer.id
    node = f"jarvis_{pid}"
    state_topic = device_topic(pid, "state")
    common: dict[str, Any] = {
        "availability": [
            {"topic": STATUS_TOPIC},
            {"topic": device_topic(pid, "availability")},
        ],
        "availability_mode": "all",
        "device": {
            "identifiers": [f"jarvis_printer_{pid}"],
            "name": printer.name,
            "manufacturer": "Jarvis",
            "model": "OctoPrint printer"
            if printer.type == "octoprint"
            else "Klipper printer (Moonraker)",
            "sw_version": __version__,
            "configuration_url": printer.url,
        },
        "origin": {"name": "Jarvis add-on", "sw": __version__},
    }
    sensors: list[tuple[str, dict[str, Any]]] = [
        (
            "state",
            {
                "name": "State",
                "device_class": "enum",
                "options": list(STATES),
                "value_template": "{{ value_json.state }}",
                "icon": "mdi:printer-3d",
            },
        ),
        (
            "progress",
            {
                "name": "Progress",
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "value_template": "{{ value_json.progress if value_json.progress is not none else 'None' }}",
                "icon": "mdi:progress-clock",
            },
        ),
        (
            "eta",
            {
                "name": "Estimated finish",
                "device_class": "timestamp",
                "value_template": "{{ value_json.eta if value_json.eta else 'None' }}",
            },
        ),
        (
            "time_left",
            {
                "name": "Time left",
                "device_class": "duration",
                "unit_of_measurement": "s",
                "value_template": "{{ value_json.time_left_s if value_json.time_left_s is not none else 'None' }}",
            },
        ),
        (
            "file",
            {
                "name": "File",
                "value_template": "{{ value_json.file if value_json.file else 'None' }}",
                "icon": "mdi:file-code",
            },
        ),
    ]
    for key, label in (("tool0", "Nozzle"), ("bed", "Bed")):
        for field, suffix in (("actual", "temperature"), ("target", "target")):
            sensors.append(
                (
                    f"{key}_{field}",
                    {
                        "name": f"{label} {suffix}",
                        "device_class": "temperature",
                        "unit_of_measurement": "°C",
                        "state_class": "measurement",
                        "suggested_display_precision": 1,
                        "value_template": _temp(key, field),
                    },
                )
            )
    messages: list[tuple[str, dict[str, Any]]] = []
    for object_id, extra in sensors:
        messages.append(
            (
                f"{DISCOVERY_PREFIX}/sensor/{node}/{object_id}/config",
                {**common, **extra, "unique_id": f"{node}_{object_id}", "state_topic": state_topic},
            )
        )
    for command, icon in (("pause", "mdi:pause"), ("resume", "mdi:play"), ("cancel", "mdi:stop")):
        messages.append(
            (
                f"{DISCOVERY_PREFIX}/button/{node}/{command}/config",
                {
                    **common,
                    "name": command.capitalize(),
                    "unique_id": f"{node}_{command}",
                    "command_topic": device_topic(pid, "cmd"),
                    "payload_press": json.dumps({"command": command, "args": {"reason": "button"}}),
                    "qos": 1,
                    "icon": icon,
                },
            )
        )
    messages.append(
        (
            f"{DISCOVERY_PREFIX}/image/{node}/webcam/config",
            {
                **common,
                "name": "Webcam",
                "unique_id": f"{node}_webcam",
                "image_topic": device_topic(pid, "snapshot"),
                "content_type": "image/jpeg",
            },
        )
    )
    return messages
