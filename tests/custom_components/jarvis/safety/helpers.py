"""A workshop in real HA for the safety tests: users, demo camera/lock/switches, people, Jarvis.

HA's own `demo` integration provides a real camera (evidence), a real lock and real switches (one
renamed to the laser cutter). UniFi Access is the loopback console in tests/support; the model is
a loopback OpenAI server scripted to call tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from homeassistant.auth.models import User
from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.const import CONF_URL, EVENT_CALL_SERVICE
from homeassistant.core import Context, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.jarvis.const import DOMAIN
from custom_components.jarvis.safety.gate import SafetyGate, async_get_gate
from custom_components.jarvis.safety.tools import API_ID
from tests.support.fake_providers.openai import OpenAIServer
from tests.support.fake_unifi_access import FakeUnifiAccess
from tests.support.jarvis_entry import async_setup_jarvis
from tests.support.worker import Worker

from ..routing_helpers import agent, provider

AGENT_ID = "conversation.jarvis"
CAMERA = "camera.demo_camera"
LOCK = "lock.front_door"
DOOR = "door-workshop"
# The unlock the tests ask for, and the sensor that counts requests waiting for approval.
UNLOCK = {"action": "jarvis_door.unlock", "target": [DOOR], "zone": "workshop"}
PENDING_SENSOR = "sensor.jarvis_add_on_pending_safety_approvals"
ACCESS_ALICE = "ua-alice"
# Services whose call would mean a hazardous action ran.
HAZARDOUS_SERVICES = {
    ("lock", "unlock"),
    ("lock", "open"),
    ("switch", "turn_on"),
    ("switch", "toggle"),
}


@dataclass
class Workshop:
    """What a safety test works with."""

    entry: MockConfigEntry
    alice: User  # the requester (badged in)
    bob: User  # an administrator: may approve
    carol: User  # not an administrator: may not approve
    unifi: FakeUnifiAccess
    cloud: OpenAIServer
    laser: str
    service_calls: list[Event] = field(default_factory=list)

    hass: HomeAssistant | None = None

    @property
    def gate(self) -> SafetyGate:
        """The loaded gate."""
        assert self.hass is not None
        gate = async_get_gate(self.hass)
        assert gate is not None
        return gate

    def hazardous_calls(self) -> list[Event]:
        """Hazardous service calls HA has seen."""
        return [
            e
            for e in self.service_calls
            if (e.data["domain"], e.data["service"]) in HAZARDOUS_SERVICES
        ]


def zone(**overrides: Any) -> dict[str, Any]:
    """subentries_data for the workshop zone."""
    return {
        "subentry_type": "safety_zone",
        "title": "workshop",
        "unique_id": None,
        "data": {
            "name": "workshop",
            "areas": ["workshop"],
            "doors": [DOOR],
            "cameras": [CAMERA],
            "badge_minutes": 10,
            **overrides,
        },
    }


def rule(**data: Any) -> dict[str, Any]:
    """subentries_data for a rule."""
    return {"subentry_type": "safety_rule", "title": data["name"], "unique_id": None, "data": data}


def console(unifi: FakeUnifiAccess, user_map: str) -> dict[str, Any]:
    """subentries_data for the UniFi Access console."""
    return {
        "subentry_type": "unifi_access_console",
        "title": "console",
        "unique_id": None,
        "data": {
            CONF_URL: unifi.url,
            "token": unifi.token,
            "verify_ssl": False,
            "user_map": user_map,
        },
    }


async def setup_workshop(
    hass: HomeAssistant,
    worker: Worker,
    cloud: OpenAIServer,
    unifi: FakeUnifiAccess,
    *,
    extra: Sequence[dict[str, Any]] = (),
    zone_overrides: dict[str, Any] | None = None,
    agent_overrides: dict[str, Any] | None = None,
    badge: bool = True,
) -> Workshop:
    """HA with people, demo devices, and Jarvis with a workshop zone, a console and a cloud agent."""
    for component in ("conversation", "intent", "http", "camera", "person"):
        assert await async_setup_component(hass, component, {})
    alice = await hass.auth.async_create_user("Alice", group_ids=["system-users"])
    bob = await hass.auth.async_create_user("Bob", group_ids=["system-admin"])
    carol = await hass.auth.async_create_user("Carol", group_ids=["system-users"])
    demo = MockConfigEntry(domain="demo")
    demo.add_to_hass(hass)
    # The safety conftest limits demo to its camera, lock and switch platforms.
    assert await hass.config_entries.async_setup(demo.entry_id)
    await hass.async_block_till_done()
    ent_reg = er.async_get(hass)
    laser = next(
        e.entity_id
        for e in ent_reg.entities.values()
        if e.entity_id.startswith("switch.") and "ac" in e.entity_id
    )
    ent_reg.async_update_entity(laser, name="Laser cutter")
    for entity_id in (LOCK, laser):
        async_expose_entity(hass, conversation.DOMAIN, entity_id, True)
    unifi.add_user(ACCESS_ALICE, "Alice Smith")
    unifi.add_door(DOOR, "Workshop door")
    if badge:
        unifi.badge_in(ACCESS_ALICE, DOOR)
    entry = await async_setup_jarvis(
        hass,
        worker,
        [
            provider("gpt", "openai", cloud.base_url),
            agent(**{"tiers": ["t2"], "llm_hass_api": [API_ID], **(agent_overrides or {})}),
            zone(**(zone_overrides or {})),
            console(unifi, f"{alice.id}: {ACCESS_ALICE}"),
            *extra,
        ],
    )
    shop = Workshop(entry, alice, bob, carol, unifi, cloud, laser, hass=hass)

    @callback
    def record(event: Event) -> None:
        shop.service_calls.append(event)

    hass.bus.async_listen(EVENT_CALL_SERVICE, record)
    return shop


async def ask(
    hass: HomeAssistant, text: str, user: User, conversation_id: str | None = None
) -> conversation.ConversationResult:
    """One chat turn as this user."""
    return await conversation.async_converse(
        hass, text, conversation_id, Context(user_id=user.id), language="en", agent_id=AGENT_ID
    )


async def call(
    hass: HomeAssistant, service: str, data: dict[str, Any], user: User | None
) -> dict[str, Any]:
    """A jarvis.* safety service call as this user, with its response."""
    response = await hass.services.async_call(
        DOMAIN,
        service,
        data,
        blocking=True,
        return_response=True,
        context=Context(user_id=user.id if user else None),
    )
    assert isinstance(response, dict)
    return response


async def audit(hass: HomeAssistant, admin: User, **filters: Any) -> list[dict[str, Any]]:
    """Audit records, oldest first."""
    response = await call(hass, "get_audit_log", filters, admin)
    return list(reversed(response["records"]))


def code(err: Exception) -> str | None:
    """A refusal's code: the gate's own code, else the translation key."""
    return getattr(err, "code", None) or getattr(err, "translation_key", None)
