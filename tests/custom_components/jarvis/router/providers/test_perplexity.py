"""The perplexityai SDK's Agent API (/v1/responses) against a loopback server speaking its format."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
import time

import httpx
import pytest

from custom_components.jarvis.router.providers import create_provider
from custom_components.jarvis.router.providers.base import (
    Provider,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from custom_components.jarvis.router.providers.perplexity import engine
from custom_components.jarvis.router.types import (
    Citation,
    Completion,
    CompletionRequest,
    Message,
    ProviderKind,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from tests.support.fake_providers import perplexity as wire
from tests.support.fake_providers.base import (
    Reply,
    collect,
    drain,
    json_reply,
    malformed_json_reply,
    slow_reply,
)
from tests.support.fake_providers.perplexity import RESPONSES_PATH, PerplexityServer

ASK = CompletionRequest(
    messages=(
        Message(role="system", content="Answer briefly, with sources."),
        Message(role="user", content="Who won the F1 race today?"),
    ),
    max_output_tokens=300,
)
TURN_ON = ToolSpec(
    name="HassTurnOn",
    description="Turns on a device",
    parameters={"type": "object", "properties": {"name": {"type": "string"}}},
)
ANSWER = wire.response(
    [
        wire.search_results(
            [("https://news.example/race", "Race report"), ("https://stats.example/f1", "F1 stats")]
        ),
        wire.message_item(
            "Norris won [1].",
            [wire.annotation("https://news.example/race", "Race report", 11, 14)],
        ),
    ],
    usage_body=wire.usage(1200, 40, total_cost=0.00731, cache_read=200),
)


def make(
    base_url: str, model: str = wire.MODEL, timeout: float = 5.0, **kwargs: object
) -> Provider:
    return create_provider(
        ProviderKind.PERPLEXITY,
        model=model,
        base_url=base_url,
        api_key="pplx-test",
        timeout=timeout,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def provider(perplexity_server: PerplexityServer) -> AsyncGenerator[Provider]:
    """A third-party model through the Agent API on the fake server."""
    provider = make(perplexity_server.url)
    yield provider
    await provider.close()


async def test_answer_with_citations_and_reported_cost(
    provider: Provider, perplexity_server: PerplexityServer
) -> None:
    perplexity_server.script(RESPONSES_PATH, json_reply(ANSWER))

    result = await provider.complete(ASK)

    assert provider.kind is ProviderKind.PERPLEXITY
    assert result.text == "Norris won [1]."
    assert result.finish_reason == "stop"
    assert result.citations == (
        Citation(url="https://news.example/race", title="Race report"),
        Citation(url="https://stats.example/f1", title="F1 stats"),
    )
    assert result.usage == Usage(
        input_tokens=1200, output_tokens=40, cached_input_tokens=200, reported_cost_usd=0.00731
    )
    assert result.model == wire.MODEL
    assert result.logprobs is None
    assert result.latency_ms > 0
    request = perplexity_server.last
    assert request.headers["Authorization"] == "Bearer pplx-test"
    body = request.json
    assert body["model"] == wire.MODEL
    assert body["instructions"] == "Answer briefly, with sources."
    assert body["input"] == [
        {"type": "message", "role": "user", "content": "Who won the F1 race today?"}
    ]
    assert body["tools"] == [{"type": "web_search"}]
    assert body["max_output_tokens"] == 300
    assert "preset" not in body
    assert "effort" not in body


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ("fast", {"effort": "fast"}),
        ("low@2026-10-16.0", {"effort": "low@2026-10-16.0"}),
        ("pro-search", {"preset": "pro-search"}),
        ("anthropic/claude-sonnet-4-6", {"model": "anthropic/claude-sonnet-4-6"}),
    ],
)
async def test_engine_choice(
    perplexity_server: PerplexityServer, model: str, field: dict[str, str]
) -> None:
    assert engine(model) == field
    provider = make(perplexity_server.url, model=model)
    perplexity_server.script(RESPONSES_PATH, json_reply(ANSWER))
    try:
        await provider.complete(ASK)
    finally:
        await provider.close()
    body = perplexity_server.last.json
    key, value = next(iter(field.items()))
    assert body[key] == value
    # Effort levels and presets bring their own tools; a bare model needs web_search.
    assert ("tools" in body) == (key == "model")


async def test_stream_yields_deltas_then_one_completion(
    provider: Provider, perplexity_server: PerplexityServer
) -> None:
    perplexity_server.script(
        RESPONSES_PATH,
        wire.stream_reply(
            wire.stream_events(["Norris ", "won ", "[1]."], ANSWER), chunk_delay=0.01
        ),
    )

    deltas, result = await collect(provider.stream(ASK))

    assert deltas == ["Norris ", "won ", "[1]."]
    assert result.text == "".join(deltas)
    assert result.citations[0] == Citation(url="https://news.example/race", title="Race report")
    assert {c.url for c in result.citations} == {
        "https://news.example/race",
        "https://stats.example/f1",
    }
    assert result.usage.reported_cost_usd == 0.00731
    assert result.ttft_ms is not None
    assert 0 < result.ttft_ms < result.latency_ms
    assert perplexity_server.last.json["stream"] is True


async def test_tool_call_round_trip(
    provider: Provider, perplexity_server: PerplexityServer
) -> None:
    perplexity_server.script(
        RESPONSES_PATH,
        json_reply(
            wire.response(
                [wire.function_call_item("call_2", "HassTurnOn", '{"name": "desk lamp"}')],
                status="requires_action",
            )
        ),
    )
    earlier = ToolCall(id="call_1", name="HassTurnOn", arguments={"name": "kitchen"})
    request = CompletionRequest(
        messages=(
            Message(role="system", content="You are Jarvis."),
            Message(role="user", content="Kitchen on"),
            Message(role="assistant", content="Turning it on.", tool_calls=(earlier,)),
            Message(role="tool", tool_call_id="call_1", content='{"ok": true}'),
            Message(role="user", content="And the desk lamp"),
        ),
        tools=(TURN_ON,),
    )

    result = await provider.complete(request)

    assert result.tool_calls == (
        ToolCall(
            id="call_2",
            name="HassTurnOn",
            arguments={"name": "desk lamp"},
            raw_arguments='{"name": "desk lamp"}',
        ),
    )
    assert result.finish_reason == "tool_calls"
    body = perplexity_server.last.json
    assert body["input"] == [
        {"type": "message", "role": "user", "content": "Kitchen on"},
        {"type": "message", "role": "assistant", "content": "Turning it on."},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "HassTurnOn",
            "arguments": '{"name": "kitchen"}',
        },
        {
            "type": "function_call_output",
            "call_id": "call_1",
            "output": '{"ok": true}',
            "name": "HassTurnOn",
        },
        {"type": "message", "role": "user", "content": "And the desk lamp"},
    ]
    assert body["tools"] == [
        {"type": "web_search"},
        {
            "type": "function",
            "name": "HassTurnOn",
            "description": "Turns on a device",
            "parameters": TURN_ON.parameters,
        },
    ]


async def test_malformed_tool_arguments_do_not_raise(
    provider: Provider, perplexity_server: PerplexityServer
) -> None:
    bad = wire.response(
        [wire.function_call_item("call_1", "HassTurnOn", '{"name": ')], status="requires_action"
    )
    perplexity_server.script(
        RESPONSES_PATH, json_reply(bad), wire.stream_reply(wire.stream_events([], bad))
    )

    completed = await provider.complete(ASK)
    _, streamed = await collect(provider.stream(ASK))

    for result in (completed, streamed):
        (call,) = result.tool_calls
        assert call.arguments == {}
        assert call.raw_arguments == '{"name": '
        assert call.parse_error is not None


async def test_structured_output(provider: Provider, perplexity_server: PerplexityServer) -> None:
    schema = {"type": "object", "properties": {"winner": {"type": "string"}}}
    perplexity_server.script(
        RESPONSES_PATH, json_reply(wire.response([wire.message_item('{"winner": "Norris"}')]))
    )
    result = await provider.complete(CompletionRequest(messages=ASK.messages, json_schema=schema))
    assert json.loads(result.text) == {"winner": "Norris"}
    assert perplexity_server.last.json["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema},
    }


async def test_failed_response_is_unavailable(
    provider: Provider, perplexity_server: PerplexityServer
) -> None:
    failed = wire.response(
        [], status="failed", error={"message": "upstream model failed", "code": "500"}
    )
    perplexity_server.script(RESPONSES_PATH, json_reply(failed))
    with pytest.raises(ProviderUnavailableError, match="upstream model failed"):
        await provider.complete(ASK)


async def test_failed_event_inside_stream_is_unavailable(
    provider: Provider, perplexity_server: PerplexityServer
) -> None:
    events = wire.stream_events(["Nor"], ANSWER)
    failed = wire.event(
        {"type": "response.failed", "error": {"message": "search backend down", "code": "503"}}, 99
    )
    perplexity_server.script(RESPONSES_PATH, wire.stream_reply([*events[:-2], failed]))
    seen: list[TextDelta | Completion] = []
    with pytest.raises(ProviderUnavailableError, match="search backend down"):
        await drain(provider.stream(ASK), seen)
    assert seen == [TextDelta("Nor")]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (429, ProviderRateLimitError),
        (500, ProviderUnavailableError),
        (503, ProviderUnavailableError),
        (400, ProviderRequestError),
        (404, ProviderRequestError),
        (422, ProviderRequestError),
    ],
)
async def test_http_errors_map_to_typed_errors(
    provider: Provider,
    perplexity_server: PerplexityServer,
    status: int,
    expected: type[ProviderError],
) -> None:
    perplexity_server.script(
        RESPONSES_PATH,
        wire.error_reply(status, "nope", "api_error"),
        wire.error_reply(status, "nope", "api_error"),
    )
    with pytest.raises(expected):
        await provider.complete(ASK)
    with pytest.raises(expected):
        await collect(provider.stream(ASK))
    assert len(perplexity_server.requests) == 2  # no SDK retries


async def test_slow_answer_times_out(perplexity_server: PerplexityServer) -> None:
    provider = make(perplexity_server.url, timeout=0.3)
    perplexity_server.script(RESPONSES_PATH, slow_reply(5.0))
    try:
        started = time.perf_counter()
        with pytest.raises(ProviderTimeoutError):
            await provider.complete(ASK)
        assert time.perf_counter() - started < 2.0
    finally:
        await provider.close()


async def test_stalled_stream_times_out(
    provider: Provider, perplexity_server: PerplexityServer
) -> None:
    perplexity_server.script(
        RESPONSES_PATH, wire.stream_reply(wire.stream_events(["a", "b"], ANSWER), chunk_delay=5.0)
    )
    with pytest.raises(ProviderTimeoutError):
        await collect(provider.stream(CompletionRequest(messages=ASK.messages, timeout_s=0.4)))


async def test_stream_without_completed_event_is_a_response_error(
    provider: Provider, perplexity_server: PerplexityServer
) -> None:
    events = wire.stream_events(["Norris"], ANSWER)
    perplexity_server.script(RESPONSES_PATH, wire.stream_reply(events[:-1]))
    with pytest.raises(ProviderResponseError):
        await collect(provider.stream(ASK))


@pytest.mark.parametrize(
    "reply",
    [
        malformed_json_reply(),
        json_reply({"id": "resp_1", "output": "not a list", "status": "completed"}),
        Reply(text="<html>Bad gateway</html>", content_type="text/html"),
    ],
    ids=["invalid-json", "wrong-shape", "not-json"],
)
async def test_malformed_body_is_a_response_error(
    provider: Provider, perplexity_server: PerplexityServer, reply: Reply
) -> None:
    perplexity_server.script(RESPONSES_PATH, reply)
    with pytest.raises(ProviderResponseError):
        await provider.complete(ASK)


async def test_injected_http_client_is_used_and_left_open(
    perplexity_server: PerplexityServer,
) -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as shared:
        provider = make(perplexity_server.url, http_client=shared)
        perplexity_server.script(RESPONSES_PATH, json_reply(ANSWER))
        await provider.complete(ASK)
        await provider.close()
        assert seen == [RESPONSES_PATH]
        assert not shared.is_closed


def test_api_key_is_required() -> None:
    with pytest.raises(ValueError, match="API key"):
        create_provider(
            ProviderKind.PERPLEXITY, model="fast", base_url=None, api_key=None, timeout=5
        )
