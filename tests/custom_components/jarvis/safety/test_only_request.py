"""`request_id: only`: what the wall tablet's Approve / Deny buttons send (a dashboard button
cannot put the listed request's id into its action); refused unless exactly one request waits."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest

from tests.support.fake_providers.openai import OpenAIServer
from tests.support.fake_unifi_access import FakeUnifiAccess
from tests.support.worker import Worker

from .helpers import PENDING_SENSOR, UNLOCK, Workshop, call, code, setup_workshop


@pytest.fixture
async def shop(
    hass: HomeAssistant, session_worker: Worker, cloud: OpenAIServer, unifi: FakeUnifiAccess
) -> Workshop:
    return await setup_workshop(hass, session_worker, cloud, unifi)


async def test_only_names_the_single_waiting_request_and_is_refused_for_several(
    hass: HomeAssistant, shop: Workshop
) -> None:
    first = await call(hass, "request_action", UNLOCK, shop.alice)
    second = await call(hass, "request_action", UNLOCK, shop.alice)
    state = hass.states.get(PENDING_SENSOR)
    assert state is not None and state.state == "2"
    listed = [r["id"] for r in state.attributes["requests"]]
    assert listed == [first["request_id"], second["request_id"]]
    # Two wait: "only" could mean either, so it is refused and nothing runs.
    for service in ("approve", "deny"):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, service, {"request_id": "only"}, shop.bob)
        assert code(err.value) == "several_pending_requests"
        assert "2 safety requests are waiting" in str(err.value)
    assert shop.unifi.unlocks == []

    await call(hass, "deny", {"request_id": first["request_id"]}, shop.bob)
    approved = await call(hass, "approve", {"request_id": "only"}, shop.bob)
    assert approved["id"] == second["request_id"] and approved["status"] == "executed"
    assert len(shop.unifi.unlocks) == 1
    third = await call(hass, "request_action", UNLOCK, shop.alice)
    denied = await call(hass, "deny", {"request_id": "only"}, shop.bob)
    assert denied["id"] == third["request_id"] and denied["status"] == "denied"
    assert len(shop.unifi.unlocks) == 1
    await hass.async_block_till_done()
    assert hass.states.get(PENDING_SENSOR).state == "0"

    for service in ("approve", "deny"):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, service, {"request_id": "only"}, shop.bob)
        assert code(err.value) == "no_pending_request"
        assert "No safety request is waiting" in str(err.value)
