"""The anthropic SDK's Messages API against a loopback server speaking its wire format."""

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
from custom_components.jarvis.router.types import (
    Completion,
    CompletionRequest,
    Message,
    ProviderKind,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from tests.support.fake_providers import anthropic as wire
from tests.support.fake_providers.anthropic import MESSAGES_PATH, AnthropicServer
from tests.support.fake_providers.base import (
    Reply,
    collect,
    drain,
    json_reply,
    malformed_json_reply,
    slow_reply,
)

TURN_ON = ToolSpec(
    name="HassTurnOn",
    description="Turns on a device",
    parameters={"type": "object", "properties": {"name": {"type": "string"}}},
)
ASK = CompletionRequest(
    messages=(
        Message(role="system", content="You are Jarvis."),
        Message(role="user", content="Hello?"),
    ),
    max_output_tokens=128,
)


def make(server_url: str, timeout: float = 5.0, **kwargs: object) -> Provider:
    return create_provider(
        ProviderKind.ANTHROPIC,
        model="claude-haiku-4-5",
        base_url=server_url,
        api_key="sk-ant-test",
        timeout=timeout,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def provider(anthropic_server: AnthropicServer) -> AsyncGenerator[Provider]:
    """Claude on the fake server."""
    provider = make(anthropic_server.url)
    yield provider
    await provider.close()


async def test_plain_completion(provider: Provider, anthropic_server: AnthropicServer) -> None:
    anthropic_server.script(
        MESSAGES_PATH,
        json_reply(
            wire.message(
                [wire.text_block("Hello "), wire.text_block("there.")],
                usage_body=wire.usage(10, 4, cache_read=100, cache_write=20),
            )
        ),
    )

    result = await provider.complete(ASK)

    assert provider.kind is ProviderKind.ANTHROPIC
    assert result.text == "Hello there."
    assert result.finish_reason == "stop"
    assert result.logprobs is None
    # Uncached input, cache reads and cache writes add up to the whole prompt.
    assert result.usage == Usage(
        input_tokens=130, output_tokens=4, cached_input_tokens=100, cache_write_tokens=20
    )
    assert result.model == "claude-haiku-4-5"
    assert result.latency_ms > 0
    assert result.ttft_ms is None
    request = anthropic_server.last
    assert request.headers["X-Api-Key"] == "sk-ant-test"
    assert "anthropic-version" in {k.lower() for k in request.headers}
    body = request.json
    assert body["system"] == "You are Jarvis."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello?"}]}]
    assert body["max_tokens"] == 128
    assert body["model"] == "claude-haiku-4-5"


async def test_stream_yields_deltas_then_one_completion(
    provider: Provider, anthropic_server: AnthropicServer
) -> None:
    events = wire.stream_events(
        [("text", ["The ", "kitchen ", "light is on."])],
        start_usage=wire.usage(25, 1, cache_read=200),
        output_tokens=9,
    )
    anthropic_server.script(MESSAGES_PATH, wire.stream_reply(events, chunk_delay=0.01))

    deltas, result = await collect(provider.stream(ASK))

    assert deltas == ["The ", "kitchen ", "light is on."]
    assert result.text == "".join(deltas)
    assert result.finish_reason == "stop"
    assert result.usage == Usage(input_tokens=225, output_tokens=9, cached_input_tokens=200)
    assert result.ttft_ms is not None
    assert 0 < result.ttft_ms < result.latency_ms
    assert anthropic_server.last.json["stream"] is True


async def test_tool_call_round_trip(provider: Provider, anthropic_server: AnthropicServer) -> None:
    anthropic_server.script(
        MESSAGES_PATH,
        json_reply(
            wire.message(
                [
                    wire.text_block("Turning it on."),
                    wire.tool_use_block("toolu_2", "HassTurnOn", {"name": "desk lamp"}),
                ],
                stop_reason="tool_use",
            )
        ),
    )
    first = ToolCall(id="toolu_1", name="HassTurnOn", arguments={"name": "kitchen"})
    second = ToolCall(id="toolu_x", name="HassTurnOff", arguments={"name": "hall"})
    request = CompletionRequest(
        messages=(
            Message(role="system", content="You are Jarvis."),
            Message(role="system", content="Be brief."),
            Message(role="user", content="Kitchen on, hall off"),
            Message(role="assistant", content="On it.", tool_calls=(first, second)),
            Message(role="tool", tool_call_id="toolu_1", name="HassTurnOn", content='{"ok": true}'),
            Message(
                role="tool", tool_call_id="toolu_x", name="HassTurnOff", content='{"ok": true}'
            ),
            Message(role="user", content="And the desk lamp"),
        ),
        tools=(TURN_ON,),
    )

    result = await provider.complete(request)

    assert result.text == "Turning it on."
    assert result.tool_calls == (
        ToolCall(
            id="toolu_2",
            name="HassTurnOn",
            arguments={"name": "desk lamp"},
            raw_arguments='{"name": "desk lamp"}',
        ),
    )
    assert result.finish_reason == "tool_calls"
    body = anthropic_server.last.json
    assert body["system"] == "You are Jarvis.\n\nBe brief."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Kitchen on, hall off"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "On it."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "HassTurnOn",
                    "input": {"name": "kitchen"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_x",
                    "name": "HassTurnOff",
                    "input": {"name": "hall"},
                },
            ],
        },
        {
            # Both results and the next user text in one user turn.
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"ok": true}'},
                {"type": "tool_result", "tool_use_id": "toolu_x", "content": '{"ok": true}'},
                {"type": "text", "text": "And the desk lamp"},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "name": "HassTurnOn",
            "description": "Turns on a device",
            "input_schema": TURN_ON.parameters,
        }
    ]


async def test_stream_assembles_tool_input(
    provider: Provider, anthropic_server: AnthropicServer
) -> None:
    events = wire.stream_events(
        [
            ("text", ["Sure."]),
            ("tool_use", "toolu_1", "HassTurnOn", ['{"na', 'me": "kit', 'chen"}']),
            ("tool_use", "toolu_2", "HassTurnOff", []),
        ],
        stop_reason="tool_use",
    )
    anthropic_server.script(MESSAGES_PATH, wire.stream_reply(events))

    deltas, result = await collect(
        provider.stream(CompletionRequest(messages=ASK.messages, tools=(TURN_ON,)))
    )

    assert deltas == ["Sure."]
    assert [(c.id, c.name, c.arguments, c.parse_error) for c in result.tool_calls] == [
        ("toolu_1", "HassTurnOn", {"name": "kitchen"}, None),
        ("toolu_2", "HassTurnOff", {}, None),
    ]
    assert result.finish_reason == "tool_calls"


async def test_malformed_streamed_tool_input_does_not_raise(
    provider: Provider, anthropic_server: AnthropicServer
) -> None:
    events = wire.stream_events(
        [("tool_use", "toolu_1", "HassTurnOn", ['{"name": ', '"kitchen"'])],
        stop_reason="tool_use",
    )
    anthropic_server.script(MESSAGES_PATH, wire.stream_reply(events))

    _, result = await collect(provider.stream(ASK))

    (call,) = result.tool_calls
    assert call.name == "HassTurnOn"
    assert call.arguments == {}
    assert call.raw_arguments == '{"name": "kitchen"'
    assert call.parse_error is not None
    assert "not valid JSON" in call.parse_error


async def test_structured_output_is_a_forced_tool(
    provider: Provider, anthropic_server: AnthropicServer
) -> None:
    schema = {"type": "object", "properties": {"color": {"type": "string"}}}
    anthropic_server.script(
        MESSAGES_PATH,
        json_reply(
            wire.message(
                [wire.tool_use_block("toolu_s", "structured_output", {"color": "red"})],
                stop_reason="tool_use",
            )
        ),
        wire.stream_reply(
            wire.stream_events(
                [("tool_use", "toolu_t", "structured_output", ['{"color": ', '"blue"}'])],
                stop_reason="tool_use",
            )
        ),
    )
    request = CompletionRequest(messages=ASK.messages, json_schema=schema)

    result = await provider.complete(request)
    deltas, streamed = await collect(provider.stream(request))

    assert json.loads(result.text) == {"color": "red"}
    assert result.tool_calls == ()
    assert result.finish_reason == "stop"
    assert json.loads(streamed.text) == {"color": "blue"}
    assert "".join(deltas) == streamed.text
    body = anthropic_server.requests[0].json
    assert body["tool_choice"] == {"type": "tool", "name": "structured_output"}
    assert body["tools"][-1]["input_schema"] == schema


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (401, "authentication_error", ProviderAuthError),
        (403, "permission_error", ProviderAuthError),
        (429, "rate_limit_error", ProviderRateLimitError),
        (500, "api_error", ProviderUnavailableError),
        (529, "overloaded_error", ProviderUnavailableError),
        (400, "invalid_request_error", ProviderRequestError),
        (404, "not_found_error", ProviderRequestError),
        (413, "request_too_large", ProviderRequestError),
    ],
)
async def test_http_errors_map_to_typed_errors(
    provider: Provider,
    anthropic_server: AnthropicServer,
    status: int,
    error_type: str,
    expected: type[ProviderError],
) -> None:
    anthropic_server.script(
        MESSAGES_PATH,
        wire.error_reply(status, error_type, "nope"),
        wire.error_reply(status, error_type, "nope"),
    )

    with pytest.raises(expected):
        await provider.complete(ASK)
    with pytest.raises(expected):
        await collect(provider.stream(ASK))
    assert len(anthropic_server.requests) == 2  # no SDK retries


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [
        ("overloaded_error", ProviderUnavailableError),
        ("rate_limit_error", ProviderRateLimitError),
        ("invalid_request_error", ProviderRequestError),
    ],
)
async def test_error_event_inside_stream(
    provider: Provider,
    anthropic_server: AnthropicServer,
    error_type: str,
    expected: type[ProviderError],
) -> None:
    events = wire.stream_events([("text", ["Hel", "lo"])])
    anthropic_server.script(
        MESSAGES_PATH,
        wire.stream_reply([*events[:4], wire.error_event(error_type, "mid-stream failure")]),
    )
    seen: list[TextDelta | Completion] = []
    with pytest.raises(expected):
        await drain(provider.stream(ASK), seen)
    assert seen == [TextDelta("Hel")]


async def test_slow_answer_times_out(anthropic_server: AnthropicServer) -> None:
    provider = make(anthropic_server.url, timeout=0.3)
    anthropic_server.script(MESSAGES_PATH, slow_reply(5.0))
    started = time.perf_counter()
    try:
        with pytest.raises(ProviderTimeoutError):
            await provider.complete(ASK)
    finally:
        await provider.close()
    assert time.perf_counter() - started < 2.0


async def test_stalled_stream_times_out(
    provider: Provider, anthropic_server: AnthropicServer
) -> None:
    events = wire.stream_events([("text", ["one", "two"])])
    anthropic_server.script(MESSAGES_PATH, wire.stream_reply(events, chunk_delay=5.0))
    with pytest.raises(ProviderTimeoutError):
        await collect(provider.stream(CompletionRequest(messages=ASK.messages, timeout_s=0.4)))


@pytest.mark.parametrize(
    "reply",
    [
        malformed_json_reply(),
        json_reply({"type": "message", "content": "not a list"}),
        Reply(text="<html>Bad gateway</html>", content_type="text/html"),
    ],
    ids=["invalid-json", "wrong-shape", "not-json"],
)
async def test_malformed_body_is_a_response_error(
    provider: Provider, anthropic_server: AnthropicServer, reply: Reply
) -> None:
    anthropic_server.script(MESSAGES_PATH, reply)
    with pytest.raises(ProviderResponseError):
        await provider.complete(ASK)


async def test_malformed_stream_event_is_a_response_error(
    provider: Provider, anthropic_server: AnthropicServer
) -> None:
    events = wire.stream_events([("text", ["Hi"])])
    anthropic_server.script(
        MESSAGES_PATH,
        wire.stream_reply([*events[:3], "event: content_block_delta\ndata: {oops\n\n"]),
    )
    with pytest.raises(ProviderResponseError):
        await collect(provider.stream(ASK))


async def test_injected_http_client_is_used_and_left_open(
    anthropic_server: AnthropicServer,
) -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as shared:
        provider = make(anthropic_server.url, http_client=shared)
        anthropic_server.script(MESSAGES_PATH, json_reply(wire.message([wire.text_block("ok")])))
        await provider.complete(ASK)
        await provider.close()
        assert seen == [MESSAGES_PATH]
        assert not shared.is_closed


def test_api_key_is_required() -> None:
    with pytest.raises(ValueError, match="API key"):
        create_provider(ProviderKind.ANTHROPIC, model="m", base_url=None, api_key=None, timeout=5)
