"""Config subentry flows: model providers and conversation agents (HA core's LLM pattern)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from homeassistant.config_entries import ConfigEntryState, ConfigSubentryFlow, SubentryFlowResult
from homeassistant.const import CONF_API_KEY, CONF_LLM_HASS_API, CONF_NAME, CONF_URL
from homeassistant.helpers import llm
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TemplateSelector,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from .addon.client import AddonUrlError, normalize_url
from .const import (
    CONF_BUDGET_DAILY,
    CONF_BUDGET_MONTHLY,
    CONF_CONFIDENCE_THRESHOLD,
    CONF_FRESHNESS_ROUTING,
    CONF_KIND,
    CONF_MAX_ESCALATIONS,
    CONF_MODEL,
    CONF_PRICE_CACHED_INPUT,
    CONF_PRICE_INPUT,
    CONF_PRICE_OUTPUT,
    CONF_PRICE_PER_REQUEST,
    CONF_PROMPT,
    CONF_PROVIDERS,
    CONF_TIER_ORDER,
    CONF_TIERS,
    CONF_TIMEOUT,
    CONF_WEB_SEARCH,
    DEFAULT_AI_TASK_NAME,
    DEFAULT_CONVERSATION_NAME,
    DEFAULT_TIMEOUT_S,
    RECOMMENDED_CONVERSATION,
    SUBENTRY_AI_TASK,
    SUBENTRY_PROVIDER,
    TIER_ORDER_CLOUD_FIRST,
    TIER_ORDER_LOCAL_FIRST,
)
from .provider_setup import validate_provider
from .router.types import LOCAL_KINDS, ProviderKind

# Kinds that need an API key, and kinds that need a URL (clouds may take one: proxies, tests).
_NEEDS_KEY = frozenset(ProviderKind) - LOCAL_KINDS
_NEEDS_URL = LOCAL_KINDS
_DEFAULT_MODELS = {
    ProviderKind.OLLAMA: "qwen3:4b",
    ProviderKind.OPENAI_COMPATIBLE: "local-model",
    ProviderKind.OPENAI: "gpt-5-nano",
    ProviderKind.ANTHROPIC: "claude-haiku-4-5",
    ProviderKind.GEMINI: "gemini-2.5-flash",
    ProviderKind.PERPLEXITY: "fast-search",
}
_PRICE = NumberSelector(
    NumberSelectorConfig(min=0, max=1000, step=0.001, mode=NumberSelectorMode.BOX)
)


def _entry_loaded(flow: ConfigSubentryFlow) -> bool:
    return flow._get_entry().state is ConfigEntryState.LOADED  # noqa: SLF001 - HA's own helper


def _default_title(kind: str, model: str) -> str:
    return f"{kind} {model}"


def _still_offered(chosen: Any, offered: Iterable[str]) -> list[str] | None:
    """The chosen ids that the form still offers (a removed provider or API must not linger).

    A suggested value the selector does not offer would fail the form's validation on submit.
    """
    if not chosen:
        return None
    valid = set(offered)
    return [value for value in chosen if value in valid]


class ProviderSubentryFlow(ConfigSubentryFlow):
    """Add or change one model provider (kind, address, key, model, prices)."""

    def __init__(self) -> None:
        """Nothing chosen yet."""
        self._kind = ProviderKind.OLLAMA  # set by the user or reconfigure step before use
        self._name: str | None = None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Choose the provider kind."""
        if not _entry_loaded(self):
            return self.async_abort(reason="entry_not_loaded")
        if user_input is not None:
            self._kind = ProviderKind(user_input[CONF_KIND])
            self._name = str(user_input.get(CONF_NAME) or "").strip() or None
            return await self.async_step_connection()
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_KIND): SelectSelector(
                        SelectSelectorConfig(
                            options=[k.value for k in ProviderKind],
                            translation_key=CONF_KIND,
                            mode=SelectSelectorMode.LIST,
                        )
                    ),
                    vol.Optional(CONF_NAME): str,
                }
            ),
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a provider's address, key, model or prices (its kind stays)."""
        if not _entry_loaded(self):
            return self.async_abort(reason="entry_not_loaded")
        self._kind = ProviderKind(self._get_reconfigure_subentry().data[CONF_KIND])
        return await self.async_step_connection(user_input)

    def _connection_schema(self, defaults: dict[str, Any]) -> vol.Schema:
        schema: dict[Any, Any] = {}
        url_key = vol.Required if self._kind in _NEEDS_URL else vol.Optional
        schema[url_key(CONF_URL, description={"suggested_value": defaults.get(CONF_URL)})] = (
            TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
        )
        key_key = vol.Required if self._kind in _NEEDS_KEY else vol.Optional
        schema[
            key_key(CONF_API_KEY, description={"suggested_value": defaults.get(CONF_API_KEY)})
        ] = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
        schema[
            vol.Required(CONF_MODEL, default=defaults.get(CONF_MODEL, _DEFAULT_MODELS[self._kind]))
        ] = str
        for key in (CONF_PRICE_INPUT, CONF_PRICE_OUTPUT):
            schema[vol.Required(key, default=defaults.get(key, 0.0))] = _PRICE
        schema[
            vol.Optional(
                CONF_PRICE_CACHED_INPUT,
                description={"suggested_value": defaults.get(CONF_PRICE_CACHED_INPUT)},
            )
        ] = _PRICE
        schema[
            vol.Required(CONF_PRICE_PER_REQUEST, default=defaults.get(CONF_PRICE_PER_REQUEST, 0.0))
        ] = _PRICE
        schema[
            vol.Required(CONF_TIMEOUT, default=defaults.get(CONF_TIMEOUT, DEFAULT_TIMEOUT_S))
        ] = NumberSelector(
            NumberSelectorConfig(min=1, max=300, step=1, mode=NumberSelectorMode.BOX)
        )
        if self._kind is ProviderKind.GEMINI:
            # Grounded in Google Search, it answers fresh facts (T2f) instead of general ones.
            schema[
                vol.Required(CONF_WEB_SEARCH, default=bool(defaults.get(CONF_WEB_SEARCH, False)))
            ] = BooleanSelector()
        return vol.Schema(schema)

    def _clean(self, user_input: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The subentry data for this input, or the field errors that stop it."""
        data: dict[str, Any] = {CONF_KIND: self._kind.value}
        for key, value in user_input.items():
            text = value.strip() if isinstance(value, str) else value
            if text != "":  # a cleared optional field is no setting at all
                data[key] = text
        if data.get(CONF_WEB_SEARCH) is False:
            del data[CONF_WEB_SEARCH]  # off is the absence of the setting, as for other kinds
        if CONF_MODEL not in data:
            return data, {CONF_MODEL: "invalid_model"}
        if CONF_URL in data:
            try:
                data[CONF_URL] = normalize_url(data[CONF_URL])
            except AddonUrlError:
                return data, {CONF_URL: "invalid_url"}
        elif self._kind in _NEEDS_URL:
            return data, {CONF_URL: "invalid_url"}
        return data, {}

    async def async_step_connection(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Where the provider is, the key, the model, and what it costs; checked before saving."""
        reconfiguring = self.source == "reconfigure"
        defaults: dict[str, Any] = (
            dict(self._get_reconfigure_subentry().data) if reconfiguring else {}
        )
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = self._clean(user_input)
            if not errors:
                errors = await validate_provider(self.hass, data)
            if not errors:
                if reconfiguring:
                    subentry = self._get_reconfigure_subentry()
                    old_default = _default_title(self._kind.value, defaults.get(CONF_MODEL, ""))
                    # A title Jarvis made up follows the model; one the user chose stays.
                    title = (
                        _default_title(self._kind.value, data[CONF_MODEL])
                        if subentry.title == old_default
                        else subentry.title
                    )
                    return self.async_update_and_abort(
                        self._get_entry(), subentry, data=data, title=title
                    )
                title = self._name or _default_title(self._kind.value, data[CONF_MODEL])
                return self.async_create_entry(title=title, data=data)
            defaults = dict(user_input)  # show what was typed (a cleared field stays cleared)
        return self.async_show_form(
            step_id="connection",
            data_schema=self._connection_schema(defaults),
            description_placeholders={"kind": self._kind.value},
            errors=errors,
        )


class ConversationSubentryFlow(ConfigSubentryFlow):
    """Add or change a conversation agent and its routing policy."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """A new agent with the recommended policy as defaults."""
        return await self.async_step_agent(user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change an agent."""
        return await self.async_step_agent(user_input)

    async def async_step_agent(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Prompt, Home Assistant tools and the routing policy."""
        if not _entry_loaded(self):
            return self.async_abort(reason="entry_not_loaded")
        reconfiguring = self.source == "reconfigure"
        if user_input is None:
            return self._form(self._defaults(reconfiguring))
        name = str(user_input.get(CONF_NAME) or "").strip()
        data = {k: v for k, v in user_input.items() if k != CONF_NAME}
        for key in (CONF_LLM_HASS_API, CONF_PROVIDERS):
            if not data.get(key):
                data.pop(key, None)
        if not data.get(CONF_TIERS):
            # Show what was chosen (a cleared field stays cleared).
            return self._form(dict(user_input), {CONF_TIERS: "no_tiers"})
        if reconfiguring:
            subentry = self._get_reconfigure_subentry()
            return self.async_update_and_abort(
                self._get_entry(), subentry, data=data, title=name or subentry.title
            )
        return self.async_create_entry(title=name or self._default_name, data=data)

    @property
    def _is_ai_task(self) -> bool:
        return self._subentry_type == SUBENTRY_AI_TASK

    @property
    def _default_name(self) -> str:
        return DEFAULT_AI_TASK_NAME if self._is_ai_task else DEFAULT_CONVERSATION_NAME

    def _defaults(self, reconfiguring: bool) -> dict[str, Any]:
        """The current settings, or the recommended ones (agents get the Assist API, tasks none)."""
        if reconfiguring:
            current = self._get_reconfigure_subentry()
            return {**RECOMMENDED_CONVERSATION, **current.data, CONF_NAME: current.title}
        defaults: dict[str, Any] = {**RECOMMENDED_CONVERSATION, CONF_NAME: self._default_name}
        if not self._is_ai_task:
            defaults[CONF_LLM_HASS_API] = [llm.LLM_API_ASSIST]
        return defaults

    def _form(
        self, defaults: dict[str, Any], errors: dict[str, str] | None = None
    ) -> SubentryFlowResult:
        return self.async_show_form(
            step_id="agent", data_schema=self._schema(defaults), errors=errors or {}
        )

    def _schema(self, d: dict[str, Any]) -> vol.Schema:
        apis = [
            SelectOptionDict(label=api.name, value=api.id) for api in llm.async_get_apis(self.hass)
        ]
        providers = [
            SelectOptionDict(label=sub.title, value=sub.subentry_id)
            for sub in self._get_entry().subentries.values()
            if sub.subentry_type == SUBENTRY_PROVIDER
        ]
        tiers = [SelectOptionDict(label=t, value=t) for t in ("t0", "t1", "t2")]
        suggested_apis = _still_offered(d.get(CONF_LLM_HASS_API), (o["value"] for o in apis))
        suggested_providers = _still_offered(d.get(CONF_PROVIDERS), (o["value"] for o in providers))

        def suggested(key: str) -> dict[str, Any]:
            return {"suggested_value": d.get(key)}

        return vol.Schema(
            {
                vol.Optional(CONF_NAME, default=d.get(CONF_NAME, self._default_name)): str,
                vol.Optional(CONF_PROMPT, description=suggested(CONF_PROMPT)): TemplateSelector(),
                vol.Optional(
                    CONF_LLM_HASS_API, description={"suggested_value": suggested_apis}
                ): SelectSelector(SelectSelectorConfig(options=apis, multiple=True)),
                vol.Required(CONF_TIERS, default=d.get(CONF_TIERS)): SelectSelector(
                    SelectSelectorConfig(options=tiers, multiple=True, translation_key=CONF_TIERS)
                ),
                vol.Required(
                    CONF_TIER_ORDER, default=d.get(CONF_TIER_ORDER, TIER_ORDER_LOCAL_FIRST)
                ): SelectSelector(
                    SelectSelectorConfig(
                        options=[TIER_ORDER_LOCAL_FIRST, TIER_ORDER_CLOUD_FIRST],
                        translation_key=CONF_TIER_ORDER,
                    )
                ),
                vol.Optional(
                    CONF_PROVIDERS, description={"suggested_value": suggested_providers}
                ): SelectSelector(SelectSelectorConfig(options=providers, multiple=True)),
                vol.Required(
                    CONF_CONFIDENCE_THRESHOLD, default=d.get(CONF_CONFIDENCE_THRESHOLD)
                ): NumberSelector(NumberSelectorConfig(min=0, max=1, step=0.05)),
                vol.Required(
                    CONF_FRESHNESS_ROUTING, default=d.get(CONF_FRESHNESS_ROUTING)
                ): BooleanSelector(),
                vol.Required(
                    CONF_MAX_ESCALATIONS, default=d.get(CONF_MAX_ESCALATIONS)
                ): NumberSelector(
                    NumberSelectorConfig(min=0, max=5, step=1, mode=NumberSelectorMode.BOX)
                ),
                vol.Optional(CONF_BUDGET_DAILY, description=suggested(CONF_BUDGET_DAILY)): _PRICE,
                vol.Optional(
                    CONF_BUDGET_MONTHLY, description=suggested(CONF_BUDGET_MONTHLY)
                ): _PRICE,
            }
        )
