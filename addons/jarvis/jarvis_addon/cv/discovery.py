"""Home Assistant MQTT discovery for each watched camera (pure: (topic, config) pairs).

One device per camera, named after the printer it watches ("<printer name> camera", linked to the
printer's device), with: the monitor's state, the failure score, a failure problem sensor, an
event entity for warnings/failures and a live camera showing the latest frame with the detection
drawn on it. Default entity ids for printer "Printer 1": `sensor.printer_1_camera_print_monitor`,
`sensor.printer_1_camera_failure_score`, `binary_sensor.printer_1_camera_print_failure`,
`event.printer_1_camera_print_monitor_event`, `camera.printer_1_camera_live_view`.
"""

from __future__ import annotations

from typing import Any, Final

from .. import __version__
from ..mqtt import cv_event_topic
from .monitor import MonitorState

DISCOVERY_PREFIX: Final = "homeassistant"
STATUS_TOPIC: Final = "jarvis/status"
# The monitor is failing the print: a pause it made, or a warning it is raising now.
FAILURE_STATES: Final = (MonitorState.WARNING.value, MonitorState.PAUSED_BY_CV.value)


def cv_topic(camera_id: str, leaf: str) -> str:
    """`jarvis/cv/<camera>/<leaf>` (state: retained JSON; live: retained JPEG)."""
    return f"jarvis/cv/{camera_id}/{leaf}"


def discovery_messages(
    camera_id: str, printer_id: str, printer_name: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """Every discovery config for one camera, as (topic, payload) pairs."""
    node = f"jarvis_cv_{camera_id}"
    state_topic = cv_topic(camera_id, "state")
    device: dict[str, Any] = {
        "identifiers": [f"jarvis_camera_{camera_id}"],
        "name": f"{printer_name} camera" if printer_name else camera_id,
        "manufacturer": "Jarvis",
        "model": "Print failure monitor",
        "sw_version": __version__,
    }
    if printer_name:
        device["via_device"] = f"jarvis_printer_{printer_id}"
    common: dict[str, Any] = {
        "availability_topic": STATUS_TOPIC,
        "device": device,
        "origin": {"name": "Jarvis add-on", "sw": __version__},
    }
    entities: list[tuple[str, str, dict[str, Any]]] = [
        (
            "sensor",
            "state",
            {
                "name": "Print monitor",
                "device_class": "enum",
                "options": [s.value for s in MonitorState],
                "state_topic": state_topic,
                "value_template": "{{ value_json.state }}",
                "json_attributes_topic": state_topic,
                "icon": "mdi:cctv",
            },
        ),
        (
            "sensor",
            "score",
            {
                "name": "Failure score",
                "state_class": "measurement",
                "state_topic": state_topic,
                "value_template": "{{ value_json.score }}",
                "suggested_display_precision": 2,
                "icon": "mdi:alert-decagram-outline",
            },
        ),
        (
            "binary_sensor",
            "failure",
            {
                "name": "Print failure",
                "device_class": "problem",
                "state_topic": state_topic,
                "value_template": "{{ 'ON' if value_json.state in "
                + repr(list(FAILURE_STATES))
                + " else 'OFF' }}",
            },
        ),
        (
            "event",
            "event",
            {
                "name": "Print monitor event",
                "state_topic": cv_event_topic(camera_id),
                "event_types": ["warning", "failure"],
                # The add-on's event payload says `level`; HA's event entity wants `event_type`.
                "value_template": "{{ {'event_type': value_json.level, 'kind': value_json.kind,"
                " 'score': value_json.score, 'paused': value_json.paused,"
                " 'time': value_json.time} | to_json }}",
                "icon": "mdi:printer-3d-nozzle-alert",
            },
        ),
        (
            "camera",
            "live",
            {"name": "Live view", "topic": cv_topic(camera_id, "live")},
        ),
    ]
    return [
        (
            f"{DISCOVERY_PREFIX}/{component}/{node}/{object_id}/config",
            {**common, **extra, "unique_id": f"{node}_{object_id}"},
        )
        for component, object_id, extra in entities
    ]
