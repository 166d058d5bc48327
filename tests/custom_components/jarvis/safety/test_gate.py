"""The gate in HA: restarts, tampering on disk, notifications, other agents / MCP, T0, printers, HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
import json
from typing import Any

from homeassistant.components.person import async_create_person
from homeassistant.core import Context, HomeAssistant, ServiceCall
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er, llm
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import voluptuous as vol

from custom_components.jarvis.event import SafetyDecisionEvent
from custom_components.jarvis.safety import (
    async_check_action,
    async_register_executor,
    device_action,
)
from custom_components.jarvis.safety.gate import REQUEST_SOURCE_IP, GateError
from custom_components.jarvis.safety.policy import Action
from custom_components.jarvis.safety.sensor import PendingApprovalsSensor
from custom_components.jarvis.safety.tools import API_ID, UNLOCK_TOOL
from tests.support.fake_providers import openai as oai
from tests.support.fake_providers.base import Reply
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.fake_unifi_access import FakeUnifiAccess
from tests.support.worker import Worker

from ..routing_helpers import streamed_tool_call
from .helpers import LOCK, PENDING_SENSOR, UNLOCK, Workshop, ask, audit, call, code, setup_workshop


@pytest.fixture
async def shop(
    hass: HomeAssistant, session_worker: Worker, cloud: OpenAIServer, unifi: FakeUnifiAccess
) -> Workshop:
    return await setup_workshop(
        hass,
        session_worker,
        cloud,
        unifi,
        zone_overrides={"notify_services": ["mobile_app_bob_phone"]},
    )


@pytest.fixture
def bob_phone(hass: HomeAssistant) -> list[ServiceCall]:
    """Bob's phone: what the Companion app's notify service would be sent (the phone is not here)."""
    sent: list[ServiceCall] = []

    async def notify(call: ServiceCall) -> None:
        sent.append(call)

    hass.services.async_register("notify", "mobile_app_bob_phone", notify)
    return sent


async def test_pending_requests_audit_chain_and_replay_cache_survive_a_restart(
    hass: HomeAssistant, shop: Workshop, bob_phone: list[ServiceCall]
) -> None:
    pending = await call(hass, "request_action", UNLOCK, shop.alice)
    executed_request = await call(hass, "request_action", UNLOCK, shop.alice)
    request = shop.gate.workflow.approve(
        executed_request["request_id"],
        shop.bob.id,
        shop.gate.workflow.get(executed_request["request_id"]).created,
        authorised=lambda _u: True,
    )
    token, _ = shop.gate.mint_for(request, None)
    await shop.gate.async_execute_token(token)
    kid = shop.gate.key.kid
    count = shop.gate.audit.count
    assert await hass.config_entries.async_reload(shop.entry.entry_id)
    await hass.async_block_till_done()
    gate = shop.gate
    assert gate.key.kid == kid  # the key is kept in HA storage
    assert [r.id for r in gate.pending()] == [pending["request_id"]]
    state = hass.states.get(PENDING_SENSOR)
    assert state is not None and state.state == "1"
    with pytest.raises(GateError) as err:
        await gate.async_execute_token(token)
    assert err.value.code == "token_replayed"
    assert gate.audit.count == count + 1
    # Approval still works after the restart, and the chain goes on and verifies.
    await call(hass, "approve", {"request_id": pending["request_id"]}, shop.bob)
    assert len(shop.unifi.unlocks) == 2
    assert (await call(hass, "verify_audit_log", {}, shop.bob))["ok"] is True


async def test_a_record_edited_on_disk_is_detected(
    hass: HomeAssistant, shop: Workshop, caplog: pytest.LogCaptureFixture
) -> None:
    await call(hass, "request_action", UNLOCK, shop.alice)
    await call(hass, "request_action", {"action": "lock.unlock", "target": [LOCK]}, shop.alice)
    path = shop.gate.audit.path
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record["data"]["requester"] = shop.bob.id  # someone rewrites who asked
    lines[0] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    result = await call(hass, "verify_audit_log", {}, shop.bob)
    assert result == {
        "ok": False,
        "records": 2,
        "first_broken": 0,
        "problem": "content does not match its hash",
    }
    assert await hass.config_entries.async_reload(shop.entry.entry_id)
    assert "audit log" in caplog.text and "is broken at record 0" in caplog.text


async def test_mobile_notification_approves_once(
    hass: HomeAssistant, shop: Workshop, bob_phone: list[ServiceCall]
) -> None:
    pending = await call(hass, "request_action", UNLOCK, shop.alice)
    (sent,) = bob_phone
    approve, _deny = (a["action"] for a in sent.data["data"]["actions"])
    assert sent.data["data"]["actions"][0]["authenticationRequired"] is True
    assert pending["request_id"] in approve
    # Alice cannot tap her own request through, even with Bob's nonce.
    hass.bus.async_fire(
        "mobile_app_notification_action",
        {"action": approve},
        context=Context(user_id=shop.alice.id),
    )
    await hass.async_block_till_done()
    assert not shop.unifi.unlocks
    records = await audit(hass, shop.bob, request_id=pending["request_id"])
    assert records[-1]["data"]["code"] == "self_approval"
    # The nonce was spent by that tap; a fresh request gets fresh buttons for Bob.
    hass.bus.async_fire(
        "mobile_app_notification_action", {"action": approve}, context=Context(user_id=shop.bob.id)
    )
    await hass.async_block_till_done()
    assert not shop.unifi.unlocks
    assert (await audit(hass, shop.bob, limit=1))[-1]["data"]["code"] == "nonce_invalid"
    second = await call(hass, "request_action", UNLOCK, shop.alice)
    approve2 = bob_phone[1].data["data"]["actions"][0]["action"]
    hass.bus.async_fire(
        "mobile_app_notification_action", {"action": approve2}, context=Context(user_id=shop.bob.id)
    )
    await hass.async_block_till_done()
    assert [u.body["extra"]["request_id"] for u in shop.unifi.unlocks] == [second["request_id"]]
    # Deny button; unrelated actions and unknown requests are ignored.
    third = await call(hass, "request_action", UNLOCK, shop.alice)
    deny3 = bob_phone[2].data["data"]["actions"][1]["action"]
    for action in ("SOMETHING_ELSE", "JARVIS_SAFETY_APPROVE_unknown_x", deny3):
        hass.bus.async_fire(
            "mobile_app_notification_action",
            {"action": action},
            context=Context(user_id=shop.bob.id),
        )
    await hass.async_block_till_done()
    assert shop.gate.workflow.get(third["request_id"]).status.value == "denied"
    # A deny nonce pressed as an approve is refused.
    fourth = await call(hass, "request_action", UNLOCK, shop.alice)
    deny4 = bob_phone[3].data["data"]["actions"][1]["action"].replace("_DENY_", "_APPROVE_")
    hass.bus.async_fire(
        "mobile_app_notification_action", {"action": deny4}, context=Context(user_id=shop.bob.id)
    )
    await hass.async_block_till_done()
    assert shop.gate.workflow.get(fourth["request_id"]).status.value == "pending"
    assert len(shop.unifi.unlocks) == 1


async def test_other_agents_and_mcp_get_gated_tools(hass: HomeAssistant, shop: Workshop) -> None:
    """The registered `jarvis_safety` API (what HA's MCP server serves) gates every tool."""
    context = llm.LLMContext(
        platform="mcp",
        context=Context(user_id=shop.alice.id),
        language="en",
        assistant="conversation",
        device_id=None,
    )
    api = await llm.async_get_api(hass, API_ID, context)
    assert UNLOCK_TOOL in {t.name for t in api.tools}
    result = await api.async_call_tool(llm.ToolInput("HassTurnOff", {"name": "Front Door"}))
    assert result["executed"] is False and result["gated"][0]["status"] == "pending"
    result = await api.async_call_tool(llm.ToolInput("HassTurnOn", {"name": "Laser cutter"}))
    assert result["gated"][0]["verdict"] == "dual"
    assert not shop.hazardous_calls()
    # Harmless tools run as before.
    live = await api.async_call_tool(llm.ToolInput("GetLiveContext", {}))
    assert live["success"] is True
    lock = await api.async_call_tool(llm.ToolInput("HassTurnOn", {"name": "Front Door"}))
    assert lock["response_type"] == "action_done"
    with pytest.raises(vol.Invalid, match="must be one of"):
        await api.async_call_tool(llm.ToolInput(UNLOCK_TOOL, {"zone": "attic"}))


async def test_t0_leaves_hazardous_sentences_to_the_gated_models(
    hass: HomeAssistant, session_worker: Worker, cloud: OpenAIServer, unifi: FakeUnifiAccess
) -> None:
    shop = await setup_workshop(
        hass,
        session_worker,
        cloud,
        unifi,
        agent_overrides={"tiers": ["t0", "t2"], "llm_hass_api": ["assist"]},
    )
    cloud.script(
        CHAT_PATH,
        streamed_tool_call("c1", "HassTurnOff", {"name": "Front Door"}),
        Reply(json=oai.completion("A second person must approve that.")),
    )
    result = await ask(hass, "unlock the front door", shop.alice)
    assert result.response.speech["plain"]["speech"] == "A second person must approve that."
    assert cloud.requests_to(CHAT_PATH)  # HA's local intent did not unlock it
    assert not shop.hazardous_calls()
    (pending,) = shop.gate.pending()
    assert pending.action.name == "lock.unlock" and pending.action.targets == (LOCK,)
    # Harmless sentences stay local.
    before = len(cloud.requests)
    result = await ask(hass, "lock the front door", shop.alice)
    assert result.response.response_type.value == "action_done"
    assert len(cloud.requests) == before


async def test_printer_commands_go_through_the_gate(hass: HomeAssistant, shop: Workshop) -> None:
    """How the printers' async_send_device_command uses the gate: check, then an executor runs it."""
    ran: list[tuple[Action, Mapping[str, Any]]] = []

    async def send(hass: HomeAssistant, action: Action, claims: Mapping[str, Any]) -> None:
        ran.append((action, claims))

    remove = async_register_executor(hass, "jarvis_device", send)
    heat = device_action("printer-1", "preheat", {"nozzle": 210})
    decision = await async_check_action(
        hass, heat, user_id=shop.alice.id, context=Context(user_id=shop.alice.id)
    )
    assert decision.status == "pending" and decision.verdict.value == "dual"
    assert "second, different authorised person" in decision.message
    pause = await async_check_action(
        hass, device_action("printer-1", "pause"), user_id=shop.alice.id
    )
    assert pause.allowed and pause.message == "allowed"
    await call(hass, "approve", {"request_id": decision.request_id}, shop.bob)
    ((action, claims),) = ran
    assert action.data == {"nozzle": 210} and claims["action"] == "jarvis_device.preheat"
    assert claims["aud"] == "safety-executor:jarvis_device"
    remove()
    # Without a loaded gate every gated action is refused (fail closed).
    assert await hass.config_entries.async_unload(shop.entry.entry_id)
    closed = await async_check_action(hass, heat, user_id=shop.alice.id)
    assert closed.status == "denied" and closed.code == "gate_unavailable"
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "approve", {"request_id": "x"}, shop.bob)
    assert code(err.value) == "gate_unavailable"


async def test_audit_over_http(
    hass: HomeAssistant,
    shop: Workshop,
    hass_client: ClientSessionGenerator,
    hass_read_only_user: Any,
    hass_admin_user: Any,
) -> None:
    await call(hass, "request_action", UNLOCK, shop.alice)
    client = await hass_client()
    response = await client.get("/api/jarvis/safety/audit?limit=5")
    assert response.status == HTTPStatus.OK
    body = await response.json()
    assert body["total"] == 1 and body["records"][0]["kind"] == "requested"
    assert body["verification"]["ok"] is True
    for query, field in (("limit=0", "limit"), ("limit=x", "limit"), ("since=1", "since")):
        response = await client.get(f"/api/jarvis/safety/audit?{query}")
        assert response.status == HTTPStatus.BAD_REQUEST
        assert (await response.json())["field"] == field
    hass_admin_user.groups = []
    response = await client.get("/api/jarvis/safety/audit")
    assert response.status == HTTPStatus.FORBIDDEN
    assert (await response.json())["error"] == "admin_required"


async def test_http_callers_are_checked_by_address(
    hass: HomeAssistant, shop: Workshop, hass_client: ClientSessionGenerator, hass_admin_user: Any
) -> None:
    """/api/jarvis/query passes the caller's address to the gate (remote guard)."""
    await async_create_person(
        hass, "Admin", user_id=hass_admin_user.id, device_trackers=["device_tracker.admin_phone"]
    )
    hass.states.async_set("device_tracker.admin_phone", "home", {"source_type": "gps"})
    shop.cloud.script(
        CHAT_PATH,
        streamed_tool_call("c1", "HassTurnOff", {"name": "Front Door"}),
        Reply(json=oai.completion("Waiting for a second person.")),
    )
    client = await hass_client()
    response = await client.post("/api/jarvis/query", json={"text": "open the front door"})
    assert response.status == HTTPStatus.OK
    (pending,) = shop.gate.pending()  # from 127.0.0.1: local, so the request is queued
    assert pending.requester == hass_admin_user.id
    # The same tool call from an outside address is refused.
    context = llm.LLMContext(
        platform="test",
        context=Context(user_id=hass_admin_user.id),
        language="en",
        assistant="conversation",
        device_id=None,
    )
    api = await llm.async_get_api(hass, API_ID, context)
    token = REQUEST_SOURCE_IP.set("203.0.113.7")
    try:
        result = await api.async_call_tool(llm.ToolInput("HassTurnOff", {"name": "Front Door"}))
    finally:
        REQUEST_SOURCE_IP.reset(token)
    assert result["gated"][0]["code"] == "remote_requester"
    assert not shop.hazardous_calls()


async def test_safety_entities_create_the_named_add_on_device_themselves(
    hass: HomeAssistant, shop: Workshop
) -> None:
    """Platforms set up in any order: the sensor or the event may be the first on the device.

    With a bare identifiers link the device would be created nameless and the entity ids would
    lose their "jarvis_add_on_" prefix (seen once in CI).
    """
    for entity in (PendingApprovalsSensor(shop.entry, shop.gate), SafetyDecisionEvent(shop.entry)):
        info = entity.device_info
        assert info is not None and info["name"] == "Jarvis add-on"
    ent_reg, dev_reg = er.async_get(hass), dr.async_get(hass)
    for entity_id in (PENDING_SENSOR, "event.jarvis_add_on_safety_decision"):
        registered = ent_reg.async_get(entity_id)
        assert registered is not None and registered.device_id is not None
        device = dev_reg.async_get(registered.device_id)
        assert device is not None and device.name == "Jarvis add-on"
