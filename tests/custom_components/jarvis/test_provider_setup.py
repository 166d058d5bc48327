"""provider_setup: prices, tiers and candidates from subentries, and the one-token provider check.

Providers are the real SDK-backed ones, talking to loopback servers in each provider's wire format.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
import sys
import threading
from typing import Any

from homeassistant.const import CONF_API_KEY, CONF_URL
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.jarvis import provider_setup
from custom_components.jarvis.const import (
    BUNDLED_MODEL_NAME,
    CONF_API_TOKEN,
    CONF_KIND,
    CONF_MODEL,
    CONF_PRICE_CACHED_INPUT,
    CONF_PRICE_INPUT,
    CONF_PRICE_OUTPUT,
    CONF_PRICE_PER_REQUEST,
    CONF_TIMEOUT,
    DEFAULT_TIMEOUT_S,
    DOMAIN,
)
from custom_components.jarvis.provider_setup import (
    TIER_OF_KIND,
    build_provider,
    bundled_candidate,
    candidate_for,
    price_of,
    provider_subentries,
    validate_provider,
)
from custom_components.jarvis.router.providers import MODULES
from custom_components.jarvis.router.providers.base import Provider
from custom_components.jarvis.router.types import (
    LOCAL_KINDS,
    Completion,
    CompletionRequest,
    Message,
    Price,
    ProviderKind,
    Tier,
)
from tests.support.fake_providers import ollama as oll, openai as oai
from tests.support.fake_providers.base import Reply, malformed_json_reply, refused_url, slow_reply
from tests.support.fake_providers.ollama import OllamaServer
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer

from .routing_helpers import agent, provider

HELLO = CompletionRequest(messages=(Message(role="user", content="hi"),), timeout_s=5.0)


@pytest.fixture
async def server() -> AsyncGenerator[OpenAIServer]:
    """An OpenAI-format server on loopback."""
    started = await OpenAIServer().start()
    yield started
    await started.stop()


def _openai(url: str, **extra: Any) -> dict[str, Any]:
    return {
        CONF_KIND: "openai",
        CONF_URL: url,
        CONF_API_KEY: "sk-check",
        CONF_MODEL: "gpt-5-nano",
        **extra,
    }


# --- prices and tiers -----------------------------------------------------------------------


def test_price_of_reads_every_price() -> None:
    data = {
        CONF_PRICE_INPUT: 1.25,
        CONF_PRICE_OUTPUT: 10,
        CONF_PRICE_CACHED_INPUT: 0.125,
        CONF_PRICE_PER_REQUEST: 0.005,
    }
    assert price_of(data) == Price(
        input_per_mtok=1.25, output_per_mtok=10.0, cached_input_per_mtok=0.125, per_request=0.005
    )
    assert isinstance(price_of(data).output_per_mtok, float)


def test_price_of_cached_input_absent_means_same_as_input() -> None:
    """No cached price: None (the ledger then charges the input price), not a free cache."""
    price = price_of({CONF_PRICE_INPUT: 2.0, CONF_PRICE_OUTPUT: 8.0})
    assert price.cached_input_per_mtok is None
    assert price.per_request == 0.0


def test_price_of_cached_input_zero_stays_zero() -> None:
    """A cache that really is free is 0.0, which must not collapse into None (= input price)."""
    price = price_of({CONF_PRICE_INPUT: 2.0, CONF_PRICE_CACHED_INPUT: 0})
    assert price.cached_input_per_mtok == 0.0
    assert price.cached_input_per_mtok is not None


def test_price_of_missing_or_empty_prices_are_free() -> None:
    assert price_of({}) == Price()
    assert price_of({CONF_PRICE_INPUT: None, CONF_PRICE_OUTPUT: None}) == Price()


def test_every_provider_kind_has_a_tier() -> None:
    """A new ProviderKind without a tier would crash candidate_for() for its subentries."""
    assert set(TIER_OF_KIND) == set(ProviderKind)
    assert TIER_OF_KIND == {
        ProviderKind.OLLAMA: Tier.LOCAL_MODEL,
        ProviderKind.OPENAI_COMPATIBLE: Tier.LOCAL_MODEL,
        ProviderKind.OPENAI: Tier.CLOUD,
        ProviderKind.ANTHROPIC: Tier.CLOUD,
        ProviderKind.GEMINI: Tier.CLOUD,
        ProviderKind.PERPLEXITY: Tier.FRESH,
    }
    # Local kinds (free, never budget-checked) and the local tier are the same set.
    assert {k for k, t in TIER_OF_KIND.items() if t is Tier.LOCAL_MODEL} == LOCAL_KINDS


# --- candidates -----------------------------------------------------------------------------


def _entry(hass: HomeAssistant, subentries: list[dict[str, Any]]) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={CONF_URL: "http://127.0.0.1:1", CONF_API_TOKEN: "t"},
        subentries_data=subentries,
    )
    entry.add_to_hass(hass)
    return entry


async def test_candidate_for_a_cloud_provider(hass: HomeAssistant, server: OpenAIServer) -> None:
    """Tier, name, price and locality come from the subentry; the provider uses its URL and key."""
    entry = _entry(
        hass,
        [provider("gpt", "openai", server.base_url, price_in=1.0, price_out=4.0, model="gpt-x")],
    )
    (subentry,) = entry.subentries.values()
    candidate = candidate_for(hass, subentry)
    assert candidate.tier is Tier.CLOUD
    assert candidate.name == "gpt"
    assert candidate.local is False
    assert candidate.price == Price(input_per_mtok=1.0, output_per_mtok=4.0)
    server.script(CHAT_PATH, Reply(json=oai.completion("hello")))
    try:
        answer = await candidate.provider.complete(HELLO)
    finally:
        await candidate.provider.close()
    assert answer.text == "hello"
    assert server.last.headers["Authorization"] == "Bearer sk-test"
    assert server.last.json["model"] == "gpt-x"


async def test_candidate_for_a_local_provider(hass: HomeAssistant) -> None:
    ollama = await OllamaServer().start()
    try:
        entry = _entry(hass, [provider("shop ollama", "ollama", ollama.url, model="qwen3:4b")])
        (subentry,) = entry.subentries.values()
        candidate = candidate_for(hass, subentry)
        assert candidate.tier is Tier.LOCAL_MODEL
        assert candidate.local is True
        assert candidate.label == "t1 shop ollama"
        ollama.script(oll.CHAT_PATH, Reply(json=oll.chat("hi there")))
        try:
            answer = await candidate.provider.complete(HELLO)
        finally:
            await candidate.provider.close()
        assert answer.text == "hi there"
        assert ollama.requests_to(oll.CHAT_PATH)[0].json["model"] == "qwen3:4b"
    finally:
        await ollama.stop()


async def test_bundled_candidate_uses_the_addon_url_and_token(
    hass: HomeAssistant, server: OpenAIServer
) -> None:
    """The add-on's model is OpenAI-compatible under /api/v1/llm/v1, behind the add-on token."""
    candidate = bundled_candidate(hass, {CONF_URL: server.url, CONF_API_TOKEN: "addon-token"})
    assert candidate.tier is Tier.LOCAL_MODEL
    assert candidate.local is True
    assert candidate.price == Price()
    assert candidate.name == "add-on model"
    path = "/api/v1/llm/v1/chat/completions"
    server.script(path, Reply(json=oai.completion("bundled answer")))
    try:
        answer = await candidate.provider.complete(HELLO)
    finally:
        await candidate.provider.close()
    assert answer.text == "bundled answer"
    (request,) = server.requests_to(path)
    assert request.headers["Authorization"] == "Bearer addon-token"
    assert request.json["model"] == BUNDLED_MODEL_NAME


def test_provider_subentries_filters_and_keeps_order(hass: HomeAssistant) -> None:
    entry = _entry(
        hass,
        [
            provider("b first", "openai", "http://127.0.0.1:1/v1"),
            agent(),
            provider("a second", "ollama", "http://127.0.0.1:2"),
            {**agent(), "title": "Other agent"},
        ],
    )
    assert [s.title for s in provider_subentries(entry.subentries)] == ["b first", "a second"]
    assert provider_subentries({}) == []


def test_build_provider_defaults(hass: HomeAssistant) -> None:
    """No timeout: the default; an empty URL means the official endpoint (no ValueError)."""
    built = build_provider(hass, {**_openai(""), CONF_TIMEOUT: None})
    assert isinstance(built, Provider)
    assert built.kind is ProviderKind.OPENAI
    assert built.model == "gpt-5-nano"
    assert built.timeout == DEFAULT_TIMEOUT_S  # type: ignore[attr-defined]
    assert build_provider(hass, _openai("", **{CONF_TIMEOUT: 7})).timeout == 7.0  # type: ignore[attr-defined]


# --- validate_provider ----------------------------------------------------------------------


async def test_validate_sends_one_token_request(hass: HomeAssistant, server: OpenAIServer) -> None:
    server.script(CHAT_PATH, Reply(json=oai.completion("OK", finish_reason="length")))
    assert await validate_provider(hass, _openai(server.base_url)) == {}
    (request,) = server.requests
    assert request.json["max_completion_tokens"] == 1
    assert request.json["messages"] == [{"role": "user", "content": "Reply with OK."}]
    assert request.headers["Authorization"] == "Bearer sk-check"


@pytest.mark.parametrize(
    ("reply", "errors"),
    [
        (
            oai.error_reply(401, "Incorrect API key provided", "invalid_request_error"),
            {CONF_API_KEY: "invalid_auth"},
        ),
        (
            oai.error_reply(403, "Project does not have access", "invalid_request_error"),
            {CONF_API_KEY: "invalid_auth"},
        ),
        (
            oai.error_reply(
                404,
                "The model `gpt-nope` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            ),
            {CONF_MODEL: "invalid_model"},
        ),
        (
            oai.error_reply(400, "Unsupported parameter: 'x'", "invalid_request_error"),
            {CONF_MODEL: "invalid_model"},
        ),
        (
            oai.error_reply(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            ),
            {"base": "rate_limited"},
        ),
        (
            oai.error_reply(500, "The server had an error", "server_error"),
            {"base": "cannot_connect"},
        ),
        (oai.error_reply(503, "Overloaded", "server_error"), {"base": "cannot_connect"}),
        (malformed_json_reply(), {"base": "cannot_connect"}),
    ],
    ids=["401", "403", "404-model", "400", "429-quota", "500", "503", "malformed"],
)
async def test_validate_maps_errors(
    hass: HomeAssistant, server: OpenAIServer, reply: Reply, errors: dict[str, str]
) -> None:
    server.script(CHAT_PATH, reply)
    assert await validate_provider(hass, _openai(server.base_url)) == errors
    assert len(server.requests) == 1


async def test_validate_accepts_a_reasoning_model_that_ran_out_of_tokens(
    hass: HomeAssistant, server: OpenAIServer
) -> None:
    """GPT-5 models may refuse a one-token budget with this 400: key and model were accepted."""
    server.script(
        CHAT_PATH,
        oai.error_reply(
            400,
            "Could not finish the message because max_tokens or model output limit was reached. "
            "Please try again with higher max_tokens.",
            "invalid_request_error",
        ),
    )
    assert await validate_provider(hass, _openai(server.base_url)) == {}


async def test_validate_accepts_an_empty_answer_cut_at_one_token(
    hass: HomeAssistant, server: OpenAIServer
) -> None:
    """A reasoning model that thought through its one token answers 200, no content, length."""
    body = oai.completion(None, finish_reason="length", usage_body=oai.usage(12, 1, reasoning=1))
    server.script(CHAT_PATH, Reply(json=body))
    assert await validate_provider(hass, _openai(server.base_url)) == {}


async def test_validate_refused_and_timeout(hass: HomeAssistant, server: OpenAIServer) -> None:
    assert await validate_provider(hass, _openai(refused_url() + "/v1")) == {
        "base": "cannot_connect"
    }
    server.script(CHAT_PATH, slow_reply(5.0))
    assert await validate_provider(hass, _openai(server.base_url, **{CONF_TIMEOUT: 0.3})) == {
        "base": "cannot_connect"
    }


@pytest.mark.parametrize(
    "data",
    [
        {CONF_KIND: "openai", CONF_MODEL: "gpt-5-nano"},
        {CONF_KIND: "openai", CONF_MODEL: "gpt-5-nano", CONF_API_KEY: ""},
        {CONF_KIND: "anthropic", CONF_MODEL: "claude-haiku-4-5"},
        {CONF_KIND: "ollama", CONF_MODEL: "qwen3:4b"},
        {CONF_KIND: "openai_compatible", CONF_MODEL: "m", CONF_URL: ""},
    ],
    ids=["openai-no-key", "openai-empty-key", "anthropic-no-key", "ollama-no-url", "compat-no-url"],
)
async def test_validate_settings_that_cannot_make_a_provider(
    hass: HomeAssistant, data: dict[str, Any]
) -> None:
    assert await validate_provider(hass, data) == {"base": "invalid_config"}


class _Spy:
    """A provider stand-in that answers (or fails) as told and records close()."""

    kind = ProviderKind.OPENAI
    model = "spy"

    def __init__(self, error: BaseException | None) -> None:
        self.error = error
        self.requests: list[CompletionRequest] = []
        self.closed = 0

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return Completion(text="OK")

    async def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize(
    ("error", "errors"),
    [
        (None, {}),
        (RuntimeError("a provider bug"), {"base": "unknown"}),
        (ValueError("Invalid IPv6 URL"), {"base": "unknown"}),
    ],
    ids=["ok", "bug", "stray-valueerror"],
)
async def test_validate_closes_the_provider_and_survives_bugs(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException | None,
    errors: dict[str, str],
) -> None:
    """Whatever happens the provider is closed; an unexpected exception is a form error."""
    spy = _Spy(error)
    monkeypatch.setattr(provider_setup, "build_provider", lambda _hass, _data: spy)
    assert await validate_provider(hass, {**_openai("http://x"), CONF_TIMEOUT: 12}) == errors
    assert spy.closed == 1
    (request,) = spy.requests
    assert request.max_output_tokens == 1
    assert request.timeout_s == 12.0


@pytest.mark.parametrize(
    ("reply", "errors"),
    [
        (Reply(json=oai.completion("OK")), {}),
        (oai.error_reply(401, "bad key", "invalid_request_error"), {CONF_API_KEY: "invalid_auth"}),
        (oai.error_reply(500, "boom", "server_error"), {"base": "cannot_connect"}),
    ],
    ids=["ok", "auth", "unavailable"],
)
async def test_validate_closes_the_real_provider(
    hass: HomeAssistant,
    server: OpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    reply: Reply,
    errors: dict[str, str],
) -> None:
    """The SDK-backed provider built for the check is closed after it, however it went."""
    closed: list[Provider] = []
    real = provider_setup.build_provider

    def build_watched(h: HomeAssistant, data: Any) -> Provider:
        made = real(h, data)
        original = made.close

        async def close() -> None:
            closed.append(made)
            await original()

        made.close = close  # type: ignore[method-assign]
        return made

    monkeypatch.setattr(provider_setup, "build_provider", build_watched)
    server.script(CHAT_PATH, reply)
    assert await validate_provider(hass, _openai(server.base_url)) == errors
    assert len(closed) == 1


class _SeeImports:
    """A meta-path finder that only notes which thread imports what (finds nothing itself)."""

    def __init__(self) -> None:
        self.threads: dict[str, str] = {}

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        self.threads.setdefault(name, threading.current_thread().name)


async def test_provider_sdks_are_imported_off_the_event_loop(hass: HomeAssistant) -> None:
    """A first import of an SDK in the event loop is what HA flags as a blocking call."""
    assert set(MODULES) == set(ProviderKind)  # every kind create_provider builds
    name = "custom_components.jarvis.router.providers.gemini"
    saved = sys.modules.pop(name, None)
    seen = _SeeImports()
    sys.meta_path.insert(0, seen)
    try:
        # Unknown kinds (and subentries without one) are skipped, not raised.
        await provider_setup.async_import_provider_sdks(hass, ["gemini", "bogus", None])
        assert name in sys.modules
        assert seen.threads[name] != threading.main_thread().name
        # A provider check imports its kind's module the same way.
        sys.modules.pop(name)
        seen.threads.clear()
        await validate_provider(hass, {CONF_KIND: "gemini", CONF_MODEL: "m", CONF_URL: "x"})
        assert seen.threads[name] != threading.main_thread().name
    finally:
        sys.meta_path.remove(seen)
        if saved is not None:
            sys.modules[name] = saved
