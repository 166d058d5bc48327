"""Every refusal has a clear reason and an audit record, and nothing is executed.

Self-approval, an expired request, a replayed / tampered / alg-none / wrong-key / pre-rotation
token, UniFi Access down, a requester not badged in, a remote requester, a deny rule.
"""

from __future__ import annotations

import base64
from datetime import timedelta
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.person import async_create_person
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import jwt
import pytest

from custom_components.jarvis.safety.gate import GateError
from custom_components.jarvis.safety.signing import TOKEN_TYPE, SigningKey
from custom_components.jarvis.safety.workflow import Request
from tests.support.fake_providers.openai import OpenAIServer
from tests.support.fake_unifi_access import FakeUnifiAccess
from tests.support.worker import Worker

from .helpers import ACCESS_ALICE, DOOR, UNLOCK, Workshop, audit, call, code, rule, setup_workshop


async def _request(
    hass: HomeAssistant, shop: Workshop, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    return await call(hass, "request_action", data or UNLOCK, shop.alice)


async def _last(hass: HomeAssistant, shop: Workshop) -> dict[str, Any]:
    return (await audit(hass, shop.bob, limit=1))[-1]


async def _refused(hass: HomeAssistant, shop: Workshop, code: str) -> dict[str, Any]:
    record = await _last(hass, shop)
    assert record["kind"] == "refused", record
    assert record["data"]["code"] == code
    assert record["data"]["reason"]
    return record


@pytest.fixture
async def shop(
    hass: HomeAssistant, session_worker: Worker, cloud: OpenAIServer, unifi: FakeUnifiAccess
) -> Workshop:
    return await setup_workshop(
        hass,
        session_worker,
        cloud,
        unifi,
        extra=[rule(name="no laser", verdict="deny", keywords=["laser"])],
    )


async def _approved(hass: HomeAssistant, shop: Workshop) -> Request:
    """A request approved by Bob in the workflow, not yet executed (to hand tokens in by hand)."""
    pending = await _request(hass, shop)
    return shop.gate.workflow.approve(
        pending["request_id"], shop.bob.id, pending_now(), authorised=lambda _u: True
    )


def pending_now() -> Any:
    from homeassistant.util import dt as dt_util

    return dt_util.utcnow()


async def test_self_approval(hass: HomeAssistant, shop: Workshop) -> None:
    pending = await _request(hass, shop)
    assert pending["status"] == "pending" and pending["verdict"] == "dual"
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "approve", {"request_id": pending["request_id"]}, shop.alice)
    assert code(err.value) == "self_approval"
    assert "nobody may approve their own request" in str(err.value)
    await _refused(hass, shop, "self_approval")
    # A non-administrator is no second person either.
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "approve", {"request_id": pending["request_id"]}, shop.carol)
    assert code(err.value) == "not_authorised"
    await _refused(hass, shop, "not_authorised")
    assert not shop.unifi.unlocks
    assert shop.gate.workflow.get(pending["request_id"]).status.value == "pending"


async def test_expired_request(
    hass: HomeAssistant, shop: Workshop, freezer: FrozenDateTimeFactory
) -> None:
    pending = await _request(hass, shop)
    freezer.tick(timedelta(minutes=6))
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "approve", {"request_id": pending["request_id"]}, shop.bob)
    assert code(err.value) == "request_expired"
    await _refused(hass, shop, "request_expired")
    assert not shop.unifi.unlocks
    # The periodic sweep records expiry for requests nobody touched.
    other = await _request(hass, shop)
    freezer.tick(timedelta(minutes=6))
    await shop.gate.async_expire()
    records = await audit(hass, shop.bob, request_id=other["request_id"])
    assert [r["kind"] for r in records] == ["requested", "expired"]


async def test_replayed_token(hass: HomeAssistant, shop: Workshop) -> None:
    request = await _approved(hass, shop)
    token, _ = shop.gate.mint_for(request, None)
    assert (await shop.gate.async_execute_token(token))["status"] == "executed"
    assert len(shop.unifi.unlocks) == 1
    with pytest.raises(GateError) as err:
        await shop.gate.async_execute_token(token)
    assert err.value.code == "token_replayed"
    record = await _refused(hass, shop, "token_replayed")
    assert record["data"]["signature"] == token.rsplit(".", 1)[1]
    assert len(shop.unifi.unlocks) == 1


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_tampered_alg_none_and_wrong_key_tokens(hass: HomeAssistant, shop: Workshop) -> None:
    request = await _approved(hass, shop)
    token, _ = shop.gate.mint_for(request, None)
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    tampered = f"{head}.{_b64({**claims, 'target': ['door-vault']})}.{sig}"
    none = jwt.encode(
        claims, None, algorithm="none", headers={"typ": TOKEN_TYPE, "kid": shop.gate.key.kid}
    )
    impostor = SigningKey(kid=shop.gate.key.kid, private=SigningKey.generate().private)
    forged = jwt.encode(
        {**claims, "jti": "forged"},
        impostor.private,
        algorithm="EdDSA",
        headers={"typ": TOKEN_TYPE, "kid": impostor.kid},
    )
    for bad, expected in (
        (tampered, "token_bad_signature"),
        (none, "token_bad_alg"),
        (forged, "token_bad_signature"),
    ):
        with pytest.raises(GateError) as err:
            await shop.gate.async_execute_token(bad)
        assert err.value.code == expected
        await _refused(hass, shop, expected)
    assert not shop.unifi.unlocks
    # The genuine token still works once.
    await shop.gate.async_execute_token(token)
    assert len(shop.unifi.unlocks) == 1


async def test_token_after_key_rotation(hass: HomeAssistant, shop: Workshop) -> None:
    request = await _approved(hass, shop)
    token, _ = shop.gate.mint_for(request, None)
    old_kid = shop.gate.key.kid
    rotated = await call(hass, "rotate_signing_key", {}, shop.bob)
    assert rotated["previous_kid"] == old_kid and rotated["kid"] != old_kid
    with pytest.raises(GateError) as err:
        await shop.gate.async_execute_token(token)
    assert err.value.code == "token_unknown_key"
    await _refused(hass, shop, "token_unknown_key")
    assert not shop.unifi.unlocks
    kinds = [r["kind"] for r in await audit(hass, shop.bob)]
    assert "key_rotated" in kinds


async def test_unifi_access_down(hass: HomeAssistant, shop: Workshop) -> None:
    await shop.unifi.stop()
    decision = await _request(hass, shop)
    assert decision["status"] == "denied" and decision["code"] == "identity_unreachable"
    assert "UniFi Access cannot be reached" in decision["message"]
    await _refused(hass, shop, "identity_unreachable")
    assert not shop.gate.pending()


async def test_not_badged_in(hass: HomeAssistant, shop: Workshop) -> None:
    shop.unifi.hits.clear()
    # Old, blocked, remote-app and other-door events do not count.
    from homeassistant.util import dt as dt_util

    shop.unifi.badge_in(ACCESS_ALICE, DOOR, when=dt_util.utcnow() - timedelta(minutes=30))
    shop.unifi.badge_in(ACCESS_ALICE, DOOR, result="BLOCKED")
    shop.unifi.badge_in(ACCESS_ALICE, DOOR, credential="REMOTE_THROUGH_UAH")
    shop.unifi.badge_in(ACCESS_ALICE, "door-office")
    decision = await _request(hass, shop)
    assert decision["code"] == "identity_not_badged_in"
    assert "not badged in at a door of zone workshop in the last 10 minutes" in decision["reason"]
    await _refused(hass, shop, "identity_not_badged_in")
    # A deactivated account fails too, and so does a requester without a mapped Access user.
    shop.unifi.badge_in(ACCESS_ALICE, DOOR)
    shop.unifi.users[ACCESS_ALICE]["status"] = "DEACTIVATED"
    assert (await _request(hass, shop))["code"] == "identity_inactive"
    carol = await call(hass, "request_action", UNLOCK, shop.carol)
    assert carol["code"] == "identity_unknown"
    await _refused(hass, shop, "identity_unknown")


async def test_untracked_person_is_not_remote(hass: HomeAssistant, shop: Workshop) -> None:
    """A person without trackers is `unknown` (the onboarded owner is): not away, not remote."""
    await async_create_person(hass, "Alice", user_id=shop.alice.id)
    await hass.async_block_till_done()
    person = hass.states.get("person.alice")
    assert person is not None and person.state == "unknown"
    decision = await _request(hass, shop)
    assert decision["status"] == "pending", decision
    # Presence is still unknown, so a rule that requires it is not met.
    requester = shop.gate.requester(shop.alice.id, "127.0.0.1")
    assert requester.home is None and requester.remote is False


async def test_remote_requester(hass: HomeAssistant, shop: Workshop) -> None:
    await async_create_person(
        hass, "Alice", user_id=shop.alice.id, device_trackers=["device_tracker.alice_phone"]
    )
    hass.states.async_set("device_tracker.alice_phone", "not_home", {"source_type": "gps"})
    await hass.async_block_till_done()
    person = hass.states.get("person.alice")
    assert person is not None and person.state == "not_home"
    decision = await _request(hass, shop)
    assert decision["status"] == "denied" and decision["code"] == "remote_requester"
    assert "cannot be requested remotely" in decision["reason"]
    await _refused(hass, shop, "remote_requester")
    # From outside the local/Tailscale ranges counts as remote too (HTTP callers pass their IP).
    hass.states.async_set("device_tracker.alice_phone", "home", {"source_type": "gps"})
    await hass.async_block_till_done()
    from custom_components.jarvis.safety.policy import Action

    action = Action("jarvis_door", "unlock", (DOOR,))
    outside = await shop.gate.async_check(action, user_id=shop.alice.id, source_ip="203.0.113.9")
    assert outside.code == "remote_requester"
    garbage = await shop.gate.async_check(action, user_id=shop.alice.id, source_ip="not-an-ip")
    assert garbage.code == "remote_requester"
    tailscale = await shop.gate.async_check(
        action, user_id=shop.alice.id, source_ip="100.101.102.103"
    )
    assert tailscale.status == "pending"


async def test_deny_rule(hass: HomeAssistant, shop: Workshop) -> None:
    decision = await _request(hass, shop, {"action": "switch.turn_on", "target": [shop.laser]})
    assert decision["status"] == "denied" and decision["code"] == "denied_by_policy"
    assert "rule 'no_laser' forbids switch.turn_on" in decision["reason"]
    record = await _refused(hass, shop, "denied_by_policy")
    assert record["data"]["rule"] == "no_laser"
    state = hass.states.get(shop.laser)
    assert state is not None and state.state == "off"
    assert not shop.hazardous_calls()


async def test_allowed_request_runs_for_the_caller(hass: HomeAssistant, shop: Workshop) -> None:
    lock = "lock.front_door"
    decision = await _request(hass, shop, {"action": "lock.lock", "target": [lock]})
    assert decision["status"] == "allowed"
    (event,) = [e for e in shop.service_calls if e.data["service"] == "lock"]
    assert event.context.user_id == shop.alice.id


async def test_approved_lock_unlock_runs_as_the_requester(
    hass: HomeAssistant, shop: Workshop
) -> None:
    """A gated HA service (not the door tool) runs through HA's own service after approval."""
    pending = await _request(hass, shop, {"action": "lock.unlock", "target": ["lock.front_door"]})
    assert pending["status"] == "pending"
    done = await call(hass, "approve", {"request_id": pending["request_id"]}, shop.bob)
    assert done["status"] == "executed"
    (event,) = shop.hazardous_calls()
    assert event.data["service_data"] == {"entity_id": ["lock.front_door"]}
    assert event.context.user_id == shop.alice.id
    # Asking again after it ran: the request is closed.
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "approve", {"request_id": pending["request_id"]}, shop.bob)
    assert code(err.value) == "request_closed"


async def test_confirm_and_deny(hass: HomeAssistant, shop: Workshop) -> None:
    pending = await _request(hass, shop, {"action": "jarvis_device.start", "target": ["printer-1"]})
    assert pending["verdict"] == "confirm"
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "approve", {"request_id": pending["request_id"]}, shop.bob)
    assert code(err.value) == "confirm_by_requester"
    denied = await call(hass, "deny", {"request_id": pending["request_id"]}, shop.bob)
    assert denied["status"] == "denied" and denied["decided_by"] == shop.bob.id
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "deny", {"request_id": pending["request_id"]}, shop.bob)
    assert code(err.value) == "request_closed"
    # Confirmed by the requester, but nothing can run printer commands yet: a clear failure.
    again = await _request(hass, shop, {"action": "jarvis_device.start", "target": ["printer-1"]})
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "approve", {"request_id": again["request_id"]}, shop.alice)
    assert code(err.value) == "execution_failed"
    assert (await _last(hass, shop))["kind"] == "failed"


async def test_requester_without_user(hass: HomeAssistant, shop: Workshop) -> None:
    response = await hass.services.async_call(
        "jarvis",
        "request_action",
        {"action": "lock.unlock", "target": ["lock.front_door"]},
        blocking=True,
        return_response=True,
        context=Context(),
    )
    assert isinstance(response, dict) and response["code"] == "requester_unknown"
    await _refused(hass, shop, "requester_unknown")


async def test_door_outside_every_zone(hass: HomeAssistant, shop: Workshop) -> None:
    """No zone, no identity check possible: a door unlock there is refused, not just queued."""
    decision = await _request(hass, shop, {"action": "jarvis_door.unlock", "target": ["door-shed"]})
    assert decision["status"] == "denied" and decision["code"] == "identity_unavailable"
    assert "door door-shed belongs to no safety zone" in decision["reason"]
    await _refused(hass, shop, "identity_unavailable")


async def test_approved_action_with_bad_service_data_fails_cleanly(
    hass: HomeAssistant, shop: Workshop
) -> None:
    pending = await _request(
        hass, shop, {"action": "lock.unlock", "target": ["lock.front_door"], "data": {"bogus": 1}}
    )
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "approve", {"request_id": pending["request_id"]}, shop.bob)
    assert code(err.value) == "execution_failed"
    assert (await _last(hass, shop))["kind"] == "failed"
    assert shop.gate.workflow.get(pending["request_id"]).status.value == "failed"
    assert not shop.hazardous_calls() or all(
        e.data["service_data"].get("bogus") == 1 for e in shop.hazardous_calls()
    )
    state = hass.states.get("lock.front_door")
    assert state is not None and state.state == "locked"
