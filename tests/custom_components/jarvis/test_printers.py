"""Printers end to end in one HA: real Mosquitto, the real add-on worker, real OctoPrint and Moonraker.

The seed's story: a print started through `POST /api/jarvis/device/<printer>/command` is uploaded
and started on OctoPrint, pauses and resumes, and the shop's lighting scene follows the job.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterator
from pathlib import Path
from typing import Any

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import llm
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockUser
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import voluptuous as vol

from custom_components.jarvis.addon import devices
from custom_components.jarvis.addon.devices import (
    EVENT_PRINTER_JOB,
    DeviceCommandError,
    DeviceCommandHeldError,
    async_send_device_command,
)
from custom_components.jarvis.const import DOMAIN
from custom_components.jarvis.printer_llm import API_ID
from tests.support.ha_mqtt import async_setup_mqtt
from tests.support.moonraker import Moonraker
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.octoprint import OctoPrint, gcode_file
from tests.support.wait import until as _until
from tests.support.worker import Worker

from .shop_light import async_setup_shop_light


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker of each test's own: other tests' workers on the session broker answer
    `jarvis/devices/+/cmd` too (one add-on per broker is the supported setup)."""
    with Mosquitto(tmp_path / "broker") as broker:
        yield broker


async def _confirm(hass: HomeAssistant, request_id: str | None, user: MockUser) -> None:
    """Say yes to a held command, as its requester (starting and resuming need a confirmation)."""
    assert request_id
    answer = await hass.services.async_call(
        DOMAIN,
        "approve",
        {"request_id": request_id},
        blocking=True,
        return_response=True,
        context=Context(user_id=user.id),
    )
    assert answer is not None


async def _held_then_confirmed(
    hass: HomeAssistant, client: Any, device: str, body: dict[str, Any], user: MockUser
) -> None:
    """POST a command the safety gate holds (202 + request id), then confirm it."""
    resp = await client.post(f"/api/jarvis/device/{device}/command", json=body)
    held = await resp.json()
    assert resp.status == 202, held
    assert held["status"] == "pending" and "confirm" in held["message"], held
    await _confirm(hass, held["request_id"], user)


async def _blocking(hass: HomeAssistant, func: Callable[[], Any]) -> Any:
    return await hass.async_add_executor_job(func)


@pytest.fixture
async def shop(  # noqa: PLR0917 - pytest fixtures are positional
    hass: HomeAssistant,
    tmp_path: Path,
    mosquitto: Mosquitto,
    octoprint: OctoPrint,
    moonraker: Moonraker,
    entry_for: Any,
) -> AsyncGenerator[dict[str, Any]]:
    """HA with MQTT, a template shop light and two scenes; the worker with both printers; Jarvis."""
    files = tmp_path / "prints"
    files.mkdir()
    (files / "bracket.gcode").write_text(gcode_file(layers=400, dwell_ms=100))
    await async_setup_mqtt(hass, mosquitto, birth_message=False)
    await async_setup_shop_light(hass)
    assert await async_setup_component(
        hass,
        "scene",
        {
            "scene": [
                {"name": "Printing lights", "entities": {"light.shop": "on"}},
                {"name": "Shop dark", "entities": {"light.shop": "off"}},
            ]
        },
    )
    await hass.async_block_till_done()
    printers = [
        {
            "id": "printer2",
            "name": "Printer 2",
            "type": "octoprint",
            "url": octoprint.url,
            "api_key": octoprint.api_key,
            "scene_start": "scene.printing_lights",
            "scene_finish": "scene.shop_dark",
            "scene_failure": "scene.shop_dark",
        },
        {
            "id": "voron",
            "name": "Voron",
            "type": "moonraker",
            "url": moonraker.url,
            "api_key": moonraker.api_key,
        },
        {
            "id": "lost",
            "name": "Lost",
            "type": "octoprint",
            "url": f"http://127.0.0.1:{free_port()}",
            "api_key": "x",
        },
    ]
    worker = Worker(
        tmp_path / "worker",
        mqtt_port=mosquitto.port,
        options={"printers": printers, "printer_poll_interval": 1, "print_files_dir": str(files)},
        # Reconnect 12 s after a loss (HA's own client takes ~10 s): a command HA sends in
        # between waits in the broker, in the worker's persistent session.
        args=["--mqtt-reconnect-min", "12", "--mqtt-reconnect-max", "12"],
    )
    await _blocking(hass, worker.start)
    entry = entry_for(worker)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    try:
        yield {"worker": worker, "octoprint": octoprint, "moonraker": moonraker, "files": files}
    finally:
        await _blocking(hass, worker.stop)


async def test_print_pause_resume_with_scenes_over_http(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: MockUser,
    shop: dict[str, Any],
) -> None:
    octoprint: OctoPrint = shop["octoprint"]
    client = await hass_client()
    events: list[dict[str, Any]] = []
    hass.bus.async_listen(EVENT_PRINTER_JOB, lambda e: events.append(dict(e.data)))
    assert hass.states.get("light.shop").state == "off"

    # Starting a print is hazardous in the default policy: held until its requester confirms.
    await _held_then_confirmed(
        hass,
        client,
        "printer2",
        {"command": "print_file", "args": {"path": "bracket.gcode", "preheat": {"tool": 200}}},
        hass_admin_user,
    )
    # Observed on OctoPrint itself: the file is there and it prints it.
    assert "bracket.gcode" in await _blocking(hass, octoprint.files)
    job = await _blocking(hass, lambda: octoprint.wait_state(lambda s: s == "Printing"))
    assert job["job"]["file"]["name"] == "bracket.gcode"
    # The start scene turned the real (template) light on.
    await _until(lambda: hass.states.get("light.shop").state == "on", 10, "light on")
    await _until(lambda: [e for e in events if e["event"] == "job_started"], 5, "job_started event")

    # MQTT discovery made the printer's entities; they follow the state.
    await _until(
        lambda: (s := hass.states.get("sensor.printer_2_state")) and s.state == "printing",
        15,
        "state sensor",
    )
    assert hass.states.get("button.printer_2_pause") is not None
    assert hass.states.get("image.printer_2_webcam") is not None
    assert (
        hass.states.get("sensor.printer_2_nozzle_temperature").attributes["device_class"]
        == "temperature"
    )

    resp = await client.post("/api/jarvis/device/printer2/command", json={"command": "pause"})
    assert resp.status == 200, await resp.text()
    await _blocking(hass, lambda: octoprint.wait_state(lambda s: s == "Paused"))
    await _until(
        lambda: hass.states.get("sensor.printer_2_state").state == "paused", 10, "paused sensor"
    )
    await _held_then_confirmed(hass, client, "printer2", {"command": "resume"}, hass_admin_user)
    await _blocking(hass, lambda: octoprint.wait_state(lambda s: s == "Printing"))

    # The same job through the service: status; then cancel -> a failure-less end (cancelled).
    status = await hass.services.async_call(
        DOMAIN,
        "printer_command",
        {"printer": "printer2", "command": "status"},
        blocking=True,
        return_response=True,
    )
    assert status["job"]["id"] and status["state"] == "printing"
    await hass.services.async_call(
        DOMAIN,
        "printer_command",
        {"printer": "printer2", "command": "cancel"},
        blocking=True,
        return_response=True,
    )
    await _blocking(hass, lambda: octoprint.wait_state(lambda s: s == "Operational"))
    await _until(
        lambda: [e for e in events if e["event"] == "job_cancelled"], 15, "job_cancelled event"
    )


async def test_moonraker_service_llm_and_errors(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: MockUser,
    shop: dict[str, Any],
) -> None:
    moonraker: Moonraker = shop["moonraker"]
    with pytest.raises(DeviceCommandHeldError) as held:
        await hass.services.async_call(
            DOMAIN,
            "print_file",
            {
                "printer": "voron",
                "gcode": "G28\nG1 X5\n",
                "filename": "voron.gcode",
                "bed_temperature": 60,
            },
            blocking=True,
            return_response=True,
            context=Context(user_id=hass_admin_user.id),
        )
    assert held.value.decision.status == "pending"
    await _confirm(hass, held.value.decision.request_id, hass_admin_user)
    await _blocking(hass, lambda: moonraker.wait_print_state("printing"))
    calls = moonraker.klipper_calls()
    assert "M140 S60" in calls and 'SDCARD_PRINT_FILE FILENAME="voron.gcode"' in calls

    # The LLM tools: pause and query through the Jarvis workshop API.
    api = await llm.async_get_api(
        hass,
        API_ID,
        llm.LLMContext(
            platform=DOMAIN,
            context=Context(user_id=hass_admin_user.id),
            language="en",
            assistant=None,
            device_id=None,
        ),
    )
    assert {t.name for t in api.tools} == {
        "start_print",
        "pause_print",
        "resume_print",
        "printer_status",
    }
    paused = await api.async_call_tool(
        llm.ToolInput(tool_name="pause_print", tool_args={"printer": "voron"})
    )
    assert paused["success"], paused
    await _blocking(hass, lambda: moonraker.wait_print_state("paused"))
    status = await api.async_call_tool(
        llm.ToolInput(tool_name="printer_status", tool_args={"printer": "voron"})
    )
    assert status["result"]["state"] == "paused"
    missing = await api.async_call_tool(
        llm.ToolInput(tool_name="start_print", tool_args={"printer": "voron", "file": "nope.gcode"})
    )
    # Starting is held for a confirmation before the add-on is asked (it would say: no file).
    assert not missing["success"] and "confirm" in missing["error"], missing
    # Resuming heats and moves: the tool says it waits for a confirmation, and nothing moved.
    resumed = await api.async_call_tool(
        llm.ToolInput(tool_name="resume_print", tool_args={"printer": "voron"})
    )
    assert not resumed["success"] and "confirm" in resumed["error"], resumed
    assert moonraker.klipper_calls().count("RESUME") == 0

    # Bad input: clear errors, nothing crashes.
    client = await hass_client()

    async def post(device: str, body: Any) -> tuple[int, dict[str, Any]]:
        resp = await client.post(f"/api/jarvis/device/{device}/command", json=body)
        return resp.status, await resp.json()

    status_code, body = await post("printer9", {"command": "status"})
    assert (
        status_code == 404 and body["error"] == "unknown_device" and "printer9" in body["message"]
    )
    status_code, body = await post(
        "voron", {"command": "print_file", "args": {"filename": "cat.png", "gcode": "meow"}}
    )
    assert status_code == 400 and body["error"] == "not_gcode"
    # A valid start is held for its requester's confirmation (the add-on refuses it later when
    # the printer is busy: tested in the add-on's own tests).
    status_code, body = await post(
        "voron", {"command": "print_file", "args": {"filename": "b.gcode", "gcode": "G28"}}
    )
    assert status_code == 202 and body["status"] == "pending" and body["request_id"]
    status_code, body = await post("lost", {"command": "pause"})
    assert status_code == 502 and body["error"] == "printer_unreachable"
    status_code, body = await post("Bad Id", {"command": "status"})
    assert status_code == 400 and body["error"] == "invalid_device_id"
    status_code, body = await post("voron", {"command": "Drop Tables"})
    assert status_code == 400 and body["error"] == "invalid_device_command"
    status_code, body = await post("voron", {"command": "gcode", "args": ["G28"]})
    assert status_code == 400 and body["error"] == "invalid_device_args"
    status_code, body = await post("voron", {"command": "status", "extra": 1})
    assert status_code == 400 and body["error"] == "unknown_field"
    resp = await client.post("/api/jarvis/device/voron/command", data=b"{nope")
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_json"
    resp = await client.post("/api/jarvis/device/voron/command", json=["status"])
    assert resp.status == 400
    # An unknown command is the add-on's to refuse (the gate would first ask for a confirmation).
    with pytest.raises(DeviceCommandError, match="unknown_command"):
        await devices._send(hass, "voron", "fly", {}, user_id=None)
    with pytest.raises(vol.Invalid, match="value must be one of"):
        await hass.services.async_call(
            DOMAIN,
            "printer_command",
            {"printer": "voron", "command": "fly"},
            blocking=True,
            return_response=True,
        )

    # Klipper goes away: an error ack and the entities go unavailable; then back.
    await _until(
        lambda: (
            ((s := hass.states.get("sensor.voron_state")) and s.state == "paused")
            or (s and s.state == "printing")
        ),
        15,
        "voron sensor",
    )
    await _blocking(hass, moonraker.stop_klipper)
    await _until(
        lambda: hass.states.get("sensor.voron_state").state == "unavailable",
        15,
        "voron unavailable",
    )
    with pytest.raises(DeviceCommandError, match="printer_offline"):
        await async_send_device_command(hass, "voron", "pause", {})
    await _blocking(hass, moonraker.start_klipper)
    await _until(
        lambda: hass.states.get("sensor.voron_state").state not in ("unavailable", "unknown"),
        20,
        "voron back",
    )


async def test_broker_restart_mid_job_runs_the_command_once(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: MockUser,
    shop: dict[str, Any],
    mosquitto: Mosquitto,
) -> None:
    moonraker: Moonraker = shop["moonraker"]
    worker: Worker = shop["worker"]
    with pytest.raises(DeviceCommandHeldError) as held:
        await async_send_device_command(
            hass,
            "voron",
            "print_file",
            {"filename": "long.gcode", "gcode": "G28\n"},
            user_id=hass_admin_user.id,
        )
    await _confirm(hass, held.value.decision.request_id, hass_admin_user)
    await _blocking(hass, lambda: moonraker.wait_print_state("printing"))

    await _blocking(hass, lambda: mosquitto.restart(down_for=1.0))
    # HA's MQTT client reconnects within ~1 s; the worker waits 3 s: the pause lands in its session.
    await _until(lambda: not worker.health()["mqtt"]["connected"], 10, "worker disconnected")
    assert not worker.health()["mqtt"]["connected"]
    # Sent right away: Jarvis waits for HA's own MQTT reconnect, the broker queues it for the worker.
    client = await hass_client()
    resp = await client.post("/api/jarvis/device/voron/command", json={"command": "pause"})
    assert resp.status == 200, await resp.text()
    await _blocking(hass, lambda: moonraker.wait_print_state("paused"))
    assert worker.health()["mqtt"]["reconnects"] >= 1
    # The worker came back after the command was sent: it waited in the broker's session.
    assert "reconnect attempt 1" in worker.log()
    log = worker.log()
    assert log.index("MQTT: reconnect attempt 1") < log.index(": voron pause")
    await asyncio.sleep(1.5)
    assert moonraker.klipper_calls().count("PAUSE") == 1


async def test_commands_without_mqtt_or_addon(hass: HomeAssistant) -> None:
    with pytest.raises(HomeAssistantError, match="MQTT is not set up"):
        await async_send_device_command(hass, "printer2", "status", {})
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN,
            "printer_command",
            {"printer": "Printer 2", "command": "status"},
            blocking=True,
            return_response=True,
        )


async def test_command_times_out_without_addon(
    hass: HomeAssistant, mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await async_setup_mqtt(hass, mosquitto)
    # The transport itself (what the gate calls once a command may run): no Jarvis entry here.
    with pytest.raises(HomeAssistantError, match="did not answer"):
        await devices._send(hass, "nobody_here", "status", {}, user_id=None, ack_timeout=1)
    # Malformed acks are ignored (logged), never raised; a later command still works out.
    await mqtt.async_publish(hass, "jarvis/devices/x/ack", "not json")
    await mqtt.async_publish(hass, "jarvis/devices/x/ack", "[1]")
    await _until(lambda: "Ignoring a non-JSON ack" in caplog.text, 5, "logged")
    with pytest.raises(HomeAssistantError, match="did not answer"):
        await devices._send(hass, "nobody_here", "status", {}, user_id=None, ack_timeout=0.5)


async def test_http_without_mqtt_or_answer(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mosquitto: Mosquitto,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    client = await hass_client()
    resp = await client.post("/api/jarvis/device/printer2/command", json={"command": "status"})
    assert resp.status == 503 and (await resp.json())["error"] == "mqtt_unavailable"
    mqtt_entry = await async_setup_mqtt(hass, mosquitto)
    # MQTT is up but no Jarvis entry (so no safety gate) is loaded: fail closed, 403.
    monkeypatch.setattr(devices, "DEFAULT_COMMAND_TIMEOUT", 1.0)
    resp = await client.post("/api/jarvis/device/printer2/command", json={"command": "status"})
    body = await resp.json()
    assert resp.status == 403 and body["error"] == "gate_unavailable", body
    # The transport: no add-on listens, the wait for the ack ends; after an MQTT reload too.
    with pytest.raises(HomeAssistantError, match="printer2 did not answer status"):
        await devices._send(hass, "printer2", "status", {}, user_id=None)
    assert await hass.config_entries.async_reload(mqtt_entry.entry_id)
    with pytest.raises(HomeAssistantError, match="did not answer"):
        await devices._send(hass, "printer2", "status", {}, user_id=None, ack_timeout=1)


async def test_job_events_fire_and_run_scenes(
    hass: HomeAssistant, mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await async_setup_mqtt(hass, mosquitto)
    assert await async_setup_component(
        hass,
        "script",
        {"script": {"broken": {"sequence": [{"action": "nothing.here"}]}, "ok": {"sequence": []}}},
    )
    unsub = await devices.async_track_job_events(hass)
    assert unsub is not None
    fired: list[dict[str, Any]] = []
    hass.bus.async_listen(EVENT_PRINTER_JOB, lambda e: fired.append(dict(e.data)))
    await asyncio.sleep(1)  # HA batches its subscriptions
    topic = "jarvis/devices/p1/event"
    await mqtt.async_publish(hass, topic, "not json")
    await mqtt.async_publish(hass, topic, '{"no": "event"}')
    await mqtt.async_publish(hass, topic, '{"event": "job_started", "scene": "light.kitchen"}')
    await mqtt.async_publish(hass, topic, '{"event": "job_failed", "scene": "script.broken"}')
    await mqtt.async_publish(hass, topic, '{"event": "job_finished", "scene": "script.ok"}')
    await _until(lambda: len(fired) == 3, 10, "three job events")
    await _until(lambda: "turning on script.ok" in caplog.text, 5, "finish script run")
    assert "turning on script.broken" in caplog.text  # its failure is the script's own business
    assert "Ignoring a non-JSON job event" in caplog.text
    assert "Ignoring a malformed job event" in caplog.text
    assert "light.kitchen is not a scene or script" in caplog.text
    assert sorted(e["event"] for e in fired) == ["job_failed", "job_finished", "job_started"]
    unsub()
