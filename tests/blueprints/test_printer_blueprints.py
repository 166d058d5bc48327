"""The printer blueprints on a real printer: CV failure -> pause and notify; print finished -> power down.

Real Mosquitto, the real add-on worker managing a real Moonraker (with the Klipper stub), and
Jarvis in real HA. The print is started as a user would (`jarvis.print_file`, confirmed by the
requester); the CV event comes over MQTT on the add-on's topic and becomes `jarvis_cv_event` in
the integration; the job's end is the worker's own `job_finished`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
import json
from pathlib import Path
from typing import Any

from homeassistant.components import mqtt
from homeassistant.core import Context, HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockUser,
    async_capture_events,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.jarvis.addon.devices import EVENT_PRINTER_JOB, DeviceCommandHeldError
from custom_components.jarvis.const import DOMAIN, EVENT_CV
from tests.support.ha_mqtt import async_setup_mqtt
from tests.support.moonraker import Moonraker
from tests.support.mosquitto import Mosquitto
from tests.support.wait import until as _until
from tests.support.worker import Worker

from .helpers import notifications, setup_automation, setup_jarvis

PRINTER = "voron"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker of the test's own: one add-on per broker answers `jarvis/devices/+/cmd`."""
    with Mosquitto(tmp_path / "broker") as mosquitto:
        yield mosquitto


class Shop:
    """HA with MQTT, a printer plug, a warning light, scenes; the worker with one Moonraker."""

    def __init__(self, hass: HomeAssistant, moonraker: Moonraker) -> None:
        self.hass = hass
        self.moonraker = moonraker

    async def start_print(self, user: MockUser) -> None:
        """As a user: ask for the print, then confirm it (starting a print is confirm-gated)."""
        context = Context(user_id=user.id)
        with pytest.raises(DeviceCommandHeldError) as held:
            await self.hass.services.async_call(
                DOMAIN,
                "print_file",
                {"printer": PRINTER, "gcode": "G28\nG1 X10 Y10\n", "filename": "bracket.gcode"},
                blocking=True,
                return_response=True,
                context=context,
            )
        request_id = held.value.decision.request_id
        assert request_id
        await self.hass.services.async_call(
            DOMAIN,
            "approve",
            {"request_id": request_id},
            blocking=True,
            return_response=True,
            context=context,
        )
        await self.hass.async_add_executor_job(
            lambda: self.moonraker.wait_print_state("printing", 20)
        )


@pytest.fixture
async def make_shop(
    hass: HomeAssistant, tmp_path: Path, broker: Mosquitto
) -> AsyncGenerator[Callable[[float], Any]]:
    stack = ExitStack()

    async def make(print_seconds: float) -> Shop:
        moonraker = Moonraker(tmp_path / "moonraker", print_seconds=print_seconds)
        await hass.async_add_executor_job(moonraker.start)
        stack.callback(moonraker.stop)
        await async_setup_mqtt(hass, broker, birth_message=False)
        assert await async_setup_component(
            hass,
            "input_boolean",
            {
                "input_boolean": {
                    "printer_plug": {"name": "Printer plug", "initial": True},
                    "warning_light": {"name": "Warning light", "initial": False},
                }
            },
        )
        assert await async_setup_component(
            hass,
            "scene",
            {
                "scene": [
                    {"name": "Printer off", "entities": {"input_boolean.printer_plug": "off"}},
                    {"name": "Warning", "entities": {"input_boolean.warning_light": "on"}},
                ]
            },
        )
        worker = Worker(
            tmp_path / "worker",
            mqtt_port=broker.port,
            options={
                "printers": [
                    {
                        "id": PRINTER,
                        "name": "Voron",
                        "type": "moonraker",
                        "url": moonraker.url,
                        "api_key": moonraker.api_key,
                    }
                ],
                "printer_poll_interval": 1,
            },
        )
        await hass.async_add_executor_job(worker.start)
        stack.callback(worker.stop)
        await setup_jarvis(hass, worker)
        return Shop(hass, moonraker)

    yield make
    await hass.async_add_executor_job(stack.close)


async def test_cv_failure_pauses_and_notifies(
    hass: HomeAssistant,
    hass_admin_user: MockUser,
    hass_ws_client: WebSocketGenerator,
    make_shop: Callable[[float], Any],
) -> None:
    ws = await hass_ws_client()
    shop: Shop = await make_shop(60)
    await setup_automation(
        hass, "cv_failure_pause_notify", {"cameras": ["voron_cam"], "scene": ["scene.warning"]}
    )
    await shop.start_print(hass_admin_user)
    cv_events = async_capture_events(hass, EVENT_CV)

    # A warning from another camera and a warning from this one: nothing is paused.
    for camera in ("other_cam", "voron_cam"):
        await mqtt.async_publish(
            hass,
            f"jarvis/cv/{camera}/event",
            json.dumps({"level": "warning", "printer_id": PRINTER, "kind": "stringing"}),
            qos=1,
        )
    # The failure, as the add-on's monitor reports it when its auto-pause is off.
    await mqtt.async_publish(
        hass,
        "jarvis/cv/voron_cam/event",
        json.dumps(
            {
                "level": "failure",
                "printer_id": PRINTER,
                "kind": "spaghetti",
                "score": 0.93,
                "paused": False,
                "evidence": "cv/voron_cam/1.jpg",
            }
        ),
        qos=1,
    )
    await _until(lambda: len(cv_events) == 3, 10, "three jarvis_cv_event")
    assert cv_events[2].data["level"] == "failure" and cv_events[2].data["camera"] == "voron_cam"

    stats = await hass.async_add_executor_job(lambda: shop.moonraker.wait_print_state("paused", 15))
    assert stats["print_stats"]["filename"] == "bracket.gcode"
    await _until(lambda: hass.states.get("input_boolean.warning_light").state == "on", 10, "scene")
    await hass.async_block_till_done()
    (note,) = await notifications(ws)
    assert note["title"] == f"Print failure on {PRINTER}"
    assert "Camera voron_cam saw spaghetti (score 0.93) on printer voron" in note["message"]
    assert "paused by this automation" in note["message"]
    assert "Evidence: cv/voron_cam/1.jpg" in note["message"]


async def test_print_finished_notifies_then_powers_down(
    hass: HomeAssistant,
    hass_admin_user: MockUser,
    hass_ws_client: WebSocketGenerator,
    make_shop: Callable[[float], Any],
) -> None:
    ws = await hass_ws_client()
    shop: Shop = await make_shop(3)
    await setup_automation(
        hass,
        "print_finished_power_down",
        {
            "printers": [PRINTER],
            "cool_down": {"minutes": 10},
            "power_down_scene": "scene.printer_off",
        },
    )
    jobs = async_capture_events(hass, EVENT_PRINTER_JOB)
    await shop.start_print(hass_admin_user)

    await _until(lambda: [e for e in jobs if e.data["event"] == "job_finished"], 30, "finished")
    # (Not async_block_till_done: the automation's run is in its cool-down delay.)
    for _ in range(100):
        if notes := await notifications(ws):
            break
        await asyncio.sleep(0.05)
    (note,) = notes
    assert note["title"] == f"Print finished on {PRINTER}"
    assert note["message"].startswith("bracket.gcode finished on voron")
    # Cooling down: still powered.
    assert hass.states.get("input_boolean.printer_plug").state == "on"

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=11))
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.printer_plug").state == "off"
