"""Every blueprint in the repository loads through HA's blueprint integration without errors."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from .helpers import BLUEPRINTS, install_blueprints

SOURCE = "https://github.com/jarvis-workshop/jarvis/blob/main/blueprints/{domain}/jarvis/{name}"


async def test_every_blueprint_loads(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    copied = install_blueprints(hass)
    expected = {
        "automation": sorted(p.name for p in (BLUEPRINTS / "automation" / "jarvis").glob("*.yaml")),
        "script": sorted(p.name for p in (BLUEPRINTS / "script" / "jarvis").glob("*.yaml")),
    }
    assert len(expected["automation"]) >= 5 and len(expected["script"]) >= 1
    assert len(copied) == len(expected["automation"]) + len(expected["script"])
    # automation and script register their blueprint domains with the blueprint integration.
    for domain in ("automation", "script"):
        assert await async_setup_component(hass, domain, {})
    client = await hass_ws_client()
    for domain, names in expected.items():
        await client.send_json_auto_id({"type": "blueprint/list", "domain": domain})
        response = await client.receive_json()
        assert response["success"], response
        listed = {path: bp for path, bp in response["result"].items() if path.startswith("jarvis/")}
        assert sorted(p.removeprefix("jarvis/") for p in listed) == names
        for path, blueprint in listed.items():
            # A blueprint HA could not load is listed with an error instead of metadata.
            assert "error" not in blueprint, (path, blueprint)
            meta = blueprint["metadata"]
            assert meta["domain"] == domain
            name = path.removeprefix("jarvis/")
            assert meta["source_url"] == SOURCE.format(domain=domain, name=name)
            assert meta["description"]
            for key, field in meta["input"].items():
                assert field.get("name") and field.get("description"), (path, key)
                assert field.get("selector"), (path, key)
