"""dashboards/wall-tablet.yaml in Home Assistant's Lovelace YAML mode, on a dev-instance-like HA.

The entities and actions are read from the YAML itself and looked up in a real HA run: demo
devices as in scripts/develop, MQTT on a real Mosquitto, the real add-on worker with the
configuration the dashboard's header names (an OctoPrint printer "Printer 1" on a real OctoPrint
virtual printer, a camera watching it, CAD on), and Jarvis with an agent. Every entity the
dashboard names must exist and be available, and every action it performs must be registered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
import io
from pathlib import Path
import shutil
import time
from typing import Any

from aiohttp import web
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers.template import Template
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.common import MockUser
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from tests.custom_components.jarvis.routing_helpers import agent, setup_shop
from tests.support.ha_mqtt import async_setup_mqtt
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.octoprint import OctoPrint
from tests.support.worker import Worker

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "wall-tablet.yaml"
URL_PATH = "jarvis-wall"
PENDING_SENSOR = "sensor.jarvis_add_on_pending_safety_approvals"


def named(node: Any, entities: set[str], actions: set[str]) -> None:
    """Collect every entity id and action a Lovelace config names."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("entity", "camera_image") and isinstance(value, str):
                entities.add(value)
            elif key in ("entities", "entity_id") and isinstance(value, list):
                for item in value:
                    if isinstance(item, str):
                        entities.add(item)
            elif key == "entity_id" and isinstance(value, str):
                entities.add(value)
            elif key in ("perform_action", "action", "service") and isinstance(value, str):
                if "." in value:
                    actions.add(value)
            named(value, entities, actions)
    elif isinstance(node, list):
        for item in node:
            named(item, entities, actions)


def cards(node: Any) -> Iterator[dict[str, Any]]:
    """Every card (and nested card) of a Lovelace config."""
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from cards(value)
    elif isinstance(node, list):
        for item in node:
            yield from cards(item)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker of the test's own: only this worker's discovery shows up in HA."""
    with Mosquitto(tmp_path / "broker") as broker:
        yield broker


@pytest.fixture
async def camera_url() -> AsyncIterator[str]:
    """A loopback HTTP snapshot camera (the monitor only samples it while a job prints)."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 40, 40)).save(buf, "JPEG")
    frame = buf.getvalue()

    async def snapshot(_request: web.Request) -> web.Response:
        return web.Response(body=frame, content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/snap.jpg", snapshot)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/snap.jpg"
    await runner.cleanup()


async def _until(hass: HomeAssistant, check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        await hass.async_block_till_done()
        await asyncio.sleep(0.1)


@pytest.fixture
async def shop_worker(
    hass: HomeAssistant, tmp_path: Path, mosquitto: Mosquitto, octoprint: OctoPrint, camera_url: str
) -> AsyncIterator[Worker]:
    """The add-on worker configured as the dashboard's header says, and HA's MQTT on its broker."""
    await async_setup_mqtt(hass, mosquitto, birth_message=False)
    await hass.async_block_till_done()
    worker = Worker(
        tmp_path / "worker",
        mqtt_port=mosquitto.port,
        options={
            "printers": [
                {
                    "id": "printer_1",
                    "name": "Printer 1",
                    "type": "octoprint",
                    "url": octoprint.url,
                    "api_key": octoprint.api_key,
                }
            ],
            "printer_poll_interval": 1,
            "cameras": [
                {"id": "printer_1_cam", "printer": "printer_1", "source": "url", "url": camera_url}
            ],
        },
    )
    await hass.async_add_executor_job(worker.start)
    try:
        yield worker
    finally:
        await hass.async_add_executor_job(worker.stop)


async def test_wall_tablet_loads_and_names_only_real_entities(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    hass_admin_user: MockUser,
    shop_worker: Worker,
) -> None:
    # As scripts/develop sets HA up: demo devices and a Jarvis agent; plus the add-on's printer.
    assert await async_setup_component(hass, "demo", {"demo": {}})
    await setup_shop(hass, shop_worker, [agent()])
    target = Path(hass.config.path("dashboards", "wall-tablet.yaml"))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(DASHBOARD, target)
    assert await async_setup_component(
        hass,
        "lovelace",
        {
            "lovelace": {
                "dashboards": {
                    URL_PATH: {
                        "mode": "yaml",
                        "title": "Workshop",
                        "filename": "dashboards/wall-tablet.yaml",
                    }
                }
            }
        },
    )
    await hass.async_block_till_done()

    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "lovelace/config", "url_path": URL_PATH})
    response = await client.receive_json()
    assert response["success"], response
    config = response["result"]
    assert config == load_yaml(DASHBOARD)
    assert [view["path"] for view in config["views"]] == ["shop", "trends"]

    entities: set[str] = set()
    actions: set[str] = set()
    named(config, entities, actions)
    assert len(entities) > 25
    assert {"jarvis.approve", "jarvis.deny", "button.press"} <= actions

    # The add-on's discovery arrives over MQTT; the printer's sensors wait for its first poll.
    def missing() -> set[str]:
        return {
            e for e in entities if (s := hass.states.get(e)) is None or s.state == "unavailable"
        }

    await _until(hass, lambda: not missing(), 30, f"entities {sorted(missing())}")
    assert not {a for a in actions if not hass.services.has_service(*a.split(".", 1))}
    # An MQTT entity exists (as "unknown") a moment before its retained state reaches it.
    expected = {
        "sensor.printer_1_state": "idle",
        "sensor.printer_1_camera_print_monitor": "idle",
        "binary_sensor.printer_1_camera_print_failure": "off",
    }

    def states() -> dict[str, str | None]:
        return {e: (s.state if (s := hass.states.get(e)) else None) for e in expected}

    await _until(hass, lambda: states() == expected, 30, f"states {expected}")

    # The approvals card: the markdown lists the waiting request, the Deny button's action (as
    # the dashboard performs it) closes it; the buttons show only while exactly one waits.
    markdown = next(c for c in cards(config) if c["type"] == "markdown")
    assert "Nothing waits for approval." in Template(markdown["content"], hass).async_render()
    user = Context(user_id=hass_admin_user.id)
    held = await hass.services.async_call(
        "jarvis",
        "request_action",
        {"action": "jarvis_device.print", "target": ["printer_1"]},
        blocking=True,
        return_response=True,
        context=user,
    )
    assert held is not None and held["status"] == "pending", held
    await hass.async_block_till_done()
    assert hass.states.get(PENDING_SENSOR).state == "1"
    listing = Template(markdown["content"], hass).async_render()
    assert "**jarvis_device.print**" in listing and str(held["request_id"]) in listing
    (buttons,) = [c for c in cards(config) if c["type"] == "conditional"]
    assert buttons["conditions"] == [{"condition": "state", "entity": PENDING_SENSOR, "state": "1"}]
    deny = next(
        c["tap_action"]
        for c in cards(config)
        if c.get("tap_action", {}).get("perform_action") == "jarvis.deny"
    )
    domain, service = deny["perform_action"].split(".")
    denied = await hass.services.async_call(
        domain, service, deny["data"], blocking=True, return_response=True, context=user
    )
    assert denied is not None and denied["id"] == held["request_id"]
    assert denied["status"] == "denied"
    await hass.async_block_till_done()
    assert hass.states.get(PENDING_SENSOR).state == "0"
