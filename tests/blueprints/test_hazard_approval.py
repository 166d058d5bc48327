"""Hazard approval on approvers' phones, through HA's real mobile_app integration.

Three phones register with mobile_app over its REST API as the Companion app does (Alice the
requester, Bob and Carol the approvers); their push relay is a loopback server speaking the
relay's wire format (the only part that cannot run here: Apple's and Google's push). A tap is
what the app sends: a `fire_event` webhook with `mobile_app_notification_action`, which
mobile_app fires with the phone owner's identity.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.jarvis.const import DOMAIN
from tests.support.mosquitto import free_port
from tests.support.wait import until
from tests.support.worker import Worker

from .helpers import setup_automation, setup_jarvis

LASER = "input_boolean.laser_power"
CLIENT_ID = "https://home-assistant.io/iOS"


@dataclass
class PushRelay:
    """Where mobile_app posts notifications for a phone (the Companion app's push gateway)."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)

    def to(self, device: str) -> list[dict[str, Any]]:
        """What went to one phone, by its registration's push token."""
        return [m for m in self.received if m["push_token"] == f"token-{device}"]


@pytest.fixture
async def relay() -> AsyncGenerator[PushRelay]:
    port = free_port()
    relay = PushRelay(f"http://127.0.0.1:{port}/api/sendPushNotification")

    async def handler(request: web.Request) -> web.Response:
        relay.received.append(await request.json())
        return web.json_response({"success": True}, status=HTTPStatus.CREATED)

    app = web.Application()
    app.router.add_post("/api/sendPushNotification", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield relay
    await runner.cleanup()


async def _register_phone(
    hass: HomeAssistant, client: Any, user: User, device: str, relay: PushRelay
) -> str:
    """Register a phone as its owner (the owner's token); returns its webhook id."""
    refresh = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
    token = hass.auth.async_create_access_token(refresh)
    response = await client.post(
        "/api/mobile_app/registrations",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "app_id": "io.robbie.HomeAssistant",
            "app_name": "Home Assistant",
            "app_version": "2026.1",
            "device_name": device,
            "manufacturer": "Apple",
            "model": "iPhone",
            "os_name": "iOS",
            "os_version": "18.0",
            "supports_encryption": False,
            "app_data": {"push_token": f"token-{device}", "push_url": relay.url},
        },
    )
    assert response.status == HTTPStatus.CREATED, await response.text()
    return str((await response.json())["webhook_id"])


async def _tap(client: Any, webhook_id: str, action: str) -> None:
    """The Companion app reporting a tapped notification button."""
    response = await client.post(
        f"/api/webhook/{webhook_id}",
        json={
            "type": "fire_event",
            "data": {
                "event_type": "mobile_app_notification_action",
                "event_data": {"action": action},
            },
        },
    )
    assert response.status == HTTPStatus.OK


def _button(message: dict[str, Any], title: str) -> str:
    return next(a["action"] for a in message["data"]["actions"] if a["title"] == title)


async def test_approval_on_phones(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    session_worker: Worker,
    relay: PushRelay,
) -> None:
    for component in ("http", "person", "mobile_app"):
        assert await async_setup_component(hass, component, {})
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"laser_power": {"name": "Laser power"}}}
    )
    alice = await hass.auth.async_create_user("Alice", group_ids=["system-users"])
    bob = await hass.auth.async_create_user("Bob", group_ids=["system-admin"])
    carol = await hass.auth.async_create_user("Carol", group_ids=["system-admin"])
    await setup_jarvis(hass, session_worker)
    client = await hass_client_no_auth()
    phones = {
        "alice": await _register_phone(hass, client, alice, "Alice iPhone", relay),
        "bob": await _register_phone(hass, client, bob, "Bob iPhone", relay),
        "carol": await _register_phone(hass, client, carol, "Carol iPhone", relay),
    }
    await hass.async_block_till_done()
    assert hass.services.has_service("notify", "mobile_app_bob_iphone")
    dev_reg = dr.async_get(hass)
    devices = [d.id for d in dev_reg.devices.values() if d.name and "iPhone" in d.name]
    assert len(devices) == 3
    await setup_automation(hass, "hazard_approval_notification", {"approvers": devices})
    safety = async_capture_events(hass, "jarvis_safety_event")

    # Alice asks for laser power: a dual-control action (the gate's default laser rule).
    decision = await hass.services.async_call(
        DOMAIN,
        "request_action",
        {"action": "input_boolean.turn_on", "target": [LASER]},
        blocking=True,
        return_response=True,
        context=Context(user_id=alice.id),
    )
    assert decision is not None and decision["status"] == "pending"
    request_id = decision["request_id"]
    # (Not async_block_till_done: the automation's run waits for the answer until it comes.)
    await until(lambda: len(relay.received) == 3, 15, "a notification on each phone")

    # Each phone got an actionable notification with buttons of its own.
    sent = {who: relay.to(f"{who.capitalize()} iPhone") for who in phones}
    for who, messages in sent.items():
        (message,) = messages
        assert message["title"] == "Jarvis safety approval"
        assert request_id in message["message"]
        assert message["data"]["tag"] == f"jarvis_safety_{request_id}"
        approve = _button(message, "Approve")
        assert approve.startswith(f"JARVIS_SAFETY_APPROVE_{request_id}_")
        assert message["registration_info"]["webhook_id"] == phones[who]
    assert len({_button(m[0], "Approve") for m in sent.values()}) == 3

    # Alice approving her own request from her phone is refused; it stays pending.
    await _tap(client, phones["alice"], _button(sent["alice"][0], "Approve"))
    await until(lambda: [e for e in safety if e.data["kind"] == "refused"], 15, "the refusal")
    assert hass.states.get(LASER).state == "off"
    # Bob's tap approves it: the gate signs, verifies and runs it as the approval of Bob.
    await _tap(client, phones["bob"], _button(sent["bob"][0], "Approve"))
    await until(lambda: len(relay.received) == 6, 15, "the notifications cleared")
    assert hass.states.get(LASER).state == "on"

    audit = await hass.services.async_call(
        DOMAIN,
        "get_audit_log",
        {"request_id": request_id},
        blocking=True,
        return_response=True,
        context=Context(user_id=bob.id),
    )
    assert audit is not None
    records = list(reversed(audit["records"]))
    assert [r["kind"] for r in records] == ["requested", "refused", "approved", "executed"]
    assert records[1]["data"]["code"] == "self_approval"
    assert records[1]["data"]["by"] == alice.id
    assert records[2]["data"]["by"] == bob.id
    assert records[2]["data"]["reason"] == "approved via notification"
    assert records[3]["data"]["approvers"] == [bob.id]

    # Resolved: the notification is cleared on every phone.
    for who in phones:
        last = relay.to(f"{who.capitalize()} iPhone")[-1]
        assert last["message"] == "clear_notification"
        assert last["data"]["tag"] == f"jarvis_safety_{request_id}"
    # Carol's old button no longer works (the request is closed), and does nothing.
    await _tap(client, phones["carol"], _button(sent["carol"][0], "Deny"))
    await until(
        lambda: len([e for e in safety if e.data["kind"] == "refused"]) == 2, 15, "Carol's refusal"
    )
    assert safety[-1].data["by"] == carol.id
    assert hass.states.get(LASER).state == "on"


async def test_issue_approval_actions_needs_a_pending_request(
    hass: HomeAssistant, session_worker: Worker
) -> None:
    await setup_jarvis(hass, session_worker)
    from homeassistant.exceptions import HomeAssistantError

    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "issue_approval_actions",
            {"request_id": "nope"},
            blocking=True,
            return_response=True,
        )
    assert getattr(err.value, "code", None) == "unknown_request"
