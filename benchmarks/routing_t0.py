"""T0 for the routing suite: Home Assistant's own intent matching, run for real.

One in-process Home Assistant (the pytest-homeassistant-custom-component harness, no pytest)
holds the suite's workshop as real states, areas and entity registry entries, every entity
exposed to Assist. Each request goes through `conversation.async_handle_intents`, exactly what
the agent's T0 calls (strict matching only: exposed entities, exact wording, no fuzzy match),
with the agent's filters: its wildcard check (agent.wildcard_miss) and its safety filter, so a
match whose actions the default safety policy does not simply allow (opening the garage door,
anything switching on the laser) is left to the models, as `safety.tools.intent_filter` does.
Service calls are recorded by HA's test helper instead of reaching devices; the intent
handlers, target matching and answers are HA's own.

What HA did becomes a Completion the suite judges like any model's answer:
- an action: one tool call named after the intent with HA's slot values as arguments
  (`HassTurnOn {name: "bench lamp"}`), so the same label check applies;
- a state answer: HA's speech. HA answers yes/no questions with "Yes" / "No"; the states it
  based that answer on (IntentResponse matched/unmatched states) are appended as "<name> is
  <state>", because the labels name the state ("Is the garage door open?" expects "closed").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import contextlib
from dataclasses import dataclass
import json
import logging
from pathlib import Path
import statistics
import tempfile
import time
from types import TracebackType
from typing import Any, Self

from homeassistant import loader
from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    chat_session,
    entity_registry as er,
    frame,
    intent,
    llm,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    async_mock_service,
    async_test_home_assistant,
)
from voluptuous_openapi import convert

from custom_components.jarvis.agent import wildcard_miss
from custom_components.jarvis.router.types import Completion, ToolCall
from custom_components.jarvis.safety.policy import Policy, Requester, Verdict
from custom_components.jarvis.safety.tools import READ_ONLY_INTENTS, intent_actions

# The suite's workshop as Home Assistant states: entity_id -> (state, attributes). The names and
# areas come from the suite's HOME (the same home every tier sees).
_DIMMABLE = {"supported_color_modes": ["brightness"], "color_mode": "brightness"}
HA_STATES: Mapping[str, tuple[str, dict[str, Any]]] = {
    "light.workshop_ceiling": ("off", dict(_DIMMABLE)),
    "light.bench_lamp": ("on", {**_DIMMABLE, "brightness": 178}),  # 70 %
    "light.office_light": ("on", {**_DIMMABLE, "brightness": 255}),
    "light.storeroom_light": ("off", dict(_DIMMABLE)),
    "light.loading_dock_light": ("on", {**_DIMMABLE, "brightness": 255}),
    "light.warehouse_lights": ("off", dict(_DIMMABLE)),
    "switch.dust_collector": ("off", {}),
    "switch.air_compressor": ("on", {}),
    "switch.laser_exhaust": ("off", {}),
    "fan.paint_booth_fan": ("off", {"supported_features": 48}),  # turn on / off
    "cover.garage_door": ("closed", {"device_class": "garage", "supported_features": 3}),
    "cover.office_blinds": (
        "open",
        {"device_class": "blind", "supported_features": 15, "current_position": 40},
    ),
    "lock.front_door": ("locked", {}),
    "lock.back_door": ("unlocked", {}),
    "climate.workshop_thermostat": (
        "heat",
        {
            "hvac_modes": ["heat", "off"],
            "temperature": 19,
            "current_temperature": 21.5,
            "min_temp": 7,
            "max_temp": 35,
            "supported_features": 1,
        },
    ),
    "sensor.workshop_temperature": (
        "21.5",
        {"device_class": "temperature", "unit_of_measurement": "°C", "state_class": "measurement"},
    ),
    "sensor.storeroom_humidity": (
        "38",
        {"device_class": "humidity", "unit_of_measurement": "%", "state_class": "measurement"},
    ),
    "sensor.printer_progress": ("73", {"unit_of_measurement": "%"}),
    "sensor.laser_power": ("1.2", {"device_class": "power", "unit_of_measurement": "kW"}),
    "media_player.shop_speakers": ("playing", {"supported_features": 384}),  # turn on / off
}
# Integrations whose intents (and services) HA sets up: the ones the workshop's entities belong to.
COMPONENTS = (
    "homeassistant",
    "conversation",
    "intent",
    "light",
    "switch",
    "fan",
    "cover",
    "climate",
    "lock",
    "media_player",
    "sensor",
)
# Service calls are recorded, not executed (there are no devices behind the states).
SERVICES = (
    *(
        (domain, service)
        for domain in ("light", "switch", "fan", "media_player", "homeassistant")
        for service in ("turn_on", "turn_off", "toggle")
    ),
    ("cover", "open_cover"),
    ("cover", "close_cover"),
    ("cover", "set_cover_position"),
    ("lock", "lock"),
    ("lock", "unlock"),
    ("climate", "set_temperature"),
)
# The agent's T0 filter with the default safety policy (no zones or rules configured).
POLICY = Policy()


@dataclass(frozen=True, slots=True)
class T0Answer:
    """What HA's intents did with one request."""

    text: str
    matched: bool  # HA answered (and the safety filter let it)
    completion: Completion | None  # the answer as the suite judges it; None when not matched
    latency_ms: float
    intent: str | None = None
    filtered: bool = False  # matched, but left to the models by the safety filter
    speech: str = ""


class HaT0:
    """A running Home Assistant with the suite's home; `await t0.answer(text)` per request."""

    def __init__(self, home: Sequence[tuple[str, str, str, str]]) -> None:
        missing = {entity_id for entity_id, *_ in home} ^ set(HA_STATES)
        if missing:
            raise ValueError(f"HA_STATES and the suite's HOME differ: {sorted(missing)}")
        self.home = home
        self._stack = contextlib.AsyncExitStack()
        self.hass: HomeAssistant | None = None
        self.setup_s = 0.0
        self.service_calls = 0
        self.prompt_chars = 0  # what an LLM agent sends HA's way per request, before the text

    async def __aenter__(self) -> Self:
        started = time.monotonic()
        tmp = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="jarvis-suite-ha-"))
        (Path(tmp) / "config").mkdir()
        logging.getLogger("homeassistant").setLevel(logging.ERROR)
        self.hass = hass = await self._stack.enter_async_context(
            async_test_home_assistant(config_dir=str(Path(tmp) / "config"))
        )
        frame.async_setup(hass)
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
        for component in COMPONENTS:
            if not await async_setup_component(hass, component, {}):
                raise RuntimeError(f"Home Assistant could not set up {component}")
        self._calls = [async_mock_service(hass, domain, service) for domain, service in SERVICES]
        areas = ar.async_get(hass)
        entities = er.async_get(hass)
        for entity_id, name, area_name, _ in self.home:
            area = areas.async_get_area_by_name(area_name) or areas.async_create(area_name)
            domain, object_id = entity_id.split(".", 1)
            entry = entities.async_get_or_create(
                domain, "jarvis_suite", object_id, suggested_object_id=object_id
            )
            if entry.entity_id != entity_id:
                raise RuntimeError(f"registry gave {entry.entity_id}, not {entity_id}")
            entities.async_update_entity(entity_id, area_id=area.id)
            state, attributes = HA_STATES[entity_id]
            hass.states.async_set(entity_id, state, {"friendly_name": name, **attributes})
            async_expose_entity(hass, conversation.DOMAIN, entity_id, True)
        await hass.async_block_till_done()
        # HA loads its sentences on the first request; the agent's HA has them loaded already.
        await self.answer("turn on the bench lamp")
        self.prompt_chars = await self._assist_prompt_chars()
        self.setup_s = time.monotonic() - started
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.hass is not None:
            await self.hass.async_stop(force=True)
        await self._stack.aclose()

    async def _assist_prompt_chars(self) -> int:
        """Characters of what an HA LLM agent sends with every request for this home: HA's
        default instructions, its Assist API prompt (every exposed entity) and the Assist tools
        as JSON schema (what the agent's models, cloud ones included, are sent)."""
        assert self.hass is not None
        context = llm.LLMContext(
            platform="jarvis_suite",
            context=Context(),
            language="en",
            assistant=conversation.DOMAIN,
            device_id=None,
        )
        api = await llm.async_get_api(self.hass, llm.LLM_API_ASSIST, context)
        tools = [
            {
                "name": tool.name,
                "description": tool.description or "",
                "parameters": convert(tool.parameters, custom_serializer=api.custom_serializer),
            }
            for tool in api.tools
        ]
        return (
            len(llm.DATE_TIME_PROMPT)
            + len(llm.DEFAULT_INSTRUCTIONS_PROMPT)
            + len(api.api_prompt)
            + len(json.dumps(tools))
        )

    def _filtered(self, result: Any) -> bool:
        """safety.tools.intent_filter with the default policy: True = leave it to the models."""
        assert self.hass is not None
        slots = {name: entity.value for name, entity in result.entities.items()}
        actions = intent_actions(self.hass, result.intent.name, slots, conversation.DOMAIN)
        if not actions and result.intent.name not in READ_ONLY_INTENTS:
            return True
        now = dt_util.now()
        return any(
            POLICY.evaluate(action, Requester(None), now).verdict is not Verdict.ALLOW
            for action in actions
        )

    async def answer(self, text: str) -> T0Answer:
        """HA's strict intents on this text, as the agent's T0 runs them."""
        hass = self.hass
        assert hass is not None
        filtered: list[str] = []

        def intent_filter(result: Any) -> bool:
            if wildcard_miss(hass, result):  # the agent's own check, then its safety filter
                return True
            if self._filtered(result):
                filtered.append(result.intent.name)
                return True
            return False

        user_input = conversation.ConversationInput(
            text=text,
            context=Context(),
            conversation_id=None,
            device_id=None,
            satellite_id=None,
            language="en",
            agent_id=conversation.HOME_ASSISTANT_AGENT,
        )
        started = time.perf_counter()
        with (
            chat_session.async_get_chat_session(hass, None) as session,
            conversation.async_get_chat_log(hass, session, user_input) as chat_log,
        ):
            response = await conversation.async_handle_intents(
                hass, user_input, chat_log, intent_filter=intent_filter
            )
        latency_ms = (time.perf_counter() - started) * 1000
        self.service_calls = sum(len(calls) for calls in self._calls)
        if response is None or response.response_type is intent.IntentResponseType.ERROR:
            return T0Answer(
                text,
                False,
                None,
                latency_ms,
                intent=filtered[0] if filtered else None,
                filtered=bool(filtered),
            )
        return T0Answer(
            text,
            True,
            to_completion(response),
            latency_ms,
            intent=response.intent.intent_type if response.intent else None,
            speech=response.speech.get("plain", {}).get("speech", ""),
        )


def to_completion(response: intent.IntentResponse) -> Completion:
    """HA's answer in the suite's terms (see the module docstring)."""
    speech = str(response.speech.get("plain", {}).get("speech", ""))
    if response.response_type is intent.IntentResponseType.ACTION_DONE and response.intent:
        args = {name: slot.get("value") for name, slot in response.intent.slots.items()}
        if isinstance(args.get("domain"), str):
            args["domain"] = [args["domain"]]
        call = ToolCall("t0", response.intent.intent_type, args)
        return Completion(text=speech, tool_calls=(call,), finish_reason="stop", model="ha")
    text = speech
    if speech.split(maxsplit=1)[:1] and speech.split(maxsplit=1)[0].strip(",.").casefold() in {
        "yes",
        "no",
    }:
        states = [*response.matched_states, *response.unmatched_states]
        text += "; " + ", ".join(f"{s.name} is {s.state}" for s in states)
    return Completion(text=text, finish_reason="stop", model="ha")


def latency_summary(answers: Sequence[T0Answer]) -> str:
    """p50 / max of T0's measured time, matched and missed."""
    hit = [a.latency_ms for a in answers if a.matched]
    miss = [a.latency_ms for a in answers if not a.matched]
    parts = []
    for label, values in (("matched", hit), ("missed", miss)):
        if values:
            parts.append(
                f"{label} p50 {statistics.median(values):.1f} ms, max {max(values):.1f} ms"
            )
    return "; ".join(parts)
