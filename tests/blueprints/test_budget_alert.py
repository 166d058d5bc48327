"""Budget alert: a real conversation costs money, the real cost sensor passes the threshold."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta

from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.jarvis.routing_metrics import REFRESH_COOLDOWN_S
from tests.custom_components.jarvis.routing_helpers import agent, provider, streamed
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.worker import Worker

from .helpers import notifications, setup_automation, setup_jarvis

COST_TODAY = "sensor.jarvis_router_cost_today"


@pytest.fixture
async def cloud() -> AsyncGenerator[OpenAIServer]:
    server = await OpenAIServer().start()
    yield server
    await server.stop()


async def _ask(hass: HomeAssistant, text: str) -> None:
    await conversation.async_converse(
        hass, text, None, Context(), language="en", agent_id="conversation.jarvis"
    )
    # The cost sensors refresh at most once per cooldown after a decision.
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=REFRESH_COOLDOWN_S + 1))
    await hass.async_block_till_done()


async def test_alert_when_spending_passes_the_threshold(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    session_worker: Worker,
    cloud: OpenAIServer,
) -> None:
    ws = await hass_ws_client()
    for component in ("conversation", "intent"):
        assert await async_setup_component(hass, component, {})
    # 20 input + a few output tokens at these prices: about 0.06 USD per answer.
    await setup_jarvis(
        hass,
        session_worker,
        [
            provider("gpt", "openai", cloud.base_url, price_in=2500.0, price_out=2500.0),
            agent(tiers=["t2"], llm_hass_api=[]),
        ],
    )
    state = hass.states.get(COST_TODAY)
    assert state is not None and float(state.state) == 0.0
    await setup_automation(hass, "budget_alert", {"cost_sensor": COST_TODAY, "threshold": 0.1})

    cloud.script(CHAT_PATH, streamed("Use PETG for the bracket."))
    await _ask(hass, "which filament for an outdoor bracket")
    first = float(hass.states.get(COST_TODAY).state)
    assert 0 < first < 0.1
    assert await notifications(ws) == []

    cloud.script(CHAT_PATH, streamed("Print it at 240 degrees with a brim."))
    await _ask(hass, "what temperature")
    total = float(hass.states.get(COST_TODAY).state)
    assert total > 0.1
    (note,) = await notifications(ws)
    assert note["title"] == "Jarvis model budget"
    assert f"is {total:.2f} USD, above the 0.10 USD alert threshold" in note["message"]
