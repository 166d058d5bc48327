"""CV events from the add-on: `jarvis/cv/<camera>/event` over MQTT -> `jarvis_cv_event` in HA.

On a failure (the add-on paused the print) the camera's configured failure scene is turned on,
if it names an existing `scene.` entity; the add-on only names it, HA decides it exists.
"""

from __future__ import annotations

import json
from typing import Any

from homeassistant.components import mqtt
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from .const import EVENT_CV, LOGGER, MQTT_CV_EVENT_TOPIC

_LEVELS = ("warning", "failure")
_FIELDS = (
    "camera",
    "printer_id",
    "level",
    "kind",
    "score",
    "box",
    "paused",
    "pause_error",
    "evidence",
    "time",
)


def parse_cv_event(topic: str, payload: str | bytes | bytearray) -> dict[str, Any] | None:
    """The event data to fire, or None (logged) when the message is not a valid CV event."""
    parts = topic.split("/")
    text = payload if isinstance(payload, str) else payload.decode(errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        LOGGER.warning("Ignoring CV event on %s: not JSON", topic)
        return None
    if not isinstance(data, dict) or data.get("level") not in _LEVELS:
        LOGGER.warning("Ignoring CV event on %s: no level warning/failure", topic)
        return None
    event = {key: data.get(key) for key in _FIELDS}
    event["camera"] = parts[2] if len(parts) == 4 else data.get("camera")
    scene = data.get("failure_scene")
    event["failure_scene"] = (
        scene if isinstance(scene, str) and scene.startswith("scene.") else None
    )
    return event


async def async_setup_cv_events(hass: HomeAssistant) -> CALLBACK_TYPE | None:
    """Subscribe when HA's MQTT client is up; returns the unsubscribe callable (None without MQTT)."""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        LOGGER.debug("MQTT not set up: CV events from the add-on are not received")
        return None

    @callback
    def on_message(msg: mqtt.ReceiveMessage) -> None:
        event = parse_cv_event(msg.topic, msg.payload)
        if event is None:
            return
        hass.bus.async_fire(EVENT_CV, event)
        scene = event["failure_scene"]
        if event["level"] == "failure" and scene:
            hass.async_create_task(_run_scene(hass, scene), eager_start=True)

    return await mqtt.async_subscribe(hass, MQTT_CV_EVENT_TOPIC, on_message, qos=1)


async def _run_scene(hass: HomeAssistant, scene: str) -> None:
    if hass.states.get(scene) is None:
        LOGGER.warning("CV failure scene %s does not exist; not run", scene)
        return
    try:
        await hass.services.async_call("scene", "turn_on", {ATTR_ENTITY_ID: scene}, blocking=True)
    except HomeAssistantError as err:
        LOGGER.error("CV failure scene %s failed: %s", scene, err)
