"""Provider and conversation-agent subentry flows, through HA's real subentry flow manager.

The parent entry is set up against the real add-on worker; each provider kind's one-token check
goes through its official SDK to a loopback server that speaks that provider's wire format.
Every form shown is also serialised the way HA's flow view does for the frontend.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
import json
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState, ConfigSubentry
from homeassistant.const import CONF_API_KEY, CONF_LLM_HASS_API, CONF_NAME, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
    llm,
)
from homeassistant.helpers.translation import async_get_translations
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import voluptuous_serialize

from custom_components.jarvis.const import (
    CONF_API_TOKEN,
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
    CONF_TIERS,
    CONF_TIMEOUT,
    CONF_WEB_SEARCH,
    DOMAIN,
    RECOMMENDED_CONVERSATION,
    SUBENTRY_AI_TASK,
    SUBENTRY_CONVERSATION,
    SUBENTRY_PROVIDER,
)
from custom_components.jarvis.router.types import ProviderKind, Tier
from tests.support.fake_providers import (
    anthropic as ant,
    gemini as gem,
    ollama as oll,
    openai as oai,
    perplexity as ppx,
)
from tests.support.fake_providers.base import FakeServer, Recorded, Reply, refused_url, slow_reply
from tests.support.jarvis_entry import async_setup_jarvis
from tests.support.mosquitto import free_port
from tests.support.worker import Worker

from .routing_helpers import agent, provider

# --- one table per provider kind: its server, its wire format, its realistic failures ----------


@dataclass(frozen=True)
class Kind:
    """How one provider kind is reached, answers, fails, and what its check request looks like."""

    kind: str
    server: Callable[[], FakeServer]
    url: Callable[[FakeServer], str]  # what the user types into the URL field
    path: Callable[[str], str]  # the check request's path, for a model
    ok: Reply  # a one-token answer
    auth_error: Reply
    model_error: Reply
    down: Reply  # the provider's own 5xx
    tokens: Callable[[Recorded], Any]  # the output-token limit the check asked for
    model: Callable[[Recorded], Any]  # the model the check asked for
    key: Callable[[Recorded], str | None]  # the API key as sent
    local: bool = False


def _header(request: Recorded, name: str) -> str | None:
    """A request header, by any spelling of its name."""
    return next((v for k, v in request.headers.items() if k.lower() == name.lower()), None)


def _bearer(request: Recorded) -> str | None:
    value = _header(request, "Authorization")
    return value.removeprefix("Bearer ") if value else None


KINDS = [
    Kind(
        kind="ollama",
        server=oll.OllamaServer,
        url=lambda s: s.url,
        path=lambda _model: oll.CHAT_PATH,
        ok=Reply(json=oll.chat("OK", done_reason="length", eval_count=1)),
        auth_error=oll.error_reply(401, "unauthorized"),
        model_error=oll.error_reply(404, 'model "no-such-model" not found, try pulling it first'),
        down=oll.error_reply(500, "llama runner process has terminated: signal: killed"),
        tokens=lambda r: r.json["options"]["num_predict"],
        model=lambda r: r.json["model"],
        key=_bearer,
        local=True,
    ),
    Kind(
        kind="openai_compatible",
        server=oai.OpenAIServer,
        url=lambda s: f"{s.url}/v1",
        path=lambda _model: oai.CHAT_PATH,
        ok=Reply(json=oai.completion("OK", finish_reason="length")),
        auth_error=oai.error_reply(401, "Invalid API Key", "authentication_error"),
        model_error=oai.error_reply(404, "model 'no-such-model' not found", "not_found_error"),
        down=oai.error_reply(503, "Loading model", "unavailable_error"),
        tokens=lambda r: r.json["max_tokens"],
        model=lambda r: r.json["model"],
        key=_bearer,
        local=True,
    ),
    Kind(
        kind="openai",
        server=oai.OpenAIServer,
        url=lambda s: f"{s.url}/v1",
        path=lambda _model: oai.CHAT_PATH,
        ok=Reply(json=oai.completion("OK", finish_reason="length")),
        auth_error=oai.error_reply(
            401, "Incorrect API key provided: sk-bad.", "invalid_request_error", "invalid_api_key"
        ),
        model_error=oai.error_reply(
            404,
            "The model `no-such-model` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        down=oai.error_reply(
            500, "The server had an error processing your request.", "server_error"
        ),
        tokens=lambda r: r.json["max_completion_tokens"],
        model=lambda r: r.json["model"],
        key=_bearer,
    ),
    Kind(
        kind="anthropic",
        server=ant.AnthropicServer,
        url=lambda s: s.url,
        path=lambda _model: ant.MESSAGES_PATH,
        ok=Reply(json=ant.message([ant.text_block("OK")], stop_reason="max_tokens")),
        auth_error=ant.error_reply(401, "authentication_error", "invalid x-api-key"),
        model_error=ant.error_reply(404, "not_found_error", "model: no-such-model"),
        down=ant.error_reply(529, "overloaded_error", "Overloaded"),
        tokens=lambda r: r.json["max_tokens"],
        model=lambda r: r.json["model"],
        key=lambda r: _header(r, "x-api-key"),
    ),
    Kind(
        kind="gemini",
        server=gem.GeminiServer,
        url=lambda s: s.url,
        path=gem.generate_path,
        ok=Reply(json=gem.response([gem.text_part("OK")], finish_reason="MAX_TOKENS")),
        # Google answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
        auth_error=gem.error_reply(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            reason="API_KEY_INVALID",
        ),
        model_error=gem.error_reply(
            404, "NOT_FOUND", "models/no-such-model is not found for API version v1beta"
        ),
        down=gem.error_reply(
            503, "UNAVAILABLE", "The model is overloaded. Please try again later."
        ),
        tokens=lambda r: r.json["generationConfig"]["maxOutputTokens"],
        model=lambda r: r.path.removeprefix("/v1beta/models/").removesuffix(":generateContent"),
        key=lambda r: _header(r, "x-goog-api-key"),
    ),
    Kind(
        kind="perplexity",
        server=ppx.PerplexityServer,
        url=lambda s: s.url,
        path=lambda _model: ppx.RESPONSES_PATH,
        ok=Reply(json=ppx.response([ppx.message_item("OK")])),
        auth_error=ppx.error_reply(401, "Invalid API key provided.", "authentication_error"),
        model_error=ppx.error_reply(400, "Invalid model 'no-such-model'", "invalid_request_error"),
        down=ppx.error_reply(500, "Internal server error", "internal_server_error"),
        tokens=lambda r: r.json["max_output_tokens"],
        model=lambda r: r.json.get("preset") or r.json.get("model"),
        key=_bearer,
    ),
]
KIND_IDS = [k.kind for k in KINDS]
DEFAULT_MODELS = {
    "ollama": "qwen3:4b",
    "openai_compatible": "local-model",
    "openai": "gpt-5-nano",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
    "perplexity": "fast-search",
}


@pytest.fixture
async def servers() -> AsyncGenerator[dict[str, FakeServer]]:
    """One running server per provider kind."""
    started = {k.kind: await k.server().start() for k in KINDS}
    yield started
    for server in started.values():
        await server.stop()


# --- helpers --------------------------------------------------------------------------------


async def _loaded_entry(
    hass: HomeAssistant, worker: Worker, subentries: list[dict[str, Any]] | None = None
) -> MockConfigEntry:
    entry = await async_setup_jarvis(hass, worker, subentries or [])
    assert entry.state is ConfigEntryState.LOADED
    return entry


@pytest.fixture
async def jarvis(hass: HomeAssistant, session_worker: Worker) -> MockConfigEntry:
    """A loaded Jarvis entry without subentries."""
    return await _loaded_entry(hass, session_worker)


def _serialised(result: Any) -> list[dict[str, Any]]:
    """The form's schema as HA's flow view sends it to the frontend (and as JSON)."""
    fields = voluptuous_serialize.convert(
        result["data_schema"], custom_serializer=cv.custom_serializer
    )
    assert isinstance(fields, list)
    json.dumps(fields)
    return fields


def _form(result: Any, step_id: str, errors: dict[str, str] | None = None) -> dict[str, Any]:
    """Assert a form is shown (and serialisable); its fields by name."""
    assert result["type"] is FlowResultType.FORM, result
    assert result["step_id"] == step_id
    assert (result["errors"] or {}) == (errors or {})
    return {field["name"]: field for field in _serialised(result)}


def _prefill(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the frontend puts in the form (computeInitialHaFormData: suggested, else default)."""
    values: dict[str, Any] = {}
    for name, field in fields.items():
        suggested = (field.get("description") or {}).get("suggested_value")
        if suggested is not None:
            values[name] = suggested
        elif "default" in field:
            values[name] = field["default"]
    return values


async def _provider_form(
    hass: HomeAssistant, entry: MockConfigEntry, kind: str, name: str | None = None
) -> Any:
    """Start a provider flow and pick the kind: the connection form."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_PROVIDER), context={"source": SOURCE_USER}
    )
    fields = _form(result, "user")
    assert set(fields) == {CONF_KIND, CONF_NAME}
    assert fields[CONF_KIND]["selector"]["select"]["options"] == [k.value for k in ProviderKind]
    assert fields[CONF_KIND]["required"] is True
    user_input = {CONF_KIND: kind}
    if name is not None:
        user_input[CONF_NAME] = name
    return await _submit(hass, result, user_input)


def _connection(spec: Kind, server: FakeServer, **overrides: Any) -> dict[str, Any]:
    values = {
        CONF_URL: spec.url(server),
        CONF_API_KEY: f"key-{spec.kind}",
        CONF_MODEL: "shop-model",
        CONF_PRICE_INPUT: 0.3,
        CONF_PRICE_OUTPUT: 2.5,
        CONF_PRICE_CACHED_INPUT: 0.03,
        CONF_PRICE_PER_REQUEST: 0.0,
        CONF_TIMEOUT: 10,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


async def _submit(hass: HomeAssistant, result: Any, user_input: dict[str, Any]) -> Any:
    """Submit a form; wait for whatever it set off (a new or changed subentry reloads the entry)."""
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)
    await hass.async_block_till_done()
    return result


def _provider_subentries(entry: MockConfigEntry) -> list[ConfigSubentry]:
    return [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_PROVIDER]


# --- provider flow: success for every kind --------------------------------------------------


@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("name", ["Workshop model", None], ids=["named", "default-name"])
async def test_provider_created_after_a_one_token_check(
    hass: HomeAssistant,
    jarvis: MockConfigEntry,
    servers: dict[str, FakeServer],
    spec: Kind,
    name: str | None,
) -> None:
    server = servers[spec.kind]
    result = await _provider_form(hass, jarvis, spec.kind, name)
    fields = _form(result, "connection")
    assert result["description_placeholders"] == {"kind": spec.kind}
    assert fields[CONF_MODEL]["default"] == DEFAULT_MODELS[spec.kind]
    assert fields[CONF_URL]["required"] is spec.local  # clouds have an official endpoint
    assert fields[CONF_API_KEY]["required"] is not spec.local
    assert fields[CONF_API_KEY]["selector"]["text"]["type"] == "password"
    assert fields[CONF_TIMEOUT]["default"] == 30.0

    server.script(spec.path("shop-model"), spec.ok)
    user_input = _connection(spec, server)
    result = await _submit(hass, result, user_input)

    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    expected_title = name or f"{spec.kind} shop-model"
    assert result["title"] == expected_title
    (subentry,) = _provider_subentries(jarvis)
    assert subentry.title == expected_title
    assert dict(subentry.data) == {CONF_KIND: spec.kind, **user_input}
    # The check really reached the provider: one request, one token, the model and key typed.
    (request,) = server.requests_to(spec.path("shop-model"))
    assert spec.tokens(request) == 1
    assert spec.model(request) == "shop-model"
    assert spec.key(request) == f"key-{spec.kind}"


async def test_gemini_grounded_in_google_search_is_the_fresh_facts_tier(
    hass: HomeAssistant, jarvis: MockConfigEntry, servers: dict[str, FakeServer]
) -> None:
    """Only Gemini offers the web search switch; on, its check searches and it serves T2f."""
    for kind in ("openai", "anthropic", "perplexity", "ollama"):
        result = await _provider_form(hass, jarvis, kind)
        assert CONF_WEB_SEARCH not in _form(result, "connection")
        hass.config_entries.subentries.async_abort(result["flow_id"])
    spec = next(k for k in KINDS if k.kind == "gemini")
    server = servers["gemini"]
    result = await _provider_form(hass, jarvis, "gemini", "Gemini search")
    fields = _form(result, "connection")
    assert fields[CONF_WEB_SEARCH]["default"] is False
    assert "boolean" in fields[CONF_WEB_SEARCH]["selector"]
    server.script(spec.path("shop-model"), spec.ok)
    result = await _submit(hass, result, _connection(spec, server, **{CONF_WEB_SEARCH: True}))
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    (subentry,) = _provider_subentries(jarvis)
    assert subentry.data[CONF_WEB_SEARCH] is True
    (check,) = server.requests_to(spec.path("shop-model"))
    assert {"googleSearch": {}} in check.json["tools"]
    candidate = jarvis.runtime_data.candidates.candidate(subentry)
    assert candidate.tier is Tier.FRESH and candidate.lean
    # Switched off again (reconfigure): a plain cloud model, the setting gone from its data.
    result = await jarvis.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    fields = _form(result, "connection")
    assert fields[CONF_WEB_SEARCH]["default"] is True
    server.script(spec.path("shop-model"), spec.ok)
    result = await _submit(hass, result, {**_prefill(fields), CONF_WEB_SEARCH: False})
    assert result["reason"] == "reconfigure_successful"
    (subentry,) = _provider_subentries(jarvis)
    assert CONF_WEB_SEARCH not in subentry.data
    assert "tools" not in server.requests_to(spec.path("shop-model"))[-1].json
    assert jarvis.runtime_data.candidates.candidate(subentry).tier is Tier.CLOUD


async def test_local_provider_without_api_key(
    hass: HomeAssistant, jarvis: MockConfigEntry, servers: dict[str, FakeServer]
) -> None:
    """A local server needs no key: none is stored and none is sent."""
    spec = KINDS[0]
    server = servers["ollama"]
    server.script(oll.CHAT_PATH, spec.ok)
    result = await _provider_form(hass, jarvis, "ollama")
    user_input = _connection(spec, server, **{CONF_API_KEY: None, CONF_MODEL: "qwen3:4b"})
    result = await _submit(hass, result, user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_API_KEY not in result["data"]
    assert _header(server.last, "Authorization") is None


async def test_provider_url_and_text_are_normalised(
    hass: HomeAssistant, jarvis: MockConfigEntry, servers: dict[str, FakeServer]
) -> None:
    """`host:port/v1/` with stray spaces is stored as http://host:port/v1; name and key trimmed."""
    spec = KINDS[1]
    server = servers["openai_compatible"]
    server.script(oai.CHAT_PATH, spec.ok)
    result = await _provider_form(hass, jarvis, "openai_compatible", "  Bench llama  ")
    typed = _connection(
        spec,
        server,
        **{
            CONF_URL: f" 127.0.0.1:{server.port}/v1/ ",
            CONF_API_KEY: " key-x ",
            CONF_MODEL: " shop-model ",
        },
    )
    result = await _submit(hass, result, typed)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["title"] == "Bench llama"
    assert result["data"][CONF_URL] == f"http://127.0.0.1:{server.port}/v1"
    assert result["data"][CONF_API_KEY] == "key-x"
    assert result["data"][CONF_MODEL] == "shop-model"
    assert _bearer(server.last) == "key-x"


async def test_cloud_provider_without_url_uses_official_endpoint(
    hass: HomeAssistant, jarvis: MockConfigEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No URL typed (or a cleared one) is stored as no URL at all: the SDK's official endpoint."""
    # The official endpoint is unreachable here; intercept the check where it leaves Jarvis.
    seen: list[dict[str, Any]] = []

    async def check(_hass: HomeAssistant, data: dict[str, Any]) -> dict[str, str]:
        seen.append(dict(data))
        return {}

    monkeypatch.setattr("custom_components.jarvis.subentry_flow.validate_provider", check)
    result = await _provider_form(hass, jarvis, "anthropic")
    user_input = _connection(KINDS[3], KINDS[3].server(), **{CONF_URL: "  "})
    result = await _submit(hass, result, user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_URL not in result["data"]
    assert seen == [result["data"]]


# --- provider flow: failures ----------------------------------------------------------------


@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(
    ("failure", "errors"),
    [
        ("auth_error", {CONF_API_KEY: "invalid_auth"}),
        ("model_error", {CONF_MODEL: "invalid_model"}),
        ("down", {"base": "cannot_connect"}),
    ],
    ids=["auth", "model", "down"],
)
async def test_provider_check_failure_keeps_input_and_recovers(
    hass: HomeAssistant,
    jarvis: MockConfigEntry,
    servers: dict[str, FakeServer],
    *,
    spec: Kind,
    failure: str,
    errors: dict[str, str],
) -> None:
    """The error lands on the right field, the form shows what was typed, a retry succeeds."""
    server = servers[spec.kind]
    server.script(spec.path("shop-model"), getattr(spec, failure), spec.ok)
    result = await _provider_form(hass, jarvis, spec.kind, "Mine")
    user_input = _connection(spec, server)
    result = await _submit(hass, result, user_input)
    fields = _form(result, "connection", errors)
    switch = {CONF_WEB_SEARCH: False} if spec.kind == "gemini" else {}  # shown, left off
    assert _prefill(fields) == {**user_input, **switch}
    assert _provider_subentries(jarvis) == []

    result = await _submit(hass, result, _prefill(fields))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert len(server.requests_to(spec.path("shop-model"))) == 2


@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
async def test_provider_refused_is_cannot_connect(
    hass: HomeAssistant, jarvis: MockConfigEntry, spec: Kind
) -> None:
    result = await _provider_form(hass, jarvis, spec.kind)
    user_input = {**_connection(spec, spec.server()), CONF_URL: refused_url()}
    result = await _submit(hass, result, user_input)
    _form(result, "connection", {"base": "cannot_connect"})


@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
async def test_provider_timeout_is_cannot_connect(
    hass: HomeAssistant, jarvis: MockConfigEntry, servers: dict[str, FakeServer], spec: Kind
) -> None:
    """The check honours the provider's configured timeout (1 s here; the server takes 5)."""
    server = servers[spec.kind]
    server.script(spec.path("shop-model"), slow_reply(5.0))
    result = await _provider_form(hass, jarvis, spec.kind)
    user_input = _connection(spec, server, **{CONF_TIMEOUT: 1})
    loop = hass.loop
    started = loop.time()
    result = await _submit(hass, result, user_input)
    _form(result, "connection", {"base": "cannot_connect"})
    assert loop.time() - started < 4.0


async def test_openai_reasoning_model_out_of_tokens_is_accepted(
    hass: HomeAssistant, jarvis: MockConfigEntry, servers: dict[str, FakeServer]
) -> None:
    """GPT-5 models may refuse a one-token budget with a 400; key and model were accepted."""
    spec = KINDS[2]
    server = servers["openai"]
    server.script(
        oai.CHAT_PATH,
        oai.error_reply(
            400,
            "Could not finish the message because max_tokens or model output limit was "
            "reached. Please try again with higher max_tokens.",
            "invalid_request_error",
        ),
    )
    result = await _provider_form(hass, jarvis, "openai")
    user_input = _connection(spec, server, **{CONF_MODEL: "gpt-5-nano"})
    result = await _submit(hass, result, user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result


async def test_openai_quota_exhausted_is_rate_limited(
    hass: HomeAssistant, jarvis: MockConfigEntry, servers: dict[str, FakeServer]
) -> None:
    """A new account without credit gets 429 insufficient_quota: not a connection problem."""
    server = servers["openai"]
    server.script(
        oai.CHAT_PATH,
        oai.error_reply(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
    )
    result = await _provider_form(hass, jarvis, "openai")
    result = await _submit(hass, result, _connection(KINDS[2], server))
    _form(result, "connection", {"base": "rate_limited"})


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("ollama", "   "),
        ("ollama", "http://[::1"),  # the ollama SDK raised a bare ValueError: the flow crashed
        ("ollama", "http://127.0.0.1:99999"),
        ("openai_compatible", "http://[::1"),  # httpx.InvalidURL while building: a crash
        ("openai_compatible", "ftp://127.0.0.1:21/v1"),
        ("gemini", "http://127.0.0.1:99999"),  # an ExceptionGroup from the SDK: a crash
        ("openai", "http://user:pass@127.0.0.1:1/v1"),
    ],
)
async def test_provider_invalid_url(
    hass: HomeAssistant,
    jarvis: MockConfigEntry,
    servers: dict[str, FakeServer],
    kind: str,
    url: str,
) -> None:
    """A URL no provider can use is a field error, and nothing is sent anywhere."""
    spec = next(k for k in KINDS if k.kind == kind)
    result = await _provider_form(hass, jarvis, kind)
    user_input = _connection(spec, servers[kind], **{CONF_URL: url})
    result = await _submit(hass, result, user_input)
    _form(result, "connection", {CONF_URL: "invalid_url"})
    assert all(not server.requests for server in servers.values())


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini", "perplexity"])
async def test_cloud_provider_with_blank_key_is_invalid_config(
    hass: HomeAssistant, jarvis: MockConfigEntry, servers: dict[str, FakeServer], kind: str
) -> None:
    """The provider factory refuses a cloud without a key: invalid_config, nothing sent."""
    spec = next(k for k in KINDS if k.kind == kind)
    result = await _provider_form(hass, jarvis, kind)
    user_input = _connection(spec, servers[kind], **{CONF_API_KEY: "  "})
    result = await _submit(hass, result, user_input)
    _form(result, "connection", {"base": "invalid_config"})
    assert not servers[kind].requests


async def test_provider_blank_model(
    hass: HomeAssistant, jarvis: MockConfigEntry, servers: dict[str, FakeServer]
) -> None:
    result = await _provider_form(hass, jarvis, "ollama")
    user_input = _connection(KINDS[0], servers["ollama"], **{CONF_MODEL: " "})
    result = await _submit(hass, result, user_input)
    _form(result, "connection", {CONF_MODEL: "invalid_model"})
    assert not servers["ollama"].requests


# --- provider flow: reconfigure -------------------------------------------------------------


async def test_provider_reconfigure_changes_url_model_prices_and_keeps_kind(
    hass: HomeAssistant, session_worker: Worker, servers: dict[str, FakeServer]
) -> None:
    old, new = servers["ollama"], await oll.OllamaServer().start()
    try:
        entry = await _loaded_entry(
            hass, session_worker, [provider("Shop ollama", "ollama", old.url, model="qwen3:4b")]
        )
        (subentry,) = _provider_subentries(entry)
        result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
        fields = _form(result, "connection")
        # The form shows the stored settings.
        assert _prefill(fields) == {k: v for k, v in subentry.data.items() if k != CONF_KIND}
        assert CONF_KIND not in fields

        new.script(oll.CHAT_PATH, KINDS[0].ok)
        changed = {
            **_prefill(fields),
            CONF_URL: new.url,
            CONF_MODEL: "gemma3:4b",
            CONF_PRICE_INPUT: 0.01,
            CONF_PRICE_CACHED_INPUT: 0.001,
        }
        result = await _submit(hass, result, changed)
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()

        updated = entry.subentries[subentry.subentry_id]
        assert dict(updated.data) == {CONF_KIND: "ollama", **changed}
        assert updated.title == "Shop ollama"  # a name the user chose stays
        assert new.requests_to(oll.CHAT_PATH)[0].json["model"] == "gemma3:4b"
        assert not old.requests_to(oll.CHAT_PATH)
        assert entry.state is ConfigEntryState.LOADED
    finally:
        await new.stop()


async def test_provider_reconfigure_default_title_follows_model(
    hass: HomeAssistant, session_worker: Worker, servers: dict[str, FakeServer]
) -> None:
    server = servers["openai"]
    entry = await _loaded_entry(
        hass,
        session_worker,
        [provider("openai gpt-5-nano", "openai", f"{server.url}/v1", model="gpt-5-nano")],
    )
    (subentry,) = _provider_subentries(entry)
    server.script(oai.CHAT_PATH, KINDS[2].ok)
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    values = {**_prefill(_form(result, "connection")), CONF_MODEL: "gpt-5-mini"}
    result = await _submit(hass, result, values)
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[subentry.subentry_id].title == "openai gpt-5-mini"


async def test_provider_reconfigure_error_keeps_data_and_cleared_fields(
    hass: HomeAssistant, session_worker: Worker, servers: dict[str, FakeServer]
) -> None:
    """A failed check changes nothing stored; the re-shown form keeps a cleared field cleared."""
    server = servers["anthropic"]
    stored = provider("Claude", "anthropic", server.url, model="claude-haiku-4-5")
    stored["data"][CONF_PRICE_CACHED_INPUT] = 0.1
    entry = await _loaded_entry(hass, session_worker, [stored])
    (subentry,) = _provider_subentries(entry)
    before = dict(subentry.data)
    server.script(ant.MESSAGES_PATH, KINDS[3].auth_error)
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    values = _prefill(_form(result, "connection"))
    assert values[CONF_PRICE_CACHED_INPUT] == 0.1
    del values[CONF_PRICE_CACHED_INPUT]  # the user clears it
    values[CONF_API_KEY] = "sk-ant-wrong"
    result = await _submit(hass, result, values)
    fields = _form(result, "connection", {CONF_API_KEY: "invalid_auth"})
    assert _prefill(fields) == values
    assert dict(entry.subentries[subentry.subentry_id].data) == before

    server.script(ant.MESSAGES_PATH, KINDS[3].ok)
    values[CONF_API_KEY] = "sk-ant-right"
    result = await _submit(hass, result, values)
    assert result["reason"] == "reconfigure_successful"
    data = entry.subentries[subentry.subentry_id].data
    assert CONF_PRICE_CACHED_INPUT not in data
    assert data[CONF_API_KEY] == "sk-ant-right"
    assert data[CONF_KIND] == "anthropic"


# --- parent entry not loaded ----------------------------------------------------------------


@pytest.fixture
async def retrying_entry(hass: HomeAssistant) -> MockConfigEntry:
    """An entry whose add-on is down: set-up is retried, the entry is not loaded."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Jarvis",
        data={CONF_URL: f"http://127.0.0.1:{free_port()}", CONF_API_TOKEN: "t"},
        subentries_data=[provider("p", "ollama", "http://127.0.0.1:1"), agent()],
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    return entry


@pytest.mark.parametrize("subentry_type", [SUBENTRY_PROVIDER, SUBENTRY_CONVERSATION])
async def test_entry_not_loaded_aborts(
    hass: HomeAssistant, retrying_entry: MockConfigEntry, subentry_type: str
) -> None:
    result = await hass.config_entries.subentries.async_init(
        (retrying_entry.entry_id, subentry_type), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"
    subentry_id = next(
        s.subentry_id
        for s in retrying_entry.subentries.values()
        if s.subentry_type == subentry_type
    )
    result = await retrying_entry.start_subentry_reconfigure_flow(hass, subentry_id)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"


async def test_entry_not_loaded_after_unload(hass: HomeAssistant, jarvis: MockConfigEntry) -> None:
    assert await hass.config_entries.async_unload(jarvis.entry_id)
    result = await hass.config_entries.subentries.async_init(
        (jarvis.entry_id, SUBENTRY_PROVIDER), context={"source": SOURCE_USER}
    )
    assert result["reason"] == "entry_not_loaded"


# --- conversation flow ----------------------------------------------------------------------


async def _agent_form(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CONVERSATION), context={"source": SOURCE_USER}
    )


async def test_conversation_defaults_are_the_recommended_policy(
    hass: HomeAssistant, jarvis: MockConfigEntry
) -> None:
    fields = _form(await _agent_form(hass, jarvis), "agent")
    assert _prefill(fields) == {
        CONF_NAME: "Jarvis",
        CONF_LLM_HASS_API: [llm.LLM_API_ASSIST],
        **RECOMMENDED_CONVERSATION,
    }
    assert [o["value"] for o in fields[CONF_LLM_HASS_API]["selector"]["select"]["options"]] == [
        api.id for api in llm.async_get_apis(hass)
    ]
    assert fields[CONF_TIERS]["selector"]["select"]["translation_key"] == CONF_TIERS
    assert fields["tier_order"]["selector"]["select"]["options"] == ["local_first", "cloud_first"]
    assert fields[CONF_PROVIDERS]["selector"]["select"]["options"] == []
    assert set(fields) == {
        CONF_NAME,
        CONF_PROMPT,
        CONF_LLM_HASS_API,
        CONF_TIERS,
        "tier_order",
        CONF_PROVIDERS,
        CONF_CONFIDENCE_THRESHOLD,
        CONF_FRESHNESS_ROUTING,
        CONF_MAX_ESCALATIONS,
        CONF_BUDGET_DAILY,
        CONF_BUDGET_MONTHLY,
    }


async def test_ai_task_defaults_have_no_assist_tools(
    hass: HomeAssistant, jarvis: MockConfigEntry
) -> None:
    """An AI task gets the routing policy but neither the agent's name nor Assist's tools."""
    result = await hass.config_entries.subentries.async_init(
        (jarvis.entry_id, SUBENTRY_AI_TASK), context={"source": SOURCE_USER}
    )
    fields = _form(result, "agent")
    assert _prefill(fields) == {CONF_NAME: "Jarvis AI task", **RECOMMENDED_CONVERSATION}
    result = await _submit(hass, result, _prefill(fields))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Jarvis AI task"
    assert CONF_LLM_HASS_API not in result["data"]
    await hass.async_block_till_done()
    assert hass.states.get("ai_task.jarvis_ai_task") is not None


async def test_conversation_created_adds_the_agent_and_removal_drops_it(
    hass: HomeAssistant, jarvis: MockConfigEntry
) -> None:
    """A new agent subentry reloads the entry into a conversation entity; removal takes it away."""
    result = await _agent_form(hass, jarvis)
    values = {
        **_prefill(_form(result, "agent")),
        CONF_NAME: "Shop floor",
        CONF_PROMPT: "You run the {{ 'workshop' }}.",
        CONF_BUDGET_DAILY: 1.5,
    }
    result = await _submit(hass, result, values)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Shop floor"
    assert result["data"] == {
        **RECOMMENDED_CONVERSATION,
        CONF_LLM_HASS_API: [llm.LLM_API_ASSIST],
        CONF_PROMPT: "You run the {{ 'workshop' }}.",
        CONF_BUDGET_DAILY: 1.5,
    }
    await hass.async_block_till_done()

    (subentry,) = (
        s for s in jarvis.subentries.values() if s.subentry_type == SUBENTRY_CONVERSATION
    )
    entity_id = er.async_get(hass).async_get_entity_id("conversation", DOMAIN, subentry.subentry_id)
    assert entity_id == "conversation.shop_floor"
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.attributes["supported_features"] == 1  # CONTROL: it has the Assist API
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, subentry.subentry_id)})
    assert device is not None
    assert device.name == "Shop floor"

    assert hass.config_entries.async_remove_subentry(jarvis, subentry.subentry_id)
    await hass.async_block_till_done()
    assert hass.states.get(entity_id) is None
    assert er.async_get(hass).async_get(entity_id) is None
    assert dr.async_get(hass).async_get_device(identifiers={(DOMAIN, subentry.subentry_id)}) is None
    assert jarvis.state is ConfigEntryState.LOADED


async def test_conversation_without_tools_or_name(
    hass: HomeAssistant, jarvis: MockConfigEntry
) -> None:
    """No Assist API: no key stored (no CONTROL feature); a blank name: the default title."""
    result = await _agent_form(hass, jarvis)
    values = {**_prefill(_form(result, "agent")), CONF_LLM_HASS_API: [], CONF_NAME: "  "}
    result = await _submit(hass, result, values)
    assert result["title"] == "Jarvis"
    assert CONF_LLM_HASS_API not in result["data"]
    assert CONF_NAME not in result["data"]
    await hass.async_block_till_done()
    state = hass.states.get("conversation.jarvis")
    assert state is not None
    assert state.attributes["supported_features"] == 0


async def test_conversation_needs_a_tier(hass: HomeAssistant, jarvis: MockConfigEntry) -> None:
    result = await _agent_form(hass, jarvis)
    values = {
        **_prefill(_form(result, "agent")),
        CONF_TIERS: [],
        CONF_NAME: "Quiet",
        CONF_MAX_ESCALATIONS: 0,
    }
    del values[CONF_LLM_HASS_API]  # the user cleared the tools too
    result = await _submit(hass, result, values)
    fields = _form(result, "agent", {CONF_TIERS: "no_tiers"})
    assert _prefill(fields) == values  # what was chosen, and the cleared tools stay cleared
    assert not [s for s in jarvis.subentries.values() if s.subentry_type == SUBENTRY_CONVERSATION]

    values[CONF_TIERS] = ["t0", "t1"]
    result = await _submit(hass, result, values)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_TIERS] == ["t0", "t1"]
    assert result["data"][CONF_MAX_ESCALATIONS] == 0


async def test_conversation_providers_lists_provider_subentries(
    hass: HomeAssistant, session_worker: Worker
) -> None:
    entry = await _loaded_entry(
        hass,
        session_worker,
        [
            provider("Bench llama", "openai_compatible", "http://127.0.0.1:1/v1"),
            agent(),
            provider("Claude", "anthropic", "http://127.0.0.1:2"),
        ],
    )
    llama, claude = _provider_subentries(entry)
    result = await _agent_form(hass, entry)
    fields = _form(result, "agent")
    assert fields[CONF_PROVIDERS]["selector"]["select"]["options"] == [
        {"label": "Bench llama", "value": llama.subentry_id},
        {"label": "Claude", "value": claude.subentry_id},
    ]
    assert fields[CONF_PROVIDERS]["selector"]["select"]["multiple"] is True
    values = {**_prefill(fields), CONF_NAME: "Cloud only", CONF_PROVIDERS: [claude.subentry_id]}
    result = await _submit(hass, result, values)
    assert result["data"][CONF_PROVIDERS] == [claude.subentry_id]


async def test_conversation_reconfigure_updates_data_and_title(
    hass: HomeAssistant, session_worker: Worker
) -> None:
    entry = await _loaded_entry(
        hass,
        session_worker,
        [
            provider("Bench llama", "openai_compatible", "http://127.0.0.1:1/v1"),
            agent(**{CONF_BUDGET_MONTHLY: 20.0}),
        ],
    )
    (llama,) = _provider_subentries(entry)
    (subentry,) = (s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CONVERSATION)
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    fields = _form(result, "agent")
    assert _prefill(fields) == {**dict(subentry.data), CONF_NAME: "Jarvis"}

    values = {
        **_prefill(fields),
        CONF_NAME: "Night shift",
        CONF_TIERS: ["t0", "t1"],
        CONF_CONFIDENCE_THRESHOLD: 0.8,
        CONF_FRESHNESS_ROUTING: False,
        CONF_PROVIDERS: [llama.subentry_id],
    }
    del values[CONF_BUDGET_MONTHLY]  # the user clears the cap
    result = await _submit(hass, result, values)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    updated = entry.subentries[subentry.subentry_id]
    assert updated.title == "Night shift"
    assert dict(updated.data) == {k: v for k, v in values.items() if k != CONF_NAME}
    assert CONF_BUDGET_MONTHLY not in updated.data
    # The entity survives the reload under its registry id; its device takes the new name.
    entity_id = er.async_get(hass).async_get_entity_id("conversation", DOMAIN, subentry.subentry_id)
    assert entity_id is not None
    assert hass.states.get(entity_id) is not None
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, subentry.subentry_id)})
    assert device is not None
    assert device.name == "Night shift"


async def test_conversation_reconfigure_keeps_title_when_name_blank(
    hass: HomeAssistant, session_worker: Worker
) -> None:
    entry = await _loaded_entry(hass, session_worker, [{**agent(), "title": "Front desk"}])
    (subentry,) = entry.subentries.values()
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    values = {**_prefill(_form(result, "agent")), CONF_NAME: ""}
    result = await _submit(hass, result, values)
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[subentry.subentry_id].title == "Front desk"


async def test_conversation_reconfigure_drops_removed_providers_and_apis(
    hass: HomeAssistant, session_worker: Worker
) -> None:
    """A provider (or LLM API) that is gone is not suggested: the untouched form still submits.

    Before, the stale id was suggested, the frontend sent it back, and the selector refused it.
    """
    entry = await _loaded_entry(
        hass,
        session_worker,
        [
            provider("Bench llama", "openai_compatible", "http://127.0.0.1:1/v1"),
            provider("Claude", "anthropic", "http://127.0.0.1:2"),
            agent(),
        ],
    )
    llama, claude = _provider_subentries(entry)
    (subentry,) = (s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CONVERSATION)
    hass.config_entries.async_update_subentry(
        entry,
        subentry,
        data={
            **subentry.data,
            CONF_PROVIDERS: [llama.subentry_id, claude.subentry_id],
            CONF_LLM_HASS_API: [llm.LLM_API_ASSIST, "uninstalled_api"],
        },
    )
    await hass.async_block_till_done()
    assert hass.config_entries.async_remove_subentry(entry, claude.subentry_id)
    await hass.async_block_till_done()

    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    values = _prefill(_form(result, "agent"))
    assert values[CONF_PROVIDERS] == [llama.subentry_id]
    assert values[CONF_LLM_HASS_API] == [llm.LLM_API_ASSIST]
    result = await _submit(hass, result, values)
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[subentry.subentry_id].data[CONF_PROVIDERS] == [llama.subentry_id]


# --- what the frontend sees -----------------------------------------------------------------


async def test_provider_flow_through_the_frontend_api(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    jarvis: MockConfigEntry,
    servers: dict[str, FakeServer],
) -> None:
    """The whole provider flow over HA's HTTP flow API, as the frontend drives it."""
    assert await async_setup_component(hass, "config", {})
    client = await hass_client()
    base = "/api/config/config_entries/subentries/flow"
    response = await client.post(base, json={"handler": [jarvis.entry_id, SUBENTRY_PROVIDER]})
    assert response.status == 200, await response.text()
    step = await response.json()
    assert step["step_id"] == "user"
    response = await client.post(f"{base}/{step['flow_id']}", json={CONF_KIND: "gemini"})
    assert response.status == 200, await response.text()
    step = await response.json()
    assert step["step_id"] == "connection"
    fields = {f["name"]: f for f in step["data_schema"]}
    assert fields[CONF_PRICE_INPUT]["selector"]["number"]["mode"] == "box"

    server = servers["gemini"]
    server.script(gem.generate_path("gemini-2.5-flash"), KINDS[4].ok)
    user_input = {**_prefill(fields), CONF_URL: server.url, CONF_API_KEY: "AIza-test"}
    response = await client.post(f"{base}/{step['flow_id']}", json=user_input)
    assert response.status == 200, await response.text()
    done = await response.json()
    assert done["type"] == "create_entry"
    assert done["title"] == "gemini gemini-2.5-flash"
    assert _header(server.last, "x-goog-api-key") == "AIza-test"

    await hass.async_block_till_done()  # the new subentry reloads the entry

    # Reconfigure over the same API (the frontend passes the subentry id).
    (subentry,) = _provider_subentries(jarvis)
    response = await client.post(
        base,
        json={"handler": [jarvis.entry_id, SUBENTRY_PROVIDER], "subentry_id": subentry.subentry_id},
    )
    assert response.status == 200, await response.text()
    step = await response.json()
    assert step["step_id"] == "connection"
    fields = {f["name"]: f for f in step["data_schema"]}
    assert _prefill(fields)[CONF_API_KEY] == "AIza-test"


async def test_every_reason_and_field_is_translated(
    hass: HomeAssistant, jarvis: MockConfigEntry
) -> None:
    """Errors, aborts, steps, fields and selector options resolve to English text."""
    config = await async_get_translations(hass, "en", "config_subentries", [DOMAIN])
    selectors = await async_get_translations(hass, "en", "selector", [DOMAIN])
    prefix = f"component.{DOMAIN}.config_subentries"

    def text(key: str) -> str:
        value = config.get(f"{prefix}.{key}")
        assert value, f"missing translation {prefix}.{key}"
        assert "[%key:" not in value
        return value

    provider_errors = {
        "invalid_auth",
        "invalid_model",
        "cannot_connect",
        "invalid_config",
        "invalid_url",
        "rate_limited",
        "unknown",
    }
    for error in provider_errors:
        text(f"provider.error.{error}")
    text("conversation.error.no_tiers")
    for subentry_type in (SUBENTRY_PROVIDER, SUBENTRY_CONVERSATION):
        text(f"{subentry_type}.abort.entry_not_loaded")
        text(f"{subentry_type}.abort.reconfigure_successful")
        text(f"{subentry_type}.entry_type")
        text(f"{subentry_type}.initiate_flow.user")
        text(f"{subentry_type}.initiate_flow.reconfigure")

    result = await _provider_form(hass, jarvis, "ollama")
    for name in _form(result, "connection"):
        text(f"provider.step.connection.data.{name}")
        text(f"provider.step.connection.data_description.{name}")
    assert "{kind}" in text("provider.step.connection.description")
    for name in ("kind", "name"):
        text(f"provider.step.user.data.{name}")
    for name in _form(await _agent_form(hass, jarvis), "agent"):
        text(f"conversation.step.agent.data.{name}")
    for kind in ProviderKind:
        assert selectors.get(f"component.{DOMAIN}.selector.kind.options.{kind.value}")
    for tier in ("t0", "t1", "t2"):
        assert selectors.get(f"component.{DOMAIN}.selector.tiers.options.{tier}")
