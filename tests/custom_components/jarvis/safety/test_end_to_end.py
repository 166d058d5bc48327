"""The seed's story end to end in real HA: a hazardous unlock asked in chat, done only with two people.

Chat (scripted cloud model calls the door tool) -> identity at the UniFi Access console (active,
badged in) -> pending request (sensor, event entity) -> a different HA user approves -> Ed25519
command token minted and verified -> the console receives the unlock -> audit record with the
signature and the snapshot hash; the chain verifies.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.jarvis.safety.const import EVENT_SAFETY
from tests.support.fake_providers import openai as oai
from tests.support.fake_providers.base import Reply
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.fake_unifi_access import FakeUnifiAccess
from tests.support.worker import Worker

from ..routing_helpers import streamed_tool_call
from .helpers import ACCESS_ALICE, CAMERA, DOOR, PENDING_SENSOR, ask, audit, call, setup_workshop

EVENT_ENTITY = "event.jarvis_add_on_safety_decision"


async def test_hazardous_unlock_from_chat_needs_a_second_person(
    hass: HomeAssistant, session_worker: Worker, cloud: OpenAIServer, unifi: FakeUnifiAccess
) -> None:
    shop = await setup_workshop(hass, session_worker, cloud, unifi)
    events = async_capture_events(hass, EVENT_SAFETY)
    cloud.script(
        CHAT_PATH,
        streamed_tool_call("c1", "jarvis_unlock_door", {"zone": "workshop"}),
        Reply(json=oai.completion("I asked for the workshop door; a second person must approve.")),
    )
    result = await ask(hass, "unlock the workshop door for me", shop.alice)
    assert "second person" in result.response.speech["plain"]["speech"]
    # The model saw the gate's answer as the tool result, not a success.
    follow_up = cloud.requests_to(CHAT_PATH)[1].json
    tool_msg = next(m for m in follow_up["messages"] if m["role"] == "tool")
    assert '"status": "pending"' in tool_msg["content"]
    assert "second, different authorised person" in tool_msg["content"]
    # Identity: Alice's Access account was read and her badge-in found at the zone's door.
    assert unifi.log_queries[0]["actor_id"] == ACCESS_ALICE
    assert not unifi.unlocks
    (pending,) = shop.gate.pending()
    assert pending.action.name == "jarvis_door.unlock" and pending.action.targets == (DOOR,)
    state = hass.states.get(PENDING_SENSOR)
    assert state is not None and state.state == "1"
    assert state.attributes["requests"][0]["id"] == pending.id
    assert "nonces" not in state.attributes["requests"][0]

    response = await call(hass, "approve", {"request_id": pending.id}, shop.bob)
    assert response["status"] == "executed"
    (unlock,) = unifi.unlocks
    assert unlock.door_id == DOOR
    assert unlock.body["actor_id"] == shop.bob.id and unlock.body["actor_name"] == "Bob"
    assert unlock.body["extra"] == {"request_id": pending.id, "jti": response["jti"]}
    state = hass.states.get(PENDING_SENSOR)
    assert state is not None and state.state == "0"
    event_state = hass.states.get(EVENT_ENTITY)
    assert event_state is not None and event_state.attributes["event_type"] == "executed"

    records = await audit(hass, shop.bob, request_id=pending.id)
    assert [r["kind"] for r in records] == ["requested", "approved", "executed"]
    requested, _approved, executed = records
    assert requested["data"]["identity"]["door"] == DOOR
    assert requested["data"]["identity"]["credential"] == "NFC"
    snapshot = requested["data"]["evidence"][0]
    assert snapshot["camera"] == CAMERA
    stored = Path(hass.config.config_dir, snapshot["path"]).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == snapshot["sha256"]
    data = executed["data"]
    assert data["approvers"] == [shop.bob.id] and data["requester"] == shop.alice.id
    assert data["alg"] == "EdDSA" and data["kid"] == shop.gate.key.kid
    assert len(data["signature"]) > 40 and data["jti"] == response["jti"]
    approval_shots = [e for e in data["evidence"] if "_approval_" in e["path"]]
    assert (
        data["evidence_sha256"] == hashlib.sha256(approval_shots[0]["sha256"].encode()).hexdigest()
    )
    verification = await call(hass, "verify_audit_log", {}, shop.bob)
    assert verification == {"ok": True, "records": 3, "first_broken": None, "problem": None}
    assert [e.data["kind"] for e in events] == ["requested", "approved", "executed"]
