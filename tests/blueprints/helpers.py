"""Install the repository's blueprints into a test HA and use them as a user would."""

from __future__ import annotations

from pathlib import Path
import shutil
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

ROOT = Path(__file__).resolve().parents[2]
BLUEPRINTS = ROOT / "blueprints"


def install_blueprints(hass: HomeAssistant) -> list[Path]:
    """Copy blueprints/<domain>/jarvis/*.yaml into the config dir, where HA looks for them."""
    copied = []
    for domain in ("automation", "script"):
        source = BLUEPRINTS / domain / "jarvis"
        target = Path(hass.config.path("blueprints", domain, "jarvis"))
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.glob("*.yaml")):
            shutil.copy(path, target / path.name)
            copied.append(target / path.name)
    return copied


async def setup_automation(
    hass: HomeAssistant, blueprint: str, inputs: dict[str, Any], *, alias: str = "test"
) -> str:
    """One automation from `blueprints/automation/jarvis/<blueprint>.yaml`; its entity id."""
    install_blueprints(hass)
    # The notify action the blueprints default to: notify.persistent_notification.
    for component in ("persistent_notification", "notify"):
        assert await async_setup_component(hass, component, {})
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "id": alias,
                    "alias": alias,
                    "use_blueprint": {"path": f"jarvis/{blueprint}.yaml", "input": inputs},
                }
            ]
        },
    )
    await hass.async_block_till_done()
    entity_id = f"automation.{alias}"
    state = hass.states.get(entity_id)
    assert state is not None and state.state == "on", state
    return entity_id


async def notifications(client: Any) -> list[dict[str, Any]]:
    """Persistent notifications (what `notify.persistent_notification` created), via the API.

    `client` is a connected `hass_ws_client()`, made before a test moves the clock (its access
    token expires after 30 minutes).
    """
    await client.send_json_auto_id({"type": "persistent_notification/get"})
    response = await client.receive_json()
    assert response["success"], response
    return list(response["result"])


async def setup_jarvis(
    hass: HomeAssistant, worker: Any, subentries: list[dict[str, Any]] | None = None
) -> Any:
    """A loaded Jarvis entry for this worker (its safety gate and services come with it)."""
    from tests.support.jarvis_entry import async_setup_jarvis

    return await async_setup_jarvis(hass, worker, subentries or [])
