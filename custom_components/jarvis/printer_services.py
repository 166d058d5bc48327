"""Printer services: `jarvis.print_file` (upload + start, returns the job) and `jarvis.printer_command`.

Both go through addon.devices.async_send_device_command (and so through the safety gate).
"""

from __future__ import annotations

from typing import Any, Final

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.helpers import config_validation as cv
import voluptuous as vol

# Called through the module: a safety gate that wraps devices.async_send_device_command
# (the one path for device commands) is then always in the way.
from .addon import devices
from .const import DOMAIN

SERVICE_PRINT_FILE: Final = "print_file"
SERVICE_PRINTER_COMMAND: Final = "printer_command"
ATTR_PRINTER: Final = "printer"
PRINTER_COMMANDS: Final = (
    "status",
    "pause",
    "resume",
    "cancel",
    "preheat",
    "gcode",
    "connect",
    "history",
    "snapshot",
)

PRINT_FILE_SCHEMA: Final = vol.Schema(
    {
        vol.Required(ATTR_PRINTER): cv.string,
        vol.Exclusive("path", "source"): cv.string,
        vol.Exclusive("gcode", "source"): cv.string,
        vol.Optional("filename"): cv.string,
        vol.Optional("tool_temperature"): vol.All(vol.Coerce(float), vol.Range(0, 300)),
        vol.Optional("bed_temperature"): vol.All(vol.Coerce(float), vol.Range(0, 150)),
    }
)
PRINTER_COMMAND_SCHEMA: Final = vol.Schema(
    {
        vol.Required(ATTR_PRINTER): cv.string,
        vol.Required("command"): vol.In(PRINTER_COMMANDS),
        vol.Optional("args", default={}): dict,
    }
)


def print_file_args(data: dict[str, Any]) -> dict[str, Any]:
    """The add-on's print_file args from the service's fields."""
    args: dict[str, Any] = {k: data[k] for k in ("path", "gcode", "filename") if k in data}
    preheat = {
        key: data[field]
        for key, field in (("tool", "tool_temperature"), ("bed", "bed_temperature"))
        if field in data
    }
    if preheat:
        args["preheat"] = preheat
    return args


async def _print_file(call: ServiceCall) -> ServiceResponse:
    return await devices.async_send_device_command(
        call.hass,
        call.data[ATTR_PRINTER],
        "print_file",
        print_file_args(dict(call.data)),
        user_id=call.context.user_id,
    )


async def _printer_command(call: ServiceCall) -> ServiceResponse:
    return await devices.async_send_device_command(
        call.hass,
        call.data[ATTR_PRINTER],
        call.data["command"],
        dict(call.data["args"]),
        user_id=call.context.user_id,
    )


@callback
def async_setup_printer_services(hass: HomeAssistant) -> None:
    """Register the printer services."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_PRINT_FILE,
        _print_file,
        schema=PRINT_FILE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_PRINTER_COMMAND,
        _printer_command,
        schema=PRINTER_COMMAND_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
