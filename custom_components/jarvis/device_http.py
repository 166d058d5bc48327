"""`POST /api/jarvis/device/{device_id}/command` (HA auth): {command, args} -> the device's result.

Errors are JSON {"error", "message"}: 400 for bad input, 404 unknown device, 409 printer busy or
offline, 502 printer unreachable or wrong printer key, 503 MQTT down, 504 no ack in time.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from homeassistant.components.http.const import KEY_HASS_USER
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.json import json_loads

# Called through the module: a safety gate that wraps devices.async_send_device_command
# (the one path for device commands) is then always in the way.
from .addon import devices
from .addon.devices import DeviceCommandError, DeviceCommandHeldError

_ACK_STATUS: Final = {
    "unknown_device": HTTPStatus.NOT_FOUND,
    "file_not_found": HTTPStatus.NOT_FOUND,
    "no_webcam": HTTPStatus.NOT_FOUND,
    "printer_busy": HTTPStatus.CONFLICT,
    "printer_busy_or_idle": HTTPStatus.CONFLICT,
    "printer_offline": HTTPStatus.CONFLICT,
    "printer_unreachable": HTTPStatus.BAD_GATEWAY,
    "printer_auth_failed": HTTPStatus.BAD_GATEWAY,
    "webcam_failed": HTTPStatus.BAD_GATEWAY,
    "printer_rejected": HTTPStatus.UNPROCESSABLE_ENTITY,
    "internal_error": HTTPStatus.INTERNAL_SERVER_ERROR,
}


def _error(status: HTTPStatus, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


class DeviceCommandView(HomeAssistantView):
    """Send a command to an add-on device (a printer) and answer with its result."""

    url = "/api/jarvis/device/{device_id}/command"
    name = "api:jarvis:device_command"

    async def post(self, request: web.Request, device_id: str) -> web.Response:
        """{command, args?} in; {device_id, command, result} out."""
        hass = request.app[KEY_HASS]
        # HA's server caps bodies at 16 MiB (413 before we get here): enough for G-code in JSON.
        try:
            body: Any = json_loads(await request.read())
        except ValueError as err:
            return _error(HTTPStatus.BAD_REQUEST, "invalid_json", f"the body is not JSON: {err}")
        if not isinstance(body, dict):
            return _error(HTTPStatus.BAD_REQUEST, "invalid_json", "the body must be a JSON object")
        unknown = set(body) - {"command", "args"}
        if unknown:
            return _error(
                HTTPStatus.BAD_REQUEST,
                "unknown_field",
                f"unknown field {min(unknown)}; the fields are command, args",
            )
        # Any: async_send_device_command checks both and names what is wrong.
        command: Any = body.get("command")
        args: Any = body.get("args", {})
        try:
            result = await devices.async_send_device_command(
                hass, device_id, command, args, user_id=request[KEY_HASS_USER].id
            )
        except ServiceValidationError as err:
            return _error(
                HTTPStatus.BAD_REQUEST, err.translation_key or "invalid_request", str(err)
            )
        except DeviceCommandHeldError as err:
            # Pending: 202 with the request the approver acts on; refused by policy: 403.
            decision = err.decision
            return self.json(
                {
                    "device_id": device_id,
                    "command": command,
                    "status": decision.status,
                    "request_id": decision.request_id,
                    "error": None if decision.status == "pending" else decision.code or "denied",
                    "message": decision.message,
                },
                HTTPStatus.ACCEPTED if decision.status == "pending" else HTTPStatus.FORBIDDEN,
            )
        except DeviceCommandError as err:
            status = _ACK_STATUS.get(err.code, HTTPStatus.BAD_REQUEST)
            return _error(status, err.code, err.detail)
        except HomeAssistantError as err:
            status = (
                HTTPStatus.GATEWAY_TIMEOUT
                if err.translation_key == "device_command_timeout"
                else HTTPStatus.SERVICE_UNAVAILABLE
            )
            return _error(status, err.translation_key or "unavailable", str(err))
        return self.json({"device_id": device_id, "command": command, "result": result})
