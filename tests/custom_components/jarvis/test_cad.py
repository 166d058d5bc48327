"""CAD from Home Assistant against a real add-on worker (real CadQuery): the jarvis.generate_cad
action, POST /api/jarvis/cad/generate and the generate_cad LLM tool, with their errors."""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import chat_session, llm
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.jarvis.cad import (
    CAD_LLM_API_ID,
    EVENT_CAD_JOB,
    SERVICE_GENERATE_CAD,
    CadHeldError,
)
from custom_components.jarvis.const import DOMAIN
from custom_components.jarvis.safety import async_get_gate
from custom_components.jarvis.safety.tools import gated_instance
from tests.support.jarvis_entry import async_setup_jarvis
from tests.support.wait import until
from tests.support.worker import Worker

from .safety.helpers import rule

pytestmark = pytest.mark.timeout(240)
SEED = "make me a wall bracket for a 40 mm pipe, 3 mm thick"


async def _generate(hass: HomeAssistant, context: Context | None = None, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, SERVICE_GENERATE_CAD, data, blocking=True, return_response=True, context=context
    )


async def test_generate_cad_action_returns_job_and_artifacts(
    hass: HomeAssistant, session_worker: Worker, entry_for: Any, hass_admin_user: Any
) -> None:
    entry = entry_for(session_worker)
    assert await hass.config_entries.async_setup(entry.entry_id)
    events: list[Any] = []
    hass.bus.async_listen(EVENT_CAD_JOB, events.append)
    response = await _generate(
        hass,
        Context(user_id=hass_admin_user.id),
        prompt=SEED,
        conversation_id="conv-ha-1",
        wait=180,
    )
    assert response["status"] == "succeeded", response
    assert response["conversation_id"] == "conv-ha-1" and response["ha_user"] == hass_admin_user.id
    formats = {(a["provider"], a["format"]) for a in response["artifacts"]}
    assert formats == {("cadquery", "step"), ("cadquery", "stl")}  # no cloud keys on this worker
    step = next(a for a in response["artifacts"] if a["format"] == "step")
    assert (
        step["params"]["pipe_diameter"] == 40.0
        and step["validation"]["step_reimport_valid"] is True
    )
    assert response["error"]["skipped"]["zoo"] == "Zoo has no API token (option zoo_api_token)"
    await hass.async_block_till_done()
    assert events[0].data == {
        "job_id": response["job_id"],
        "status": "succeeded",
        "conversation_id": "conv-ha-1",
    }


async def test_generate_cad_errors(
    hass: HomeAssistant, session_worker: Worker, worker: Worker, entry_for: Any
) -> None:
    entry = entry_for(session_worker)
    assert await hass.config_entries.async_setup(entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await _generate(hass, prompt="bracket for a 40 mm pipe, 0.1 mm thick")
    assert err.value.translation_key == "cad_invalid_request"
    assert "thickness 0.1 mm is impossible" in err.value.translation_placeholders["message"]
    with pytest.raises(ServiceValidationError) as err:
        await _generate(hass, prompt="a vase", kind="vase")
    assert "unknown part kind 'vase'" in err.value.translation_placeholders["message"]

    other = entry_for(worker)
    assert await hass.config_entries.async_setup(other.entry_id)
    worker.kill()
    with pytest.raises(HomeAssistantError) as err:
        await _generate(hass, prompt=SEED, config_entry_id=other.entry_id, wait=0)
    assert err.value.translation_key == "addon_unreachable"


async def test_http_generate(
    hass: HomeAssistant,
    session_worker: Worker,
    entry_for: Any,
    hass_client: ClientSessionGenerator,
    hass_admin_user: Any,
) -> None:
    entry = entry_for(session_worker)
    assert await hass.config_entries.async_setup(entry.entry_id)
    client = await hass_client()
    resp = await client.post(
        "/api/jarvis/cad/generate",
        json={
            "prompt": "spacer 10 mm outer diameter, 3 mm inner, 6 mm tall",
            "conversation_id": "conv-http",
        },
    )
    assert resp.status == 200
    job = await resp.json()
    assert job["status"] == "succeeded" and job["ha_user"] == hass_admin_user.id
    assert {a["format"] for a in job["artifacts"]} == {"step", "stl"}

    for body, status, error, fragment in (
        ("[1]", 400, "invalid_json", "JSON object"),
        ("{oops", 400, "invalid_json", "JSON object"),
        ('{"variants": 2}', 400, "invalid_request", "required key"),
        ('{"prompt": "x", "variants": 99}', 400, "invalid_request", "value must be at most 6"),
        (
            '{"prompt": "bracket for a 40 mm pipe, 0.1 mm thick"}',
            400,
            "cad_invalid_request",
            "impossible",
        ),
        (
            '{"prompt": "hook", "config_entry_id": "nope"}',
            404,
            "entry_not_found",
            "entry_not_found",
        ),
    ):
        resp = await client.post("/api/jarvis/cad/generate", data=body)
        assert resp.status == status, body
        answer = await resp.json()
        assert answer["error"] == error and fragment in answer["message"], answer


async def test_http_needs_auth(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator
) -> None:
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, DOMAIN, {})
    client = await hass_client_no_auth()
    resp = await client.post("/api/jarvis/cad/generate", json={"prompt": "hook"})
    assert resp.status == 401


async def test_http_addon_down_is_502(
    hass: HomeAssistant, worker: Worker, entry_for: Any, hass_client: ClientSessionGenerator
) -> None:
    entry = entry_for(worker)
    assert await hass.config_entries.async_setup(entry.entry_id)
    worker.kill()
    client = await hass_client()
    resp = await client.post("/api/jarvis/cad/generate", json={"prompt": "hook", "wait": 0})
    assert resp.status == 502
    assert (await resp.json())["error"] == "addon_unreachable"


async def test_llm_tool_ties_the_job_to_the_conversation(
    hass: HomeAssistant, session_worker: Worker, entry_for: Any
) -> None:
    entry = entry_for(session_worker)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert CAD_LLM_API_ID in {api.id for api in llm.async_get_apis(hass)}
    llm_context = llm.LLMContext(
        platform=DOMAIN, context=Context(), language="en", assistant="conversation", device_id=None
    )
    api = await llm.async_get_api(hass, CAD_LLM_API_ID, llm_context)
    assert [tool.name for tool in api.tools] == ["generate_cad"]
    with chat_session.async_get_chat_session(hass, "conv-llm-7") as session:
        assert session.conversation_id == "conv-llm-7"
        result = await api.async_call_tool(
            llm.ToolInput(tool_name="generate_cad", tool_args={"prompt": "a coat hook 25 mm wide"})
        )
        bad = await api.async_call_tool(
            llm.ToolInput(tool_name="generate_cad", tool_args={"prompt": "hook 0.1 mm thick"})
        )
    assert result["status"] == "succeeded" and {a["format"] for a in result["artifacts"]} == {
        "step",
        "stl",
    }
    assert "thickness 0.1 mm is impossible" in bad["error"]
    client_resp = await hass.services.async_call(
        DOMAIN, "get_addon_status", {}, blocking=True, return_response=True
    )
    assert client_resp["version"]
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{session_worker.url}/api/v1/cad/conversations/conv-llm-7/artifacts",
            headers={"Authorization": f"Bearer {session_worker.api_token}"},
        ) as resp,
    ):
        stored = await resp.json()
    assert {a["id"] for a in stored["artifacts"]} >= {a["id"] for a in result["artifacts"]}
    assert all(a["conversation_id"] == "conv-llm-7" for a in stored["artifacts"])


async def test_a_cad_rule_holds_every_way_in_until_the_requester_confirms(
    hass: HomeAssistant,
    session_worker: Worker,
    hass_admin_user: Any,
    hass_client: ClientSessionGenerator,
) -> None:
    """`jarvis_cad.generate` binds the action, the HTTP API and the tool; approved, it runs."""
    await async_setup_jarvis(
        hass,
        session_worker,
        [rule(name="paid_cad", verdict="confirm", actions=["jarvis_cad.generate"])],
    )
    events: list[Any] = []
    hass.bus.async_listen(EVENT_CAD_JOB, events.append)
    admin = Context(user_id=hass_admin_user.id)
    with pytest.raises(CadHeldError) as err:
        await _generate(hass, admin, prompt="a coat hook 25 mm wide", conversation_id="conv-held")
    held = err.value.decision
    assert held.status == "pending" and err.value.translation_key == "cad_held"
    assert "the requester must confirm it" in str(err.value)

    resp = await (await hass_client()).post(
        "/api/jarvis/cad/generate", json={"prompt": "spacer 10 mm outer diameter"}
    )
    assert resp.status == 202
    answer = await resp.json()
    assert answer["status"] == "pending" and answer["request_id"] not in (None, held.request_id)

    llm_context = llm.LLMContext(
        platform=DOMAIN, context=admin, language="en", assistant="conversation", device_id=None
    )
    api = await llm.async_get_api(hass, CAD_LLM_API_ID, llm_context)
    hook = llm.ToolInput(tool_name="generate_cad", tool_args={"prompt": "a hook"})
    # Another agent with the "Jarvis CAD" API: the tool asks the gate itself.
    own = await api.async_call_tool(hook)
    assert own["executed"] is False and own["status"] == "pending" and own["request_id"]
    # Jarvis's agents wrap every tool: the wrapper checks the same action before calling it.
    with chat_session.async_get_chat_session(hass, "conv-gated") as session:
        assert session.conversation_id == "conv-gated"
        wrapped = await gated_instance(hass, api).async_call_tool(hook)
    assert wrapped["executed"] is False
    (gated,) = wrapped["gated"]
    assert gated["action"] == "jarvis_cad.generate" and gated["status"] == "pending"
    # What an approval would submit keeps the conversation (CAD lineage).
    gate = async_get_gate(hass)
    assert gate is not None
    held_tool = next(r for r in gate.pending() if r.id == gated["request_id"])
    assert held_tool.action.data["conversation_id"] == "conv-gated"
    assert held_tool.action.names == ("a hook",)
    await hass.async_block_till_done()
    assert not events  # nothing reached the add-on

    pending = await hass.services.async_call(
        DOMAIN,
        "approve",
        {"request_id": held.request_id},
        blocking=True,
        return_response=True,
        context=admin,
    )
    assert pending is not None and pending["status"] == "executed"
    await until(lambda: bool(events), 30, "the approved job's event")
    assert events[0].data["conversation_id"] == "conv-held"
    job_id = events[0].data["job_id"]

    def job() -> dict[str, Any]:
        return session_worker.get_json(f"/api/v1/cad/jobs/{job_id}")

    async def done() -> bool:
        return (await hass.async_add_executor_job(job))["status"] in ("succeeded", "failed")

    deadline = hass.loop.time() + 180
    while not await done():
        assert hass.loop.time() < deadline, "the approved CAD job did not finish"
        await asyncio.sleep(0.5)
    finished = await hass.async_add_executor_job(job)
    assert finished["status"] == "succeeded" and finished["ha_user"] == hass_admin_user.id


async def test_a_deny_rule_refuses_cad_with_403(
    hass: HomeAssistant, session_worker: Worker, hass_client: ClientSessionGenerator
) -> None:
    await async_setup_jarvis(
        hass, session_worker, [rule(name="no_cad", verdict="deny", actions=["jarvis_cad.*"])]
    )
    resp = await (await hass_client()).post("/api/jarvis/cad/generate", json={"prompt": "a hook"})
    assert resp.status == 403
    answer = await resp.json()
    assert answer["error"] == "denied_by_policy" and "no_cad" in answer["message"]
    with pytest.raises(CadHeldError) as err:
        await _generate(hass, prompt="a hook")
    assert err.value.decision.status == "denied"
