"""Builds router providers and candidates from config subentries (the HA side of the router)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import importlib
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_API_KEY, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers.httpx_client import get_async_client

from .const import (
    BUNDLED_CANDIDATE_NAME,
    BUNDLED_MAX_OUTPUT_TOKENS,
    BUNDLED_MODEL_NAME,
    BUNDLED_TEMPERATURE,
    CONF_API_TOKEN,
    CONF_KIND,
    CONF_MODEL,
    CONF_PRICE_CACHED_INPUT,
    CONF_PRICE_INPUT,
    CONF_PRICE_OUTPUT,
    CONF_PRICE_PER_REQUEST,
    CONF_TIMEOUT,
    CONF_WEB_SEARCH,
    DEFAULT_TIMEOUT_S,
    LOGGER,
    SUBENTRY_PROVIDER,
)
from .router import providers as provider_package
from .router.policy import Candidate
from .router.providers import MODULES, create_provider
from .router.providers.base import (
    Provider,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderRequestError,
)
from .router.types import LOCAL_KINDS, CompletionRequest, Message, Price, ProviderKind, Tier

TIER_OF_KIND = {
    ProviderKind.OLLAMA: Tier.LOCAL_MODEL,
    ProviderKind.OPENAI_COMPATIBLE: Tier.LOCAL_MODEL,
    ProviderKind.OPENAI: Tier.CLOUD,
    ProviderKind.ANTHROPIC: Tier.CLOUD,
    ProviderKind.GEMINI: Tier.CLOUD,
    ProviderKind.PERPLEXITY: Tier.FRESH,
}

# OpenAI's reasoning models (the GPT-5 family) may spend a one-token budget on thinking and then
# refuse with HTTP 400 "Could not finish the message because max_tokens or model output limit was
# reached": the key and the model were accepted, which is all the check asks.
_OUT_OF_TOKENS = "output limit was reached"


def price_of(data: Mapping[str, Any]) -> Price:
    """Prices live in the provider's config, editable; never in code."""
    cached = data.get(CONF_PRICE_CACHED_INPUT)
    return Price(
        input_per_mtok=float(data.get(CONF_PRICE_INPUT) or 0.0),
        output_per_mtok=float(data.get(CONF_PRICE_OUTPUT) or 0.0),
        cached_input_per_mtok=None if cached is None else float(cached),
        per_request=float(data.get(CONF_PRICE_PER_REQUEST) or 0.0),
    )


def build_provider(hass: HomeAssistant, data: Mapping[str, Any]) -> Provider:
    """A provider on HA's shared HTTP client."""
    return create_provider(
        ProviderKind(data[CONF_KIND]),
        model=str(data[CONF_MODEL]),
        base_url=data.get(CONF_URL) or None,
        api_key=data.get(CONF_API_KEY) or None,
        timeout=float(data.get(CONF_TIMEOUT) or DEFAULT_TIMEOUT_S),
        http_client=get_async_client(hass),
        web_search=bool(data.get(CONF_WEB_SEARCH)),
    )


def candidate_for(hass: HomeAssistant, subentry: ConfigSubentry) -> Candidate:
    """A routing candidate for one provider subentry."""
    kind = ProviderKind(subentry.data[CONF_KIND])
    # A model that searches the web answers fresh facts (T2f), whatever its kind.
    tier = Tier.FRESH if subentry.data.get(CONF_WEB_SEARCH) else TIER_OF_KIND[kind]
    return Candidate(
        tier=tier,
        name=subentry.title,
        provider=build_provider(hass, subentry.data),
        price=price_of(subentry.data),
        local=kind in LOCAL_KINDS,
        # A web search needs neither the home's prompt nor its tools (see Candidate.lean).
        lean=tier is Tier.FRESH,
    )


def bundled_candidate(hass: HomeAssistant, entry_data: Mapping[str, Any]) -> Candidate:
    """The add-on's bundled model, served OpenAI-compatibly behind the add-on's own token."""
    provider = create_provider(
        ProviderKind.OPENAI_COMPATIBLE,
        model=BUNDLED_MODEL_NAME,
        base_url=f"{entry_data[CONF_URL]}/api/v1/llm/v1",
        api_key=entry_data[CONF_API_TOKEN],
        timeout=DEFAULT_TIMEOUT_S,
        http_client=get_async_client(hass),
    )
    # SmolLM2-135M cannot call tools (it invents entities such as "namen"), drifts into
    # repetition past ~100 tokens, and its logprobs describe its greedy answer: so no tools, a
    # short cap and temperature 0 (benchmarks/routing_suite.py --real-t1 measures it).
    return Candidate(
        tier=Tier.LOCAL_MODEL,
        name=BUNDLED_CANDIDATE_NAME,
        provider=provider,
        price=Price(),
        local=True,
        tools=False,
        max_output_tokens=BUNDLED_MAX_OUTPUT_TOKENS,
        temperature=BUNDLED_TEMPERATURE,
    )


def provider_subentries(subentries: Mapping[str, ConfigSubentry]) -> list[ConfigSubentry]:
    """Provider subentries in the order they were added."""
    return [s for s in subentries.values() if s.subentry_type == SUBENTRY_PROVIDER]


async def async_import_provider_sdks(hass: HomeAssistant, kinds: Iterable[Any]) -> None:
    """Import the provider modules (and their SDKs) of these kinds in HA's import executor.

    create_provider imports them on first use; a first import of openai or anthropic reads
    hundreds of files, which HA flags (and users see as a bug) when it happens in the event loop.
    Unknown kinds are skipped: building that provider reports them.
    """
    names = set()
    for kind in kinds:
        try:
            names.add(MODULES[ProviderKind(kind)])
        except ValueError:
            continue
    for name in sorted(names):
        await hass.async_add_import_executor_job(
            importlib.import_module, name, provider_package.__name__
        )


async def validate_provider(hass: HomeAssistant, data: Mapping[str, Any]) -> dict[str, str]:
    """Ask the provider for one token; map failures to form errors (empty dict: fine)."""
    await async_import_provider_sdks(hass, [data.get(CONF_KIND)])
    try:
        provider = build_provider(hass, data)
    except (ValueError, ProviderError) as err:
        LOGGER.debug("Cannot build provider: %s", err)
        return {"base": "invalid_config"}
    try:
        await provider.complete(
            CompletionRequest(
                messages=(Message(role="user", content="Reply with OK."),),
                max_output_tokens=1,
                timeout_s=float(data.get(CONF_TIMEOUT) or DEFAULT_TIMEOUT_S),
            )
        )
    except ProviderAuthError:
        return {CONF_API_KEY: "invalid_auth"}
    except ProviderRequestError as err:
        if _OUT_OF_TOKENS in str(err).lower():
            return {}
        LOGGER.debug("Provider refused the check: %s", err)
        return {CONF_MODEL: "invalid_model"}
    except ProviderRateLimitError as err:
        LOGGER.debug("Provider check rate-limited: %s", err)
        return {"base": "rate_limited"}
    except ProviderError as err:
        LOGGER.debug("Provider check failed: %s", err)
        return {"base": "cannot_connect"}
    except Exception:  # noqa: BLE001 - a provider bug becomes the form's `unknown` error
        LOGGER.exception("Unexpected error while checking a %s provider", data[CONF_KIND])
        return {"base": "unknown"}
    finally:
        await provider.close()
    return {}
