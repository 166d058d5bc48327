"""CAD generation from Home Assistant: action, HTTP view and LLM tool.

The `jarvis.generate_cad` action, `POST /api/jarvis/cad/generate`
and the `generate_cad` LLM tool (HA LLM API "Jarvis CAD"). All three ask the safety gate
(`jarvis_cad.generate`: no rule matches it by default; a rule can make paid CAD need a yes), then
submit a job to the add-on's `/api/v1/cad/jobs` and answer with the job and its artifacts; the
add-on does the work. An approved request is submitted by the gate's executor without waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from homeassistant.components.http.const import KEY_HASS_USER
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import chat_session, config_validation as cv, llm
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.json import JsonObjectType, json_loads
import voluptuous as vol

from .addon.client import AddonError
from .const import ATTR_CONFIG_ENTRY_ID, DOMAIN
from .safety import Action, GateDecision, async_check_action, async_register_executor
from .safety.const import CAD_DOMAIN
from .services import addon_call_error, loaded_entry

SERVICE_GENERATE_CAD: Final = "generate_cad"
CAD_JOBS_PATH: Final = "/api/v1/cad/jobs"
CAD_LLM_API_ID: Final = "jarvis_cad"
DEFAULT_WAIT_S: Final = 120.0
MAX_WAIT_S: Final = 600.0
EVENT_CAD_JOB: Final = "jarvis_cad_job"
# Fields passed through to the add-on (it validates them and names the one at fault).
_FIELDS: Final = (
    "prompt",
    "kind",
    "params",
    "variants",
    "providers",
    "organic",
    "offline",
    "budget_usd",
    "conversation_id",
    "parent_artifact_id",
)

GENERATE_CAD_SCHEMA: Final = vol.Schema(
    {
        vol.Required("prompt"): vol.All(cv.string, vol.Length(min=1, max=2000)),
        vol.Optional("kind"): cv.string,
        vol.Optional("params"): vol.Schema({cv.string: vol.Coerce(float)}),
        vol.Optional("variants"): vol.All(vol.Coerce(int), vol.Range(min=1, max=6)),
        vol.Optional("providers"): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional("organic"): cv.boolean,
        vol.Optional("offline"): cv.boolean,
        vol.Optional("budget_usd"): vol.All(vol.Coerce(float), vol.Range(min=0)),
        vol.Optional("conversation_id"): cv.string,
        vol.Optional("parent_artifact_id"): cv.string,
        vol.Optional("wait", default=DEFAULT_WAIT_S): vol.All(
            vol.Coerce(float), vol.Range(min=0, max=MAX_WAIT_S)
        ),
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
    }
)


class CadRequestError(Exception):
    """The add-on refused the request (bad input); `code` and str() come from its JSON error."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the add-on's error code."""
        super().__init__(message)
        self.code = code


class CadHeldError(HomeAssistantError):
    """The safety gate did not let the job start now: it waits for a yes, or is refused."""

    def __init__(self, decision: GateDecision) -> None:
        """Carry the gate's decision (status, request id) for callers that answer with it."""
        super().__init__(
            f"CAD generation: {decision.message}",
            translation_domain=DOMAIN,
            translation_key="cad_held",
            translation_placeholders={"message": decision.message},
        )
        self.decision = decision


def cad_action(data: Mapping[str, Any]) -> Action:
    """How a CAD request is described to the gate; its data is what the executor submits."""
    fields = {k: data[k] for k in (*_FIELDS, ATTR_CONFIG_ENTRY_ID) if data.get(k) is not None}
    # The prompt is what an approver needs to see (the pending list shows names).
    return Action(
        domain=CAD_DOMAIN,
        service="generate",
        data=fields,
        names=(str(data.get("prompt") or "")[:80],),
    )


async def async_generate(
    hass: HomeAssistant, data: dict[str, Any], user_id: str | None
) -> dict[str, Any]:
    """Ask the gate, submit to the add-on and wait up to `wait` seconds; the job as a dict.

    Raises ServiceValidationError for bad input (the add-on's message), CadHeldError when the gate
    holds or refuses it, HomeAssistantError when the add-on cannot be reached or rejects the token.
    """
    loaded_entry(hass, data.get(ATTR_CONFIG_ENTRY_ID))  # an unknown entry is not worth a request
    decision = await async_check_action(hass, cad_action(data), user_id=user_id, source="cad")
    if not decision.allowed:
        raise CadHeldError(decision)
    return await _submit(hass, data, user_id)


async def _submit(
    hass: HomeAssistant, data: Mapping[str, Any], user_id: str | None
) -> dict[str, Any]:
    entry = loaded_entry(hass, data.get(ATTR_CONFIG_ENTRY_ID))
    client = entry.runtime_data.client
    body = {k: data[k] for k in _FIELDS if data.get(k) is not None}
    if user_id:
        body["ha_user"] = user_id
    wait = float(data.get("wait", DEFAULT_WAIT_S))
    try:
        status, answer = await client.post_json(
            f"{CAD_JOBS_PATH}?wait={wait:g}", body, limit_s=wait + 15
        )
    except AddonError as err:
        raise addon_call_error(err, client.url) from err
    if status == HTTPStatus.BAD_REQUEST and isinstance(answer, dict):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="cad_invalid_request",
            translation_placeholders={"message": str(answer.get("message", ""))},
        )
    if (
        status not in (HTTPStatus.OK, HTTPStatus.ACCEPTED)
        or not isinstance(answer, dict)
        or "job_id" not in answer
    ):
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="cad_failed",
            translation_placeholders={"status": str(status)},
        )
    hass.bus.async_fire(
        EVENT_CAD_JOB,
        {
            "job_id": answer["job_id"],
            "status": answer["status"],
            "conversation_id": answer.get("conversation_id"),
        },
    )
    return answer


async def _generate_cad(call: ServiceCall) -> ServiceResponse:
    job = await async_generate(call.hass, dict(call.data), call.context.user_id)
    response: dict[str, Any] = dict(job)
    return response


class CadGenerateView(HomeAssistantView):
    """`POST /api/jarvis/cad/generate` (HA auth): same body and answer as the action."""

    url = "/api/jarvis/cad/generate"
    name = "api:jarvis:cad_generate"

    async def post(self, request: web.Request) -> web.Response:
        """Submit, wait (body `wait`, default 120 s), answer the job JSON."""
        hass = request.app[KEY_HASS]
        try:
            raw = json_loads(await request.text())
        except ValueError:
            return _error(HTTPStatus.BAD_REQUEST, "invalid_json", "the body must be a JSON object")
        if not isinstance(raw, dict):
            return _error(HTTPStatus.BAD_REQUEST, "invalid_json", "the body must be a JSON object")
        try:
            data = GENERATE_CAD_SCHEMA(raw)
        except vol.Invalid as err:
            field = ".".join(str(p) for p in err.path) or None
            return _error(
                HTTPStatus.BAD_REQUEST,
                "invalid_request",
                str(err.msg if hasattr(err, "msg") else err),
                field,
            )
        try:
            job = await async_generate(hass, data, request[KEY_HASS_USER].id)
        except CadHeldError as err:
            # Pending: 202 with the request an approver acts on; refused by policy: 403.
            decision = err.decision
            pending = decision.status == "pending"
            return self.json(
                {
                    "status": decision.status,
                    "request_id": decision.request_id,
                    "error": None if pending else decision.code or "denied",
                    "message": decision.message,
                },
                HTTPStatus.ACCEPTED if pending else HTTPStatus.FORBIDDEN,
            )
        except ServiceValidationError as err:
            status = (
                HTTPStatus.NOT_FOUND
                if err.translation_key == "entry_not_found"
                else HTTPStatus.BAD_REQUEST
            )
            message = (err.translation_placeholders or {}).get("message") or str(
                err.translation_key
            )
            return _error(status, err.translation_key or "invalid_request", message)
        except HomeAssistantError as err:
            return _error(
                HTTPStatus.BAD_GATEWAY,
                err.translation_key or "addon_error",
                (err.translation_placeholders or {}).get("error") or str(err.translation_key),
            )
        return self.json(job)


def _error(status: HTTPStatus, error: str, message: str, field: str | None = None) -> web.Response:
    body: JsonObjectType = {"error": error, "message": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


class GenerateCadTool(llm.Tool):
    """Lets the agent make CAD from chat; the job is tied to the current conversation."""

    name = "generate_cad"
    description = (
        "Generate 3D CAD for the workshop from a description, e.g. 'a wall bracket for a 40 mm pipe, "
        "3 mm thick'. Returns STEP/STL (and mesh) artifacts from several providers. Set organic=true "
        "for sculpted/organic shapes."
    )
    parameters = vol.Schema(
        {
            vol.Required("prompt"): cv.string,
            vol.Optional("kind"): cv.string,
            vol.Optional("variants"): vol.All(vol.Coerce(int), vol.Range(min=1, max=6)),
            vol.Optional("organic"): cv.boolean,
        }
    )

    def gate_actions(self, args: Mapping[str, Any]) -> list[Action]:
        """What the safety gate checks before a gated agent runs this tool (and runs if held)."""
        return [cad_action(_with_conversation(args))]

    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> JsonObjectType:
        """Submit and wait; a compact summary the model can read back to the user."""
        data = _with_conversation(tool_input.tool_args)
        user = llm_context.context.user_id if llm_context.context else None
        try:
            job = await async_generate(hass, GENERATE_CAD_SCHEMA(data), user)
        except CadHeldError as err:
            # Reached only by agents outside Jarvis's gated API (which checks before calling).
            return {
                "success": False,
                "executed": False,
                **err.decision.to_dict(),
                "message": f"{err.decision.message} Tell the user exactly this; do not retry.",
            }
        except (vol.Invalid, HomeAssistantError) as err:
            message = (getattr(err, "translation_placeholders", None) or {}).get("message") or str(
                err
            )
            return {"error": message}
        return {
            "job_id": job["job_id"],
            "status": job["status"],
            "artifacts": [
                {"id": a["id"], "provider": a["provider"], "format": a["format"], "body": a["body"]}
                for a in job.get("artifacts", [])
            ],
            "error": (job.get("error") or {}).get("message") if job["status"] == "failed" else None,
        }


def _with_conversation(args: Mapping[str, Any]) -> dict[str, Any]:
    """The tool's arguments plus the current chat session's conversation id (lineage)."""
    data = dict(args)
    session = chat_session.current_session.get()
    if session is not None:
        data["conversation_id"] = session.conversation_id
    return data


class CadLlmApi(llm.API):
    """The LLM API an agent selects to get the generate_cad tool."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Register under a stable id."""
        super().__init__(hass=hass, id=CAD_LLM_API_ID, name="Jarvis CAD")

    async def async_get_api_instance(self, llm_context: llm.LLMContext) -> llm.APIInstance:
        """One tool; the prompt says when to use it."""
        return llm.APIInstance(
            api=self,
            api_prompt="Use generate_cad when the user asks for a part, bracket, enclosure or any 3D model to print or machine.",
            llm_context=llm_context,
            tools=[GenerateCadTool()],
        )


@callback
def async_setup_cad(hass: HomeAssistant) -> None:
    """Register the action, the HTTP view and the LLM API (from async_setup)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_GENERATE_CAD,
        _generate_cad,
        schema=GENERATE_CAD_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.http.register_view(CadGenerateView())
    llm.async_register_api(hass, CadLlmApi(hass))

    async def execute(hass: HomeAssistant, action: Action, claims: Mapping[str, Any]) -> None:
        # Approved (token verified by the gate): submit without waiting for the job; its
        # progress reaches HA as jarvis_cad_job events and the add-on's CAD job sensor.
        await _submit(hass, {**action.data, "wait": 0}, str(claims.get("sub") or "") or None)

    async_register_executor(hass, CAD_DOMAIN, execute)
