"""The Jarvis LLM API ("Jarvis workshop"): tools to start, pause, resume and query prints.

Pick it in a conversation agent's LLM APIs (next to Assist). Every tool goes through
addon.devices.async_send_device_command with the speaking user's id, so the safety gate sees it.
"""

from __future__ import annotations

from typing import Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import llm
from homeassistant.util.json import JsonObjectType
import voluptuous as vol

# Called through the module: a safety gate that wraps devices.async_send_device_command
# (the one path for device commands) is then always in the way.
from .addon import devices
from .const import DOMAIN

API_ID: Final = f"{DOMAIN}_workshop"
API_NAME: Final = "Jarvis workshop"
PROMPT: Final = (
    "You control the workshop's 3D printers with the printer tools. Printer ids are short "
    "lowercase names such as printer2. Start a print only when asked to, with a file name from "
    "the print files folder; confirm what you started, paused or found."
)


class _PrinterTool(llm.Tool):
    """A tool that sends one printer command."""

    command: str

    def args(self, tool_args: dict[str, Any]) -> dict[str, Any]:
        """The command's args from the tool call."""
        return {}

    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> JsonObjectType:
        """Send it; an error becomes a result the model can read out."""
        user_id = llm_context.context.user_id if llm_context.context else None
        try:
            result = await devices.async_send_device_command(
                hass,
                tool_input.tool_args["printer"],
                self.command,
                self.args(tool_input.tool_args),
                user_id=user_id,
            )
        except HomeAssistantError as err:
            return {"success": False, "error": str(err)}
        return {"success": True, "result": result}


class StartPrintTool(_PrinterTool):
    """Upload a file from the print files folder and start it."""

    name = "start_print"
    description = (
        "Start printing a G-code file from the workshop's print files folder on a printer."
    )
    command = "print_file"
    parameters = vol.Schema(
        {
            vol.Required("printer", description="printer id, e.g. printer2"): str,
            vol.Required("file", description="file name, e.g. bracket.gcode"): str,
        }
    )

    def args(self, tool_args: dict[str, Any]) -> dict[str, Any]:
        """print_file from the files folder."""
        return {"path": tool_args["file"]}


class PausePrintTool(_PrinterTool):
    """Pause."""

    name = "pause_print"
    description = "Pause the print running on a printer."
    command = "pause"
    parameters = vol.Schema({vol.Required("printer", description="printer id"): str})

    def args(self, tool_args: dict[str, Any]) -> dict[str, Any]:
        """The reason the log shows."""
        return {"reason": "asked in conversation"}


class ResumePrintTool(_PrinterTool):
    """Resume."""

    name = "resume_print"
    description = "Resume a paused print on a printer."
    command = "resume"
    parameters = vol.Schema({vol.Required("printer", description="printer id"): str})


class PrinterStatusTool(_PrinterTool):
    """Query."""

    name = "printer_status"
    description = "Get a printer's state, temperatures, job, progress and estimated finish."
    command = "status"
    parameters = vol.Schema({vol.Required("printer", description="printer id"): str})


class JarvisWorkshopAPI(llm.API):
    """The printer tools as an LLM API."""

    def __init__(self, hass: HomeAssistant) -> None:
        """One instance per HA."""
        super().__init__(hass=hass, id=API_ID, name=API_NAME)

    async def async_get_api_instance(self, llm_context: llm.LLMContext) -> llm.APIInstance:
        """The tools, for one conversation turn."""
        return llm.APIInstance(
            api=self,
            api_prompt=PROMPT,
            llm_context=llm_context,
            tools=[StartPrintTool(), PausePrintTool(), ResumePrintTool(), PrinterStatusTool()],
        )


@callback
def async_register_llm_api(hass: HomeAssistant) -> None:
    """Register the API once (it lives as long as HA)."""
    llm.async_register_api(hass, JarvisWorkshopAPI(hass))
