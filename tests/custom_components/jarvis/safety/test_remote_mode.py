"""Remote mode: what a remote requester sees, and the local/Tailscale ranges set in the UI.

A remote requester (person away, or an HTTP caller outside the configured ranges) asking for a
dual-control action gets a plain answer — cannot be done remotely, and what to do instead —
whatever the model says; nothing runs, no request opens, the refusal is audited. The same
request from inside the ranges becomes a pending approval. The ranges are an option of the
Jarvis entry; a bad CIDR is a form error.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from homeassistant.components.person import async_create_person
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.jarvis.safety.const import CONF_TRUSTED_NETWORKS
from custom_components.jarvis.safety.remote import NetworkListError, parse_networks
from tests.support.fake_providers import openai as oai
from tests.support.fake_providers.base import Reply
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.fake_unifi_access import FakeUnifiAccess
from tests.support.worker import Worker

from ..routing_helpers import streamed_tool_call
from .helpers import Workshop, ask, audit, rule, setup_workshop

# What a model that ignores the gate's tool result might say: the answer must not be this.
MISLEADING = "Done, the laser cutter is on."


@pytest.fixture
async def shop(
    hass: HomeAssistant, session_worker: Worker, cloud: OpenAIServer, unifi: FakeUnifiAccess
) -> Workshop:
    return await setup_workshop(hass, session_worker, cloud, unifi)


def _script_laser_on(shop: Workshop) -> None:
    shop.cloud.script(
        CHAT_PATH,
        streamed_tool_call("c1", "HassTurnOn", {"name": "Laser cutter"}),
        Reply(json=oai.completion(MISLEADING)),
    )


def _assert_nothing_ran(hass: HomeAssistant, shop: Workshop) -> None:
    state = hass.states.get(shop.laser)
    assert state is not None and state.state == "off"
    assert not shop.hazardous_calls()


async def _set_networks(hass: HomeAssistant, shop: Workshop, networks: list[str]) -> None:
    """Through the options form, as a user would; saving reloads the entry."""
    flow = await hass.config_entries.options.async_init(shop.entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"], {CONF_TRUSTED_NETWORKS: networks}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    assert shop.entry.state is ConfigEntryState.LOADED


async def test_away_requester_is_told_plainly_and_nothing_runs(
    hass: HomeAssistant, shop: Workshop
) -> None:
    await async_create_person(
        hass, "Alice", user_id=shop.alice.id, device_trackers=["device_tracker.alice_phone"]
    )
    hass.states.async_set("device_tracker.alice_phone", "not_home", {"source_type": "gps"})
    await hass.async_block_till_done()
    _script_laser_on(shop)

    result = await ask(hass, "turn on the laser cutter", shop.alice)

    answer = result.response.speech["plain"]["speech"]
    assert answer.startswith("I can't do that remotely: switch.turn_on on " + shop.laser)
    assert "What you can do: ask again from the workshop" in answer
    assert "Nothing was done and no request was opened." in answer
    assert MISLEADING not in answer
    # The model was told the same in its tool result.
    tool_msg = next(
        m for m in shop.cloud.requests_to(CHAT_PATH)[1].json["messages"] if m["role"] == "tool"
    )
    assert "I can't do that remotely" in tool_msg["content"]
    _assert_nothing_ran(hass, shop)
    assert not shop.gate.pending()
    (record,) = await audit(hass, shop.bob)
    assert record["kind"] == "refused"
    assert record["data"]["code"] == "remote_requester"
    assert record["data"]["requester"] == shop.alice.id
    assert record["data"]["source"] == "tool:HassTurnOn"


async def test_http_caller_outside_configured_ranges_is_remote_inside_is_pending(
    hass: HomeAssistant,
    shop: Workshop,
    hass_client: ClientSessionGenerator,
    hass_admin_user: Any,
) -> None:
    # Only a LAN that is not loopback: the test client's 127.0.0.1 is now outside.
    await _set_networks(hass, shop, ["10.20.0.0/16", "100.64.0.0/10"])
    assert shop.gate.settings.trusted_networks == ("10.20.0.0/16", "100.64.0.0/10")
    _script_laser_on(shop)
    client = await hass_client()

    response = await client.post("/api/jarvis/query", json={"text": "turn on the laser cutter"})

    assert response.status == HTTPStatus.OK
    body = await response.json()
    assert body["answer"].startswith("I can't do that remotely")
    assert "workshop's network or Tailscale" in body["answer"]
    _assert_nothing_ran(hass, shop)
    assert not shop.gate.pending()
    (record,) = await audit(hass, shop.bob)
    assert record["data"]["code"] == "remote_requester"
    assert record["data"]["requester"] == hass_admin_user.id

    # The same request from inside the ranges: a pending approval, and the answer says so.
    await _set_networks(hass, shop, ["127.0.0.0/8"])
    shop.cloud.script(
        CHAT_PATH,
        streamed_tool_call("c2", "HassTurnOn", {"name": "Laser cutter"}),
        Reply(json=oai.completion("A second person must approve that first.")),
    )
    response = await client.post("/api/jarvis/query", json={"text": "turn on the laser cutter"})
    body = await response.json()
    assert body["answer"] == "A second person must approve that first."
    (pending,) = shop.gate.pending()
    assert pending.requester == hass_admin_user.id
    assert pending.action.name == "switch.turn_on"
    _assert_nothing_ran(hass, shop)
    records = await audit(hass, shop.bob)
    assert [r["kind"] for r in records] == ["refused", "requested"]


async def test_bad_cidr_is_a_form_error(hass: HomeAssistant, shop: Workshop) -> None:
    flow = await hass.config_entries.options.async_init(shop.entry.entry_id)
    assert flow["type"] is FlowResultType.FORM
    # Shown with the defaults (private ranges and Tailscale) when none are set.
    schema = {str(k): k for k in flow["data_schema"].schema}
    suggested = schema[CONF_TRUSTED_NETWORKS].description["suggested_value"]
    assert "100.64.0.0/10" in suggested and "192.168.0.0/16" in suggested

    result = await hass.config_entries.options.async_configure(
        flow["flow_id"], {CONF_TRUSTED_NETWORKS: ["192.168.1.0/24", "192.168.1.300/24"]}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_TRUSTED_NETWORKS: "invalid_network"}
    assert result["description_placeholders"]["network"] == "192.168.1.300/24"
    # Fixed: saved normalised, and the budgets the form also holds are kept as they were.
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"], {CONF_TRUSTED_NETWORKS: ["192.168.1.7/24", " fd7a:115c:a1e0::/48 "]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert shop.entry.options[CONF_TRUSTED_NETWORKS] == ["192.168.1.0/24", "fd7a:115c:a1e0::/48"]
    assert shop.gate.settings.trusted_networks == ("192.168.1.0/24", "fd7a:115c:a1e0::/48")


def test_parse_networks() -> None:
    assert parse_networks(["", "10.0.0.1/8", "10.0.0.0/8", "::1"]) == ("10.0.0.0/8", "::1/128")
    with pytest.raises(NetworkListError) as err:
        parse_networks(["tailscale"])
    assert err.value.value == "tailscale"
    assert "CIDR" in str(err.value)


async def test_rule_that_needs_presence_says_so(
    hass: HomeAssistant, session_worker: Worker, cloud: OpenAIServer, unifi: FakeUnifiAccess
) -> None:
    shop = await setup_workshop(
        hass,
        session_worker,
        cloud,
        unifi,
        extra=[
            rule(
                name="laser on site", verdict="confirm", keywords=["laser"], presence_required=True
            )
        ],
    )
    _script_laser_on(shop)

    # Alice has no person entity: nobody can tell she is there.
    result = await ask(hass, "turn on the laser cutter", shop.alice)

    answer = result.response.speech["plain"]["speech"]
    assert answer.startswith("I can't do that for you now: switch.turn_on on " + shop.laser)
    assert "needs you to be there in person" in answer
    assert "ask someone who is there to request it" in answer
    _assert_nothing_ran(hass, shop)
    (record,) = await audit(hass, shop.bob)
    assert record["data"]["code"] == "presence_required"
    assert record["data"]["rule"] == "laser_on_site"
