"""The script blueprint: a dashboard button that asks the gate, as the person who pressed it."""

from __future__ import annotations

from homeassistant.core import Context, HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from tests.support.worker import Worker

from .helpers import install_blueprints, notifications, setup_jarvis

LASER = "input_boolean.laser_power"
LIGHT = "input_boolean.bench_light"


async def test_script_requests_through_the_gate(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, session_worker: Worker
) -> None:
    ws = await hass_ws_client()
    assert await async_setup_component(
        hass,
        "input_boolean",
        {"input_boolean": {"laser_power": {"name": "Laser power"}, "bench_light": {}}},
    )
    alice = await hass.auth.async_create_user("Alice", group_ids=["system-users"])
    await setup_jarvis(hass, session_worker)
    install_blueprints(hass)
    for component in ("persistent_notification", "notify"):
        assert await async_setup_component(hass, component, {})
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                name: {
                    "use_blueprint": {
                        "path": "jarvis/request_hazardous_action.yaml",
                        "input": {"action": "input_boolean.turn_on", "target": target},
                    }
                }
                for name, target in (("laser_on", LASER), ("light_on", LIGHT))
            }
        },
    )
    await hass.async_block_till_done()

    # Hazardous: a pending request in Alice's name, and she is told who must approve.
    result = await hass.services.async_call(
        "script", "laser_on", blocking=True, return_response=True, context=Context(user_id=alice.id)
    )
    assert result is not None and result["status"] == "pending"
    assert hass.states.get(LASER).state == "off"
    from custom_components.jarvis.safety.gate import async_get_gate

    gate = async_get_gate(hass)
    assert gate is not None
    (pending,) = gate.pending()
    assert pending.requester == alice.id and pending.id == result["request_id"]
    (note,) = await notifications(ws)
    assert note["title"] == f"input_boolean.turn_on {LASER}: pending"
    assert "a second, different authorised person must approve it" in note["message"]

    # Not hazardous: the gate allows it and runs it for her.
    result = await hass.services.async_call(
        "script", "light_on", blocking=True, return_response=True, context=Context(user_id=alice.id)
    )
    assert result is not None and result["status"] == "allowed"
    assert hass.states.get(LIGHT).state == "on"
    notes = await notifications(ws)
    assert notes[-1]["message"] == "Done."
