"""Zone, rule and UniFi Access subentry flows; malformed policies and bad service input get clear errors."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.translation import async_get_translations
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.jarvis.const import CONF_API_TOKEN, DOMAIN
from tests.support.fake_providers.openai import OpenAIServer
from tests.support.fake_unifi_access import FakeUnifiAccess
from tests.support.worker import Worker

from .helpers import DOOR, Workshop, call, code, rule, setup_workshop, zone


@pytest.fixture
async def shop(
    hass: HomeAssistant, session_worker: Worker, cloud: OpenAIServer, unifi: FakeUnifiAccess
) -> Workshop:
    return await setup_workshop(hass, session_worker, cloud, unifi)


async def _flow(hass: HomeAssistant, shop: Workshop, kind: str, data: dict[str, Any]) -> Any:
    result = await hass.config_entries.subentries.async_init(
        (shop.entry.entry_id, kind), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "user"
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], data)
    await hass.async_block_till_done()
    return result


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"name": "bad-name!"}, {"name": "invalid_name"}),
        ({"name": "Workshop"}, {"name": "duplicate_zone"}),
        (
            {"name": "office", "notify_services": ["mobile_app_nobody"]},
            {"notify_services": "unknown_notify"},
        ),
        ({"name": "office", "badge_minutes": 0}, {"badge_minutes": "invalid_minutes"}),
    ],
)
async def test_zone_form_errors(
    hass: HomeAssistant, shop: Workshop, data: dict[str, Any], errors: dict[str, str]
) -> None:
    try:
        result = await _flow(hass, shop, "safety_zone", data)
    except vol.Invalid:
        # The form's own selector refuses it before our validation (0 minutes).
        assert "badge_minutes" in errors
        return
    assert result["type"] is FlowResultType.FORM and result["errors"] == errors


async def test_zone_added_and_reconfigured(hass: HomeAssistant, shop: Workshop) -> None:
    result = await _flow(
        hass,
        shop,
        "safety_zone",
        {"name": "Laser room", "doors": ["door-laser"], "badge_minutes": 5},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY and result["title"] == "laser_room"
    assert [z.name for z in shop.gate.settings.policy.zones] == ["workshop", "laser_room"]
    sub = next(s for s in shop.entry.subentries.values() if s.title == "laser_room")
    result = await shop.entry.start_subentry_reconfigure_flow(hass, sub.subentry_id)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"name": "Laser room", "badge_minutes": 3}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "reconfigure_successful"
    assert shop.gate.settings.policy.zone("laser_room").badge_minutes == 3


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"name": "r", "verdict": "dual", "actions": ["unlock"]}, {"actions": "invalid_action"}),
        ({"name": "r", "verdict": "dual"}, {"actions": "rule_matches_everything"}),
        (
            {"name": "r", "verdict": "dual", "actions": ["lock.unlock"], "zone": "attic"},
            {"zone": "unknown_zone"},
        ),
        (
            {
                "name": "r",
                "verdict": "dual",
                "actions": ["lock.unlock"],
                "window_start": "08:00:00",
            },
            {"window_end": "window_incomplete"},
        ),
        (
            {
                "name": "r",
                "verdict": "dual",
                "actions": ["lock.unlock"],
                "window_start": "08:00:00",
                "window_end": "08:00:00",
            },
            {"window_end": "window_empty"},
        ),
    ],
)
async def test_rule_form_errors(
    hass: HomeAssistant, shop: Workshop, data: dict[str, Any], errors: dict[str, str]
) -> None:
    result = await _flow(hass, shop, "safety_rule", data)
    assert result["type"] is FlowResultType.FORM and result["errors"] == errors


async def test_rule_added_takes_effect(hass: HomeAssistant, shop: Workshop) -> None:
    result = await _flow(
        hass,
        shop,
        "safety_rule",
        {
            "name": "Night shift",
            "verdict": "deny",
            "actions": ["jarvis_door.*"],
            "zone": "workshop",
            "window_start": "00:00:00",
            "window_end": "00:01:00",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY and result["title"] == "night_shift"
    decision = await call(
        hass, "request_action", {"action": "jarvis_door.unlock", "target": [DOOR]}, shop.alice
    )
    assert decision["status"] == "denied" and "night_shift" in decision["reason"]


async def test_console_form(hass: HomeAssistant, shop: Workshop) -> None:
    bad = await _flow(hass, shop, "unifi_access_console", {CONF_URL: "https://", "token": "t"})
    assert bad["errors"] == {CONF_URL: "invalid_url"}
    bad = await _flow(hass, shop, "unifi_access_console", {CONF_URL: "10.0.0.2", "token": " "})
    assert bad["errors"] == {"token": "token_required"}
    bad = await _flow(
        hass,
        shop,
        "unifi_access_console",
        {CONF_URL: "10.0.0.2", "token": "t", "user_map": "alice"},
    )
    assert bad["errors"] == {"user_map": "invalid_user_map"}
    good = await _flow(
        hass,
        shop,
        "unifi_access_console",
        {CONF_URL: "10.0.0.2", "token": "t", "user_map": "a: b\n\n"},
    )
    assert good["type"] is FlowResultType.CREATE_ENTRY
    assert good["data"][CONF_URL] == "https://10.0.0.2:12445"


async def test_flows_need_a_loaded_entry(hass: HomeAssistant, shop: Workshop) -> None:
    sub = next(s for s in shop.entry.subentries.values() if s.subentry_type == "safety_zone")
    assert await hass.config_entries.async_unload(shop.entry.entry_id)
    for kind in ("safety_zone", "safety_rule", "unifi_access_console"):
        result = await hass.config_entries.subentries.async_init(
            (shop.entry.entry_id, kind), context={"source": SOURCE_USER}
        )
        assert result["type"] is FlowResultType.ABORT and result["reason"] == "entry_not_loaded"
    result = await hass.config_entries.subentries.async_init(
        (shop.entry.entry_id, "safety_zone"),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": sub.subentry_id},
    )
    assert result["reason"] == "entry_not_loaded"


async def test_every_safety_form_text_is_translated(hass: HomeAssistant, shop: Workshop) -> None:
    config = await async_get_translations(hass, "en", "config_subentries", [DOMAIN])
    errors = await async_get_translations(hass, "en", "exceptions", [DOMAIN])
    for kind in ("safety_zone", "safety_rule", "unifi_access_console"):
        for key in (
            "invalid_name",
            "unknown_zone",
            "invalid_action",
            "invalid_user_map",
            "window_incomplete",
        ):
            assert config[f"component.{DOMAIN}.config_subentries.{kind}.error.{key}"]
    refused = errors[f"component.{DOMAIN}.exceptions.safety_refused.message"]
    assert "{code}" in refused and "{reason}" in refused


async def test_bad_service_input(hass: HomeAssistant, shop: Workshop) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "request_action", {"action": "unlock", "target": [DOOR]}, shop.alice)
    assert code(err.value) == "invalid_action"
    assert "unlock is not an action" in str(err.value)
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass, "request_action", {"action": "jarvis_door.unlock", "zone": "attic"}, shop.alice
        )
    assert code(err.value) == "unknown_zone"
    assert "no safety zone named attic. Configured zones: workshop" in str(err.value)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "approve", {"request_id": "nope"}, shop.bob)
    assert code(err.value) == "unknown_request"
    assert "there is no request 'nope'" in str(err.value)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "deny", {"request_id": "nope"}, shop.bob)
    assert code(err.value) == "unknown_request"
    with pytest.raises(vol.Invalid):
        await call(hass, "get_audit_log", {"limit": 0}, shop.bob)
    with pytest.raises(vol.Invalid):
        await call(hass, "approve", {}, shop.bob)
    # The gate's own check names an unknown zone too (code callers).
    from custom_components.jarvis.safety.policy import Action

    with pytest.raises(HomeAssistantError) as err:
        await shop.gate.async_check(
            Action("jarvis_door", "unlock"), user_id=shop.alice.id, zone="attic"
        )
    assert code(err.value) == "invalid_zone"


async def test_malformed_stored_policy_is_a_setup_error(
    hass: HomeAssistant, session_worker: Worker
) -> None:
    health = session_worker.health()
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=str(health["instance_id"]),
        data={CONF_URL: session_worker.url, CONF_API_TOKEN: session_worker.api_token},
        subentries_data=[
            zone(),
            rule(name="r", verdict="dual", actions=["lock.unlock"], zone="attic"),
        ],
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None and "no safety zone named 'attic'" in entry.reason
