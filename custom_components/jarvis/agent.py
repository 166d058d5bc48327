"""The routing agent: HA's ChatLog in, the cheapest good-enough tier out, every decision logged.

HA glue only: the decisions themselves are made by the pure router (router/cascade.py,
router/confidence.py, router/freshness.py); this module converts HA content to the router's
neutral types, runs T0 (HA's own sentence triggers and intents), feeds the accepted answer into
the ChatLog (which executes its tool calls through HA's LLM API) and writes the ledger.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
import json
import time
from typing import Any
import uuid

from homeassistant.components import ai_task, conversation, mqtt
from homeassistant.components.conversation.trace import ConversationTraceEventType
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_LLM_HASS_API
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, intent, issue_registry as ir, llm
from homeassistant.util import dt as dt_util
from voluptuous_openapi import convert

from .const import (
    CONF_BUDGET_DAILY,
    CONF_BUDGET_MONTHLY,
    CONF_CONFIDENCE_THRESHOLD,
    CONF_FRESHNESS_ROUTING,
    CONF_MAX_ESCALATIONS,
    CONF_PROMPT,
    CONF_PROVIDERS,
    CONF_TIER_ORDER,
    CONF_TIERS,
    DOMAIN,
    EVENT_ROUTING_DECISION,
    LOGGER,
    MAX_REQUEST_CHARS,
    MQTT_CONTEXT_PREFIX,
    MQTT_DEVICES_PREFIX,
    RECOMMENDED_CONVERSATION,
    TIER_ORDER_CLOUD_FIRST,
)
from .context_store import Turn as ContextTurn
from .coordinator import JarvisConfigEntry
from .llm_api_cache import cached_llm_api
from .provider_setup import provider_subentries
from .router.budget import Budget, BudgetCheck
from .router.cascade import RouteResult, route
from .router.freshness import assess_freshness
from .router.ledger import DecisionRecord
from .router.policy import Candidate, RoutingPolicy, plan
from .router.pricing import cost_usd
from .router.providers.base import ProviderError
from .router.types import Completion, CompletionRequest, Message, Tier, ToolCall, ToolSpec, Usage
from .safety.gate import async_get_gate
from .safety.remote import answer_for, collect_refusals
from .safety.tools import gated_instance, intent_filter
from .voice.confirm import (
    PendingAsks,
    SpokenAnswer,
    asked_in_this_turn,
    async_answer,
    awaits_spoken_yes,
)

MAX_TOOL_ITERATIONS = 10
MAX_T0_CHARS = 300  # longer than any spoken command; HA's matcher is slow on long text
BUDGET_NOTE = "(The cloud budget is used up, so this answer comes from the local model.)"
# A request from a voice satellite is answered out loud: short, and no markup to read out.
VOICE_PROMPT = (
    "This request was spoken to a voice satellite and your answer will be read aloud: answer in "
    "one or two short sentences, with no lists, tables, markdown or emoji."
)
VOICE_MAX_OUTPUT_TOKENS = 160
HOME_ASSISTANT_AGENT = conversation.HOME_ASSISTANT_AGENT
# The ledger's name for a yes / no answered before routing (voice/confirm.py).
SAFETY_CONFIRMATION = "safety_confirmation"


# -- HA content -> router types ------------------------------------------------------------------


def to_messages(chat_log: conversation.ChatLog) -> tuple[Message, ...]:
    """The whole shared ChatLog (every tier's turns) as neutral messages."""
    messages: list[Message] = []
    for content in chat_log.content:
        if isinstance(content, conversation.SystemContent):
            messages.append(Message(role="system", content=content.content))
        elif isinstance(content, conversation.UserContent):
            messages.append(Message(role="user", content=content.content))
        elif isinstance(content, conversation.AssistantContent):
            messages.append(
                Message(
                    role="assistant",
                    content=content.content or "",
                    tool_calls=tuple(
                        ToolCall(id=tc.id, name=tc.tool_name, arguments=dict(tc.tool_args))
                        for tc in content.tool_calls or ()
                    ),
                )
            )
        elif isinstance(content, conversation.ToolResultContent):
            messages.append(
                Message(
                    role="tool",
                    content=json.dumps(content.tool_result, default=str),
                    tool_call_id=content.tool_call_id,
                    name=content.tool_name,
                )
            )
    return tuple(messages)


def to_tool_specs(llm_api: llm.APIInstance | None) -> tuple[ToolSpec, ...]:
    """HA's LLM API tools as JSON-schema tool specs."""
    if llm_api is None:
        return ()
    return to_tool_specs_for(llm_api.tools, llm_api)


def to_tool_specs_for(tools: Sequence[llm.Tool], llm_api: llm.APIInstance) -> tuple[ToolSpec, ...]:
    """These tools (of llm_api, or wrapping its tools) as JSON-schema tool specs."""
    return tuple(_tool_spec(tool, llm_api.custom_serializer) for tool in tools)


# HA builds new Tool objects for every request, but an intent tool's schema is a fresh
# vol.Schema around the same (cached) validators each time. Converting it costs ~1.4 ms per
# request (benchmarks/router_overhead.py), so specs are kept per schema content: the key holds
# the validators themselves, so an id can never be reused while its entry lives.
_SPEC_CACHE: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], ToolSpec]] = OrderedDict()
_SPEC_CACHE_SIZE = 256


def _tool_spec(tool: llm.Tool, serializer: Callable[[Any], Any] | None) -> ToolSpec:
    schema = tool.parameters.schema
    parts: tuple[Any, ...] = tuple(schema.items()) if isinstance(schema, dict) else (schema,)
    key = (
        type(tool),
        tool.name,
        tool.description,
        id(serializer),
        tuple((id(k), id(v)) for k, v in parts) if isinstance(schema, dict) else id(schema),
    )
    if (hit := _SPEC_CACHE.get(key)) is not None and hit[0] == (*parts, serializer):
        _SPEC_CACHE.move_to_end(key)
        return hit[1]
    spec = ToolSpec(
        name=tool.name,
        description=tool.description or "",
        parameters=convert(tool.parameters, custom_serializer=serializer),
    )
    _SPEC_CACHE[key] = ((*parts, serializer), spec)
    if len(_SPEC_CACHE) > _SPEC_CACHE_SIZE:
        _SPEC_CACHE.popitem(last=False)
    return spec


# -- one request ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Turn:
    """What one request did, for the ledger."""

    started: float = field(default_factory=time.monotonic)
    tier: str = ""
    provider: str = ""
    model: str = ""
    reason: str = ""
    confidence: float | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "answered"
    cost_usd: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    freshness: dict[str, Any] = field(default_factory=dict)
    # Tool calls by id (their arguments), and the entities actions acted on: mirrored to MQTT.
    call_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    device_actions: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)

    def add_usage(self, usage: Usage, cost: float) -> None:
        """Count follow-up rounds of the accepted tier too."""
        self.tokens_in += usage.input_tokens
        self.tokens_out += usage.output_tokens
        self.cost_usd += cost


class RoutingAgent:
    """Routes one conversation agent's requests (one conversation subentry)."""

    def __init__(
        self, hass: HomeAssistant, entry: JarvisConfigEntry, subentry: ConfigSubentry
    ) -> None:
        """Read the agent's policy from its subentry."""
        self.hass = hass
        self.entry = entry
        self.subentry = subentry
        settings = {**RECOMMENDED_CONVERSATION, **subentry.data}
        self.settings = settings
        self.tiers = {Tier(t) for t in settings[CONF_TIERS]}
        order = (
            (Tier.LOCAL_INTENT, Tier.CLOUD, Tier.LOCAL_MODEL)
            if settings.get(CONF_TIER_ORDER) == TIER_ORDER_CLOUD_FIRST
            else (Tier.LOCAL_INTENT, Tier.LOCAL_MODEL, Tier.CLOUD)
        )
        self.policy = RoutingPolicy(
            tier_order=tuple(t for t in order if t in self.tiers),
            confidence_threshold=float(settings[CONF_CONFIDENCE_THRESHOLD]),
            freshness_routing=bool(settings[CONF_FRESHNESS_ROUTING]),
            max_escalations=int(settings[CONF_MAX_ESCALATIONS]),
        )
        # HA's Assist prompt and tools, built once until the home changes (llm_api_cache.py).
        self.llm_api = cached_llm_api(
            hass, settings.get(CONF_LLM_HASS_API), entry.runtime_data.exposure
        )
        self.budget = Budget(
            daily_usd=settings.get(CONF_BUDGET_DAILY), monthly_usd=settings.get(CONF_BUDGET_MONTHLY)
        )
        # The entry's options cap all of its agents together (options_flow.py).
        self.entry_budget = Budget(
            daily_usd=entry.options.get(CONF_BUDGET_DAILY),
            monthly_usd=entry.options.get(CONF_BUDGET_MONTHLY),
        )
        # Safety requests each conversation's last turn asked about (a spoken yes answers them).
        self.asks = PendingAsks()

    def candidates(self) -> list[Candidate]:
        """Configured providers (all, or the agent's chosen ones), plus the add-on's model."""
        chosen = set(self.settings.get(CONF_PROVIDERS) or ())
        pool = self.entry.runtime_data.candidates
        candidates = [
            pool.candidate(s)
            for s in provider_subentries(self.entry.subentries)
            if not chosen or s.subentry_id in chosen
        ]
        health = self.entry.runtime_data.coordinator.data
        # Enabled, not necessarily ready yet: the model loads in about a second after the add-on
        # starts, and a call before that fails over like any unavailable provider.
        llm = health.raw.get("llm") if health else None
        bundled = isinstance(llm, dict) and bool(llm.get("enabled"))
        if bundled and not any(c.tier is Tier.LOCAL_MODEL for c in candidates):
            candidates.append(pool.bundled(self.entry.data))
        return candidates

    async def _spend(self, *, all_agents: bool = False) -> tuple[float, float]:
        """This agent's (or all agents') spend today and this month (UTC), from the ledger."""
        ledger = self.entry.runtime_data.ledger
        await self.entry.runtime_data.writer.async_flush()
        day = dt_util.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        agent = None if all_agents else self.subentry.subentry_id

        def read() -> tuple[float, float]:
            return (
                sum(ledger.spend(day, agent_id=agent).values()),
                sum(ledger.spend(month, agent_id=agent).values()),
            )

        return await self.hass.async_add_executor_job(read)

    async def async_handle(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        agent_id: str,
    ) -> conversation.ConversationResult:
        """Answer with the cheapest good-enough tier; log the decision."""
        turn = Turn()
        if problem := _input_problem(user_input.text):
            turn.outcome = "rejected_input"
            turn.reason = problem
            await self._log(user_input, turn, chat_log.conversation_id)
            response = intent.IntentResponse(user_input.language)
            response.async_set_error(intent.IntentResponseErrorCode.UNKNOWN, problem)
            return conversation.ConversationResult(
                response=response, conversation_id=chat_log.conversation_id
            )
        self._restore_context(user_input, chat_log)
        # A bare yes / no to the previous turn's safety question goes to the gate, not a model.
        asked = self.asks.get(chat_log.conversation_id)
        if (answer := await async_answer(self.hass, user_input, asked)) is not None:
            self.asks.set(chat_log.conversation_id, answer.still_pending)
            return await self._spoken_answer(user_input, chat_log, agent_id, turn, answer)
        # T0 first: HA's intents need none of the LLM prompt, which lists every exposed entity
        # and costs ~19 ms at 1,000 entities (benchmarks/router_overhead.py).
        result: conversation.ConversationResult | None = None
        if Tier.LOCAL_INTENT in self.tiers and len(user_input.text) <= MAX_T0_CHARS:
            result = await self._try_local(user_input, chat_log, turn)
        elif Tier.LOCAL_INTENT in self.tiers:
            # HA's intent matcher takes seconds on long text and blocks its event loop meanwhile;
            # no command is that long.
            turn.attempts.append(
                {
                    "tier": Tier.LOCAL_INTENT.value,
                    "name": HOME_ASSISTANT_AGENT,
                    "outcome": "skipped_long_text",
                }
            )
        if result is None:
            try:
                extra_prompt = user_input.extra_system_prompt
                if user_input.satellite_id is not None:
                    extra_prompt = (
                        f"{extra_prompt}\n{VOICE_PROMPT}" if extra_prompt else VOICE_PROMPT
                    )
                await chat_log.async_provide_llm_data(
                    user_input.as_llm_context(DOMAIN),
                    self.llm_api,
                    self.settings.get(CONF_PROMPT),
                    extra_prompt,
                )
            except (conversation.ConverseError, HomeAssistantError) as err:
                # ConverseError: HA could not render the prompt; HomeAssistantError: a
                # configured LLM API is gone (its integration was removed).
                turn.outcome = "error"
                turn.reason = f"could not prepare the LLM API: {err}"
                await self._log(user_input, turn, chat_log.conversation_id)
                if isinstance(err, conversation.ConverseError):
                    return err.as_conversation_result()
                response = intent.IntentResponse(user_input.language)
                response.async_set_error(
                    intent.IntentResponseErrorCode.UNKNOWN, "Error preparing LLM API"
                )
                return conversation.ConversationResult(
                    response=response, conversation_id=chat_log.conversation_id
                )
            if chat_log.llm_api is not None:
                # Every tool call of every model tier passes the safety gate.
                chat_log.llm_api = gated_instance(self.hass, chat_log.llm_api)
        if result is None:
            # Refusals for where the requester is (remote mode) are said plainly, whatever
            # the model made of the tool result.
            with collect_refusals() as refusals:
                result = await self._route_models(user_input, chat_log, agent_id, turn)
                if result is None:
                    result = conversation.async_get_result_from_chat_log(user_input, chat_log)
            if (remote_answer := answer_for(refusals)) is not None:
                result.response.async_set_speech(remote_answer)
        self.asks.set(chat_log.conversation_id, asked_in_this_turn(chat_log))
        if not result.continue_conversation and awaits_spoken_yes(
            self.hass, chat_log, user_input.context.user_id
        ):
            # Keep listening: the requester's next words are likely the yes / no.
            result = replace(result, continue_conversation=True)
        record = await self._log(user_input, turn, chat_log.conversation_id)
        await self._remember(user_input, chat_log, record)
        self._mirror_device_actions(record, turn)
        return result

    async def _spoken_answer(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        agent_id: str,
        turn: Turn,
        answer: SpokenAnswer,
    ) -> conversation.ConversationResult:
        """Say what the gate made of a yes / no; log it like any other turn."""
        chat_log.async_add_assistant_content_without_tools(
            conversation.AssistantContent(agent_id=agent_id, content=answer.speech)
        )
        turn.tier, turn.provider, turn.confidence = (
            Tier.LOCAL_INTENT.value,
            SAFETY_CONFIRMATION,
            1.0,
        )
        turn.reason, turn.outcome = answer.reason, answer.outcome
        turn.attempts.append(
            {
                "tier": Tier.LOCAL_INTENT.value,
                "name": SAFETY_CONFIRMATION,
                "outcome": "accepted",
                "request_ids": list(answer.request_ids),
            }
        )
        response = intent.IntentResponse(user_input.language)
        response.async_set_speech(answer.speech)
        record = await self._log(user_input, turn, chat_log.conversation_id)
        await self._remember(user_input, chat_log, record)
        return conversation.ConversationResult(
            response=response, conversation_id=chat_log.conversation_id
        )

    async def async_generate_data(
        self, task: ai_task.GenDataTask, chat_log: conversation.ChatLog, agent_id: str
    ) -> ai_task.GenDataTaskResult:
        """AI Task: the same router, model tiers only, structured output when asked."""
        turn = Turn()
        user_input = conversation.ConversationInput(
            text=task.instructions,
            context=Context(),
            conversation_id=chat_log.conversation_id,
            device_id=None,
            satellite_id=None,
            language=self.hass.config.language,
            agent_id=agent_id,
        )
        schema = (
            convert(task.structure, custom_serializer=llm.selector_serializer)
            if task.structure
            else None
        )
        outcome = await self._route_models(
            user_input, chat_log, agent_id, turn, json_schema=schema, use_tools=False
        )
        await self._log(user_input, turn, chat_log.conversation_id)
        last = chat_log.content[-1]
        if outcome is not None or not isinstance(last, conversation.AssistantContent):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="ai_task_failed",
                translation_placeholders={"reason": turn.reason},
            )
        text = last.content or ""
        if schema is None:
            return ai_task.GenDataTaskResult(conversation_id=chat_log.conversation_id, data=text)
        try:
            data = json.loads(text)
        except ValueError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="ai_task_not_json",
                translation_placeholders={"tier": turn.tier},
            ) from err
        return ai_task.GenDataTaskResult(conversation_id=chat_log.conversation_id, data=data)

    def _restore_context(
        self, user_input: conversation.ConversationInput, chat_log: conversation.ChatLog
    ) -> None:
        """Put back the turns HA forgot (5-minute expiry, restart) before the current message."""
        if any(isinstance(c, conversation.AssistantContent) for c in chat_log.content):
            return  # HA's session still holds this conversation
        turns = self.entry.runtime_data.contexts.history(
            user_input.conversation_id,
            chat_log.conversation_id,
            user_input.satellite_id or user_input.device_id,
            dt_util.utcnow(),
        )
        restored: list[conversation.Content] = [
            conversation.UserContent(content=t["content"])
            if t["role"] == "user"
            else conversation.AssistantContent(agent_id=DOMAIN, content=t["content"])
            for t in turns
        ]
        if restored:
            chat_log.content[-1:-1] = restored
            LOGGER.debug("Restored %d turns into %s", len(restored), chat_log.conversation_id)

    async def _remember(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        record: DecisionRecord,
    ) -> None:
        """Persist the conversation's text turns; mirror them to MQTT for dashboards and other agents."""
        turns: list[ContextTurn] = [
            {"role": c.role, "content": c.content}
            for c in chat_log.content
            if isinstance(c, conversation.UserContent | conversation.AssistantContent) and c.content
        ]
        contexts = self.entry.runtime_data.contexts
        contexts.record(
            chat_log.conversation_id,
            user_input.satellite_id or user_input.device_id,
            turns,
            dt_util.utcnow(),
        )
        snapshot = contexts.snapshot(chat_log.conversation_id)
        if snapshot is None or "mqtt" not in self.hass.config.components:
            return
        payload = {
            **snapshot,
            "agent": self.subentry.title,
            "last_decision": {"id": record.id, "tier": record.tier, "outcome": record.outcome},
        }
        self._publish(f"{MQTT_CONTEXT_PREFIX}/{snapshot['conversation_id']}", payload, retain=True)

    def _mirror_device_actions(self, record: DecisionRecord, turn: Turn) -> None:
        """What the agent did to devices, on jarvis/devices/<device>/cmd (marked as a mirror).

        <device> is the entity's HA device id, or the entity id when it has no device. The
        add-on ignores mirrors: they say what happened, they are not commands to run.
        """
        if not turn.device_actions or "mqtt" not in self.hass.config.components:
            return
        ent_reg = er.async_get(self.hass)
        for index, (command, args, entity_id) in enumerate(turn.device_actions):
            entry = ent_reg.async_get(entity_id)
            device = entry.device_id if entry is not None and entry.device_id else entity_id
            self._publish(
                f"{MQTT_DEVICES_PREFIX}/{device}/cmd",
                {
                    "request_id": f"{record.id}-{index}",
                    "command": command,
                    "args": args,
                    "entity_id": entity_id,
                    "mirror": True,
                    "source": "jarvis_agent",
                    "decision_id": record.id,
                    "conversation_id": record.conversation_id,
                    "user_id": record.user_id,
                },
                retain=False,
            )

    def _publish(self, topic: str, payload: dict[str, Any], *, retain: bool) -> None:
        """Publish after the answer: HA waits for the broker's acknowledgement of QoS 1."""

        async def publish() -> None:
            try:
                await mqtt.async_publish(
                    self.hass, topic, json.dumps(payload, default=str), qos=1, retain=retain
                )
            except HomeAssistantError as err:
                LOGGER.debug("Not published to MQTT %s: %s", topic, err)

        self.hass.async_create_background_task(publish(), f"jarvis publish {topic}")

    async def _try_local(
        self, user_input: conversation.ConversationInput, chat_log: conversation.ChatLog, turn: Turn
    ) -> conversation.ConversationResult | None:
        """T0: HA's sentence triggers, then its strict intents (state queries included)."""
        t0 = time.monotonic()
        response: intent.IntentResponse | None = None
        handler = "sentence_trigger"
        if (
            text := await conversation.async_handle_sentence_triggers(
                self.hass, user_input, chat_log
            )
        ) is not None:
            response = intent.IntentResponse(user_input.language)
            response.async_set_speech(text)
        else:
            handler = HOME_ASSISTANT_AGENT
            # Anything the safety policy does not simply allow is left to the gated model tools.
            gate = async_get_gate(self.hass)
            if gate is None:
                return None
            gated = intent_filter(self.hass, gate, user_input.context.user_id)
            response = await conversation.async_handle_intents(
                self.hass,
                user_input,
                chat_log,
                intent_filter=lambda result: wildcard_miss(self.hass, result) or gated(result),
            )
        latency = (time.monotonic() - t0) * 1000
        matched = (
            response is not None and response.response_type is not intent.IntentResponseType.ERROR
        )
        turn.attempts.append(
            {
                "tier": Tier.LOCAL_INTENT.value,
                "name": handler,
                "outcome": "accepted" if matched else "no_match",
                "latency_ms": round(latency, 2),
            }
        )
        if not matched or response is None:
            return None
        speech = response.speech.get("plain", {}).get("speech", "")
        chat_log.async_add_assistant_content_without_tools(
            conversation.AssistantContent(agent_id=handler, content=speech)
        )
        if response.response_type is intent.IntentResponseType.ACTION_DONE:
            name = response.intent.intent_type if response.intent else handler
            turn.device_actions.extend(
                (name, {}, target.id)
                for target in response.success_results
                if target.type is intent.IntentResponseTargetType.ENTITY and target.id
            )
        turn.tier, turn.provider, turn.confidence = Tier.LOCAL_INTENT.value, handler, 1.0
        turn.reason = f"t0 {handler} matched the request locally"
        turn.outcome = (
            "action_done"
            if response.response_type is intent.IntentResponseType.ACTION_DONE
            else "answered"
        )
        return conversation.ConversationResult(
            response=response, conversation_id=chat_log.conversation_id
        )

    async def _route_models(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        agent_id: str,
        turn: Turn,
        *,
        json_schema: dict[str, Any] | None = None,
        use_tools: bool = True,
    ) -> conversation.ConversationResult | None:
        tools = to_tool_specs(chat_log.llm_api) if use_tools else ()
        freshness = assess_freshness(user_input.text)
        turn.freshness = {
            "needs_fresh": freshness.needs_fresh,
            "score": freshness.score,
            "cues": list(freshness.cues),
        }
        candidates = [c for c in self.candidates() if c.tier in self.tiers or c.tier is Tier.FRESH]
        ordered, skipped = await self.entry.runtime_data.candidates.async_prepare(
            plan(self.policy, candidates, freshness)
        )
        turn.attempts.extend(skipped)
        request = CompletionRequest(
            messages=to_messages(chat_log), tools=tools, want_logprobs=True, json_schema=json_schema
        )
        if user_input.satellite_id is not None:
            request = replace(request, max_output_tokens=VOICE_MAX_OUTPUT_TOKENS)
        # Only read the ledger when there is a cap to check.
        spent_today, spent_month = await self._spend() if _has_cap(self.budget) else (0.0, 0.0)
        entry_capped = _has_cap(self.entry_budget)
        all_today, all_month = await self._spend(all_agents=True) if entry_capped else (0.0, 0.0)

        def budget_check(candidate: Candidate, estimate: float) -> BudgetCheck:
            verdict = self.budget.check(spent_today, spent_month, estimate)
            if not verdict.allowed or not entry_capped:
                return verdict
            overall = self.entry_budget.check(all_today, all_month, estimate)
            if overall.allowed:
                return verdict
            return BudgetCheck(False, f"all agents: {overall.reason}", overall.remaining_usd)

        result = await self._route_streaming(
            request,
            ordered=ordered,
            tools=tools,
            budget_check=budget_check,
            chat_log=chat_log,
            agent_id=agent_id,
            turn=turn,
        )
        turn.attempts.extend(result.to_dict()["attempts"])
        self._track_provider_auth(result)
        turn.reason = result.reason
        if result.accepted is None or result.candidate is None:
            return self._no_answer(user_input, chat_log, turn, result)
        candidate = result.candidate
        turn.tier, turn.provider, turn.model = (
            candidate.tier.value,
            candidate.name,
            result.accepted.model,
        )
        turn.confidence = None if result.confidence is None else round(result.confidence.score, 4)
        turn.cost_usd = result.total_cost_usd
        usages = [a["usage"] for a in turn.attempts if isinstance(a.get("usage"), dict)]
        turn.tokens_in = sum(u.get("input_tokens", 0) for u in usages)
        turn.tokens_out = sum(u.get("output_tokens", 0) for u in usages)
        # Tool loop: the accepted tier stays on for its own follow-ups (no re-routing after
        # actions ran, so an escalated request never executes an action twice).
        for _ in range(MAX_TOOL_ITERATIONS):
            if not chat_log.unresponded_tool_results:
                break
            try:
                follow_up = await candidate.provider.complete(
                    CompletionRequest(messages=to_messages(chat_log), tools=tools)
                )
            except ProviderError as err:
                LOGGER.warning("%s failed after running tools: %s", candidate.name, err)
                turn.outcome = "error"
                chat_log.async_add_assistant_content_without_tools(
                    conversation.AssistantContent(
                        agent_id=agent_id, content="Done, but I could not finish my answer."
                    )
                )
                break
            turn.add_usage(follow_up.usage, cost_usd(follow_up.usage, candidate.price))
            await self._feed(chat_log, agent_id, follow_up, turn)
        if chat_log.unresponded_tool_results:
            # Still calling tools after MAX_TOOL_ITERATIONS rounds: stop and say so (and log it).
            turn.outcome = "error"
            turn.reason += f"; stopped after {MAX_TOOL_ITERATIONS} rounds of tool calls"
            chat_log.async_add_assistant_content_without_tools(
                conversation.AssistantContent(
                    agent_id=agent_id,
                    content=f"I stopped after {MAX_TOOL_ITERATIONS} rounds of actions without an answer.",
                )
            )
        if turn.tool_calls and turn.outcome in ("answered", "budget_fallback"):
            turn.outcome = "action_done"
        return None

    def _track_provider_auth(self, result: RouteResult) -> None:
        """A rejected API key needs the user: raise a repair issue; clear it once the key works."""
        subentry_ids = {
            sub.title: sub.subentry_id for sub in provider_subentries(self.entry.subentries)
        }
        for attempt in result.attempts:
            if (subentry_id := subentry_ids.get(attempt.name)) is None:
                continue
            issue_id = f"provider_auth_{subentry_id}"
            if attempt.error_type == "ProviderAuthError":
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    issue_id,
                    is_fixable=False,
                    severity=ir.IssueSeverity.ERROR,
                    translation_key="provider_auth_failed",
                    translation_placeholders={"provider": attempt.name},
                )
            elif attempt.error_type is None and attempt.outcome != "skipped_budget":
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)

    async def _route_streaming(
        self,
        request: CompletionRequest,
        *,
        ordered: list[Candidate],
        tools: tuple[ToolSpec, ...],
        budget_check: Callable[[Candidate, float], BudgetCheck],
        chat_log: conversation.ChatLog,
        agent_id: str,
        turn: Turn,
    ) -> RouteResult:
        """Route, streaming the final candidate's text into the ChatLog as it arrives.

        Earlier candidates are buffered by the cascade (nothing reaches the user before they are
        accepted); an accepted buffered answer goes in whole, its tool calls last, so HA runs
        only accepted tool calls.
        """
        pieces: asyncio.Queue[str | None] = asyncio.Queue()

        async def on_delta(text: str) -> None:
            await pieces.put(text)

        task = self.hass.async_create_task(
            route(
                request,
                ordered,
                policy=self.policy,
                exposed=self.entry.runtime_data.exposure.get(),
                tools=tools,
                budget_check=budget_check,
                on_delta=on_delta,
            ),
            "jarvis route",
        )
        task.add_done_callback(lambda _: pieces.put_nowait(None))

        async def deltas() -> AsyncGenerator[conversation.AssistantContentDeltaDict]:
            started = False
            while (piece := await pieces.get()) is not None:
                if not started:
                    started = True
                    yield {"role": "assistant"}
                yield {"content": piece}
            result = await task
            accepted = result.accepted
            if accepted is None or result.candidate is None:
                return
            final: conversation.AssistantContentDeltaDict = {}
            if not started:
                final["role"] = "assistant"
            if not result.streamed and accepted.text:
                final["content"] = accepted.text
            unsure = result.confidence is None or not result.confidence.accepted
            if result.budget_blocked and result.candidate.local and (result.fallback or unsure):
                # Say so: a better (paid) answer was withheld by the budget.
                text = final.get("content", "")
                final["content"] = f"{text} {BUDGET_NOTE}" if text or started else BUDGET_NOTE
                turn.outcome = "budget_fallback"
            if accepted.tool_calls:
                final["tool_calls"] = _tool_inputs(accepted.tool_calls)
            if final:
                yield final

        async for content in chat_log.async_add_delta_content_stream(agent_id, deltas()):
            self._note_tool_result(content, turn)
        return await task

    @staticmethod
    def _note_tool_result(
        content: conversation.Content | conversation.ToolResultContent, turn: Turn
    ) -> None:
        if isinstance(content, conversation.AssistantContent):
            for call in content.tool_calls or ():
                turn.call_args[call.id] = dict(call.tool_args)
        if isinstance(content, conversation.ToolResultContent):
            turn.tool_calls.append(
                {"name": content.tool_name, "result": _summary(content.tool_result)}
            )
            args = turn.call_args.get(content.tool_call_id, {})
            turn.device_actions.extend(
                (content.tool_name, args, entity_id) for entity_id in acted_on(content.tool_result)
            )

    async def _feed(
        self, chat_log: conversation.ChatLog, agent_id: str, completion: Completion, turn: Turn
    ) -> None:
        """Add an accepted answer to the ChatLog; HA runs its tool calls through the LLM API."""

        async def deltas() -> AsyncGenerator[conversation.AssistantContentDeltaDict]:
            delta: conversation.AssistantContentDeltaDict = {"role": "assistant"}
            if completion.text:
                delta["content"] = completion.text
            if completion.tool_calls:
                delta["tool_calls"] = _tool_inputs(completion.tool_calls)
            yield delta

        async for content in chat_log.async_add_delta_content_stream(agent_id, deltas()):
            self._note_tool_result(content, turn)

    def _no_answer(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        turn: Turn,
        result: RouteResult,
    ) -> conversation.ConversationResult:
        turn.outcome = "budget_blocked" if result.budget_blocked else "error"
        turn.cost_usd = result.total_cost_usd
        speech = (
            "The cloud budget is used up and the local model could not answer this."
            if result.budget_blocked
            else "Sorry, none of my models could answer that right now."
        )
        response = intent.IntentResponse(user_input.language)
        response.async_set_error(intent.IntentResponseErrorCode.UNKNOWN, speech)
        return conversation.ConversationResult(
            response=response, conversation_id=chat_log.conversation_id
        )

    async def _log(
        self, user_input: conversation.ConversationInput, turn: Turn, conversation_id: str
    ) -> DecisionRecord:
        """Ledger record (persisted), event, and the Assist debug trace."""
        record = DecisionRecord(
            id=uuid.uuid4().hex,
            created_at=dt_util.utcnow(),
            conversation_id=conversation_id,  # HA's id for this turn (new when the old one expired)
            agent_id=self.subentry.subentry_id,
            user_id=user_input.context.user_id,
            device_id=user_input.device_id,
            satellite_id=user_input.satellite_id,
            language=user_input.language,
            text=user_input.text,
            tier=turn.tier,
            provider=turn.provider,
            model=turn.model,
            reason=turn.reason,
            confidence=turn.confidence,
            attempts=turn.attempts,
            tool_calls_executed=turn.tool_calls,
            outcome=turn.outcome,
            cost_usd=round(turn.cost_usd, 8),
            latency_ms=round((time.monotonic() - turn.started) * 1000, 2),
            tokens_in=turn.tokens_in,
            tokens_out=turn.tokens_out,
            freshness=turn.freshness,
        )
        # Written after the answer: the person waiting does not wait for the commit.
        self.entry.runtime_data.writer.async_append(record)
        data = record.to_dict()
        self.entry.runtime_data.remember(user_input.context.id, data)
        self.hass.bus.async_fire(EVENT_ROUTING_DECISION, data, context=user_input.context)
        conversation.async_conversation_trace_append(
            ConversationTraceEventType.AGENT_DETAIL, {"jarvis_routing": data}
        )
        return record


def wildcard_miss(hass: HomeAssistant, result: Any) -> bool:
    """True when HA matched a state question only through a wildcard that names nothing here.

    HA's "who is [in] [the] {zone:state}" takes any words as a zone, so "who is the CEO of
    OpenAI?" matches it and HA answers "Not any" (benchmarks/routing_suite.py found it): such a
    question is for the models. Known states are the zones, home / away, and persons' states.
    """
    if result.intent.name != intent.INTENT_GET_STATE:
        return False
    state = result.entities.get("state")
    if state is None or not getattr(state, "is_wildcard", False):
        return False
    known = {"home", "away", "not home", "not_home"}
    known.update(zone.name.casefold() for zone in hass.states.async_all("zone"))
    known.update(person.state.casefold() for person in hass.states.async_all("person"))
    return str(state.value).strip().casefold() not in known


def _has_cap(budget: Budget) -> bool:
    return budget.daily_usd is not None or budget.monthly_usd is not None


def _tool_inputs(tool_calls: tuple[ToolCall, ...]) -> list[llm.ToolInput]:
    """Accepted tool calls as HA runs them (through the ChatLog and the LLM API)."""
    return [
        llm.ToolInput(tool_name=tc.name, tool_args=tc.arguments, id=tc.id or uuid.uuid4().hex)
        for tc in tool_calls
    ]


def _input_problem(text: str) -> str | None:
    """Why a request cannot be routed at all, or None."""
    if not text or not text.strip():
        return "I did not get any text to answer."
    if len(text) > MAX_REQUEST_CHARS:
        return (
            f"That request is {len(text)} characters long; I can take at most {MAX_REQUEST_CHARS}."
        )
    return None


def acted_on(tool_result: Mapping[str, Any] | Any) -> list[str]:
    """Entity ids an HA intent tool result says were acted on (its `data.success` targets)."""
    if not isinstance(tool_result, Mapping):
        return []
    data = tool_result.get("data")
    success = data.get("success") if isinstance(data, Mapping) else None
    if not isinstance(success, list):
        return []
    return [
        str(target["id"])
        for target in success
        if isinstance(target, Mapping) and target.get("type") == "entity" and target.get("id")
    ]


def _summary(tool_result: Mapping[str, Any] | Any) -> Any:
    text = json.dumps(tool_result, default=str)
    return text if len(text) <= 500 else text[:497] + "..."
