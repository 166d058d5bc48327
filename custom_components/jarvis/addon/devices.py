"""Device commands to the add-on over MQTT, and the job events (with their scenes) coming back.

Every device command, from services, HTTP, LLM tools and anything else, goes through
`async_send_device_command`: it publishes `{request_id, command, args, user_id}` on
`jarvis/devices/<device_id>/cmd` (QoS 1) and waits for the add-on's `…/ack` with that request id.
A safety gate wraps this one function, so nothing may publish commands around it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import json
import re
import time
from typing import Any, Final
import uuid

from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util.hass_dict import HassKey

from ..const import DOMAIN, LOGGER
from ..safety.const import DEVICE_DOMAIN
from ..safety.gate import GateDecision, async_check_action, async_register_executor, device_action
from ..safety.policy import Action

DEVICE_TOPIC_PREFIX: Final = "jarvis/devices"
ACK_SUBSCRIPTION: Final = f"{DEVICE_TOPIC_PREFIX}/+/ack"
EVENT_SUBSCRIPTION: Final = f"{DEVICE_TOPIC_PREFIX}/+/event"
# Acks on this device id prove the ack subscription is live before the first command goes out.
PROBE_DEVICE: Final = "_jarvis_probe"
DEVICE_ID_RE: Final = re.compile(r"^[a-z0-9_]{1,32}$")
COMMAND_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
DEFAULT_COMMAND_TIMEOUT: Final = 30.0
SUBSCRIBE_TIMEOUT: Final = 10.0
RECONNECT_WAIT: Final = 10.0  # longest wait for HA's MQTT client to reconnect before a command
EVENT_PRINTER_JOB: Final = "jarvis_printer_job"
SCENE_EVENTS: Final = ("job_started", "job_finished", "job_failed")
_ACKS: HassKey[_AckListener] = HassKey(f"{DOMAIN}_device_acks")


def device_topic(device_id: str, leaf: str) -> str:
    """`jarvis/devices/<device_id>/<leaf>`."""
    return f"{DEVICE_TOPIC_PREFIX}/{device_id}/{leaf}"


class DeviceCommandError(HomeAssistantError):
    """The add-on answered the command with an error ack; `code` is its machine-readable error."""

    def __init__(self, device_id: str, command: str, code: str, message: str) -> None:
        """Translated message naming the device, the command and why."""
        # An English message as well: str() of a translated error without loaded translations
        # is its key, and callers (HTTP, LLM tools) show str().
        super().__init__(
            f"{device_id} refused {command} ({code}): {message}",
            translation_domain=DOMAIN,
            translation_key="device_command_failed",
            translation_placeholders={
                "device_id": device_id,
                "command": command,
                "error": code,
                "message": message,
            },
        )
        self.code = code
        self.detail = message


@dataclass(slots=True)
class _AckListener:
    """One wildcard ack subscription shared by all commands (per MQTT client)."""

    client: Any
    unsubscribe: CALLBACK_TYPE
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)

    @callback
    def on_ack(self, msg: mqtt.ReceiveMessage) -> None:
        if msg.topic == device_topic(PROBE_DEVICE, "ack"):
            self.ready.set()
            return
        try:
            ack = json.loads(msg.payload)
        except ValueError:
            LOGGER.warning("Ignoring a non-JSON ack on %s", msg.topic)
            return
        if not isinstance(ack, dict):
            return
        future = self.pending.get(str(ack.get("request_id")))
        if future is not None and not future.done():
            future.set_result(ack)


async def _ack_listener(hass: HomeAssistant) -> _AckListener:
    """The live ack subscription (made, and proven live with a probe, on first use)."""
    client = hass.data["mqtt"].client
    listener = hass.data.get(_ACKS)
    if listener is None or listener.client is not client:
        if listener is not None:
            listener.unsubscribe()
        holder: list[_AckListener] = []

        @callback
        def on_ack(msg: mqtt.ReceiveMessage) -> None:
            holder[0].on_ack(msg)

        unsub_acks = await mqtt.async_subscribe(hass, ACK_SUBSCRIPTION, on_ack, qos=1)

        @callback
        def on_connection(status: Any) -> None:
            # HA's client starts a clean session on every connect and resubscribes after a
            # short batching delay: until a probe comes back, acks could be missed.
            holder[0].ready.clear()

        unsub_status = mqtt.async_subscribe_connection_status(hass, on_connection)

        @callback
        def unsubscribe() -> None:
            unsub_acks()
            unsub_status()

        listener = _AckListener(client=client, unsubscribe=unsubscribe)
        holder.append(listener)
        hass.data[_ACKS] = listener
    if not listener.ready.is_set():
        # HA batches subscriptions (up to ~0.5 s): publish probes until one comes back.
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                while not listener.ready.is_set():
                    await mqtt.async_publish(
                        hass, device_topic(PROBE_DEVICE, "ack"), "probe", qos=0
                    )
                    try:
                        await asyncio.wait_for(listener.ready.wait(), 0.25)
                    except TimeoutError:
                        continue
        except TimeoutError as err:
            raise _mqtt_unavailable() from err
    return listener


def _mqtt_unavailable() -> HomeAssistantError:
    return HomeAssistantError(
        "MQTT is not set up or not connected; device commands travel over MQTT to the Jarvis add-on",
        translation_domain=DOMAIN,
        translation_key="mqtt_unavailable",
    )


async def _wait_connected(hass: HomeAssistant, limit: float) -> None:
    """Ride out a broker blip: HA's MQTT client reconnects within seconds."""
    if mqtt.is_connected(hass):
        return
    connected = asyncio.Event()

    @callback
    def on_status(status: Any) -> None:
        if mqtt.is_connected(hass):
            connected.set()

    unsub = mqtt.async_subscribe_connection_status(hass, on_status)
    try:
        async with asyncio.timeout(limit):
            while not mqtt.is_connected(hass):
                connected.clear()
                await connected.wait()
    except TimeoutError as err:
        raise _mqtt_unavailable() from err
    finally:
        unsub()


def validate_device_command(device_id: Any, command: Any, args: Any) -> None:
    """ServiceValidationError naming what is wrong with a command before it is sent."""
    if not isinstance(device_id, str) or not DEVICE_ID_RE.match(device_id):
        raise ServiceValidationError(
            f"{str(device_id)[:64]} is not a device id (lowercase letters, digits and _; at most 32)",
            translation_domain=DOMAIN,
            translation_key="invalid_device_id",
            translation_placeholders={"device_id": str(device_id)[:64]},
        )
    if not isinstance(command, str) or not COMMAND_RE.match(command):
        raise ServiceValidationError(
            f"{str(command)[:64]} is not a command name (lowercase letters, digits and _)",
            translation_domain=DOMAIN,
            translation_key="invalid_device_command",
            translation_placeholders={"command": str(command)[:64]},
        )
    if not isinstance(args, dict):
        raise ServiceValidationError(
            "the command's args must be an object",
            translation_domain=DOMAIN,
            translation_key="invalid_device_args",
        )
    if command == "print_file" and isinstance(args.get("gcode"), str):
        # Checked here as well as in the add-on: a file that is not G-code is refused at once,
        # not held for a confirmation the add-on would then refuse anyway.
        if (problem := gcode_problem(str(args.get("filename") or ""), args["gcode"])) is not None:
            raise ServiceValidationError(
                problem,
                translation_domain=DOMAIN,
                translation_key="not_gcode",
                translation_placeholders={"problem": problem},
            )


GCODE_SUFFIXES: Final = (".gcode", ".gco", ".g")
_GCODE_HEAD = re.compile(r"^[GMTgmt]\d*(?:\.\d+)?$")  # G1, M104, T0; Klipper: WORD_LIKE_THIS


def gcode_problem(filename: str, text: str) -> str | None:
    """Why inline G-code is not a printable file (the add-on's own check, in short), or None."""
    if "/" in filename or not filename.lower().endswith(GCODE_SUFFIXES):
        return f"{filename or 'the file'} is not a G-code file (expected a .gcode, .gco or .g name)"
    commands = [c for line in text.splitlines() if (c := line.split(";", 1)[0].strip())]
    if not commands:
        return f"{filename} holds no G-code commands"
    for command in commands[:50]:
        head = command.split(maxsplit=1)[0]
        klipper = head.replace("_", "").isalnum() and head.isupper()
        if not (_GCODE_HEAD.match(head) or klipper):
            return f"{filename} does not look like G-code (line {command[:40]!r})"
    return None


class DeviceCommandHeldError(HomeAssistantError):
    """The safety gate did not let the command run now: it waits for people, or is refused."""

    def __init__(self, device_id: str, command: str, decision: GateDecision) -> None:
        """Carry the gate's decision (status, request id) for callers that answer with it."""
        super().__init__(
            f"{device_id} {command}: {decision.message}",
            translation_domain=DOMAIN,
            translation_key="device_command_held",
            translation_placeholders={
                "device_id": device_id,
                "command": command,
                "message": decision.message,
            },
        )
        self.decision = decision


async def async_send_device_command(
    hass: HomeAssistant,
    device_id: str,
    command: str,
    args: dict[str, Any],
    *,
    user_id: str | None = None,
    ack_timeout: float | None = None,
) -> dict[str, Any]:
    """Ask the safety gate, then send one command to an add-on device; the result of its ack.

    Every device command (services, HTTP, LLM tools) comes through here. A command the policy
    does not simply allow (starting a print, heating, raw G-code) raises DeviceCommandHeldError with
    the gate's pending request (or refusal); once approved, the gate sends it itself through the
    executor registered by `async_setup_device_executor`.

    Raises ServiceValidationError (bad id/command/args), DeviceCommandHeldError, DeviceCommandError
    (error ack: unknown device, not G-code, printer offline, ...) or HomeAssistantError (MQTT
    down, no ack in time).
    """
    validate_device_command(device_id, command, args)
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise _mqtt_unavailable()
    decision = await async_check_action(
        hass, device_action(device_id, command, args), user_id=user_id, source="device"
    )
    if not decision.allowed:
        raise DeviceCommandHeldError(device_id, command, decision)
    return await _send(hass, device_id, command, args, user_id=user_id, ack_timeout=ack_timeout)


@callback
def async_setup_device_executor(hass: HomeAssistant) -> Callable[[], None]:
    """Let the safety gate send approved device commands (after it verified their token)."""

    async def execute(hass: HomeAssistant, action: Action, claims: Mapping[str, Any]) -> None:
        await _send(
            hass,
            action.targets[0],
            action.service,
            dict(action.data),
            user_id=str(claims.get("sub") or "") or None,
        )

    return async_register_executor(hass, DEVICE_DOMAIN, execute)


async def _send(
    hass: HomeAssistant,
    device_id: str,
    command: str,
    args: dict[str, Any],
    *,
    user_id: str | None,
    ack_timeout: float | None = None,
) -> dict[str, Any]:
    ack_timeout = ack_timeout or DEFAULT_COMMAND_TIMEOUT
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise _mqtt_unavailable()
    await _wait_connected(hass, min(ack_timeout, RECONNECT_WAIT))
    listener = await _ack_listener(hass)
    request_id = uuid.uuid4().hex
    future: asyncio.Future[dict[str, Any]] = hass.loop.create_future()
    listener.pending[request_id] = future
    payload = {
        "request_id": request_id,
        "command": command,
        "args": args,
        "user_id": user_id,
        # The add-on's session queues commands while it is away; once nobody waits for the
        # answer any more, it must not run them.
        "expires_at": time.time() + ack_timeout,
    }
    try:
        await mqtt.async_publish(hass, device_topic(device_id, "cmd"), json.dumps(payload), qos=1)
        async with asyncio.timeout(ack_timeout):
            ack = await future
    except TimeoutError as err:
        raise HomeAssistantError(
            f"{device_id} did not answer {command} within {ack_timeout:g} s; is the Jarvis add-on "
            "running and connected to MQTT?",
            translation_domain=DOMAIN,
            translation_key="device_command_timeout",
            translation_placeholders={
                "device_id": device_id,
                "command": command,
                "timeout": f"{ack_timeout:g}",
            },
        ) from err
    finally:
        listener.pending.pop(request_id, None)
    LOGGER.debug("Device %s %s -> %s", device_id, command, ack)
    if not ack.get("ok"):
        raise DeviceCommandError(
            device_id, command, str(ack.get("error") or "error"), str(ack.get("message") or "")
        )
    result = ack.get("result")
    return result if isinstance(result, dict) else {"result": result}


async def async_track_job_events(hass: HomeAssistant) -> CALLBACK_TYPE | None:
    """Follow printer job events: fire `jarvis_printer_job`, run the job's scene or script.

    Returns the unsubscribe callback, or None when MQTT is not set up.
    """
    if not await mqtt.async_wait_for_mqtt_client(hass):
        LOGGER.debug("MQTT not set up: printer job events are not followed")
        return None

    async def on_event(msg: mqtt.ReceiveMessage) -> None:
        device_id = msg.topic.split("/")[2]
        try:
            event = json.loads(msg.payload)
        except ValueError:
            LOGGER.warning("Ignoring a non-JSON job event on %s", msg.topic)
            return
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            LOGGER.warning("Ignoring a malformed job event on %s", msg.topic)
            return
        hass.bus.async_fire(
            EVENT_PRINTER_JOB,
            {"device_id": device_id, "event": event["event"], "job": event.get("job")},
        )
        scene = event.get("scene")
        if event["event"] in SCENE_EVENTS and isinstance(scene, str):
            await _run_scene(hass, device_id, event["event"], scene)

    return await mqtt.async_subscribe(hass, EVENT_SUBSCRIPTION, on_event, qos=1)


async def _run_scene(hass: HomeAssistant, device_id: str, event: str, entity_id: str) -> None:
    """scene.turn_on / script.turn_on for a job event's configured entity."""
    domain = entity_id.split(".", 1)[0]
    if domain not in ("scene", "script") or hass.states.get(entity_id) is None:
        LOGGER.warning(
            "Printer %s %s: scene %s is not a scene or script of this Home Assistant",
            device_id,
            event,
            entity_id,
        )
        return
    LOGGER.info("Printer %s %s: turning on %s", device_id, event, entity_id)
    # scene/script turn_on start it and report their own failures in their logs.
    await hass.services.async_call(domain, "turn_on", {"entity_id": entity_id}, blocking=True)
