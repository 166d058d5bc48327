"""The openai SDK's Chat Completions against a loopback server speaking its wire format."""

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
from custom_components.jarvis.router.providers.openai_compat import (
    OpenAICompatibleProvider,
    OpenAIProvider,
)
from custom_components.jarvis.router.types import (
    Completion,
    CompletionRequest,
    Message,
    ProviderKind,
    TextDelta,
    TokenLogprob,
    ToolCall,
    ToolSpec,
    Usage,
)
from tests.support.fake_providers import openai as wire
from tests.support.fake_providers.base import (
    Reply,
    collect,
    drain,
    json_reply,
    malformed_json_reply,
    slow_reply,
)
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer

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
    max_output_tokens=64,
)


@pytest.fixture
async def local(openai_server: OpenAIServer) -> AsyncGenerator[Provider]:
    """An OpenAI-compatible provider (as for llama.cpp) on the fake server."""
    provider = create_provider(
        ProviderKind.OPENAI_COMPATIBLE,
        model="smollm2",
        base_url=openai_server.base_url,
        api_key=None,
        timeout=5.0,
    )
    yield provider
    await provider.close()


@pytest.fixture
async def cloud(openai_server: OpenAIServer) -> AsyncGenerator[Provider]:
    """An OpenAI (cloud kind) provider on the fake server."""
    provider = create_provider(
        ProviderKind.OPENAI,
        model="gpt-4.1-mini",
        base_url=openai_server.base_url,
        api_key="sk-test",
        timeout=5.0,
    )
    yield provider
    await provider.close()


async def test_plain_completion(local: Provider, openai_server: OpenAIServer) -> None:
    openai_server.script(
        CHAT_PATH,
        json_reply(
            wire.completion("Hello there.", usage_body=wire.usage(12, 3, cached=4, reasoning=1))
        ),
    )

    result = await local.complete(ASK)

    assert local.kind is ProviderKind.OPENAI_COMPATIBLE
    assert result.text == "Hello there."
    assert result.finish_reason == "stop"
    assert result.tool_calls == ()
    assert result.logprobs is None
    assert result.usage == Usage(
        input_tokens=12, output_tokens=3, cached_input_tokens=4, reasoning_tokens=1
    )
    assert result.model == "fake-model"
    assert result.latency_ms > 0
    assert result.ttft_ms is None
    body = openai_server.last.json
    assert body["model"] == "smollm2"
    assert body["messages"] == [
        {"role": "system", "content": "You are Jarvis."},
        {"role": "user", "content": "Hello?"},
    ]
    assert body["max_tokens"] == 64
    assert "stream" not in body or body["stream"] is False
    assert "logprobs" not in body
    assert "tools" not in body


async def test_cloud_kind_sends_key_and_max_completion_tokens(
    cloud: Provider, openai_server: OpenAIServer
) -> None:
    openai_server.script(CHAT_PATH, json_reply(wire.completion("Hi")))

    await cloud.complete(ASK)

    assert cloud.kind is ProviderKind.OPENAI
    request = openai_server.last
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.json["max_completion_tokens"] == 64
    assert "max_tokens" not in request.json


async def test_stream_yields_deltas_then_one_completion(
    local: Provider, openai_server: OpenAIServer
) -> None:
    chunks = wire.text_chunks(["The ", "kitchen ", "light is on."])
    chunks.append(wire.usage_chunk(wire.usage(20, 7, cached=8)))
    openai_server.script(CHAT_PATH, wire.stream_reply(chunks, chunk_delay=0.02))

    deltas, result = await collect(
        local.stream(
            CompletionRequest(messages=ASK.messages, max_output_tokens=64, want_logprobs=True)
        )
    )

    assert deltas == ["The ", "kitchen ", "light is on."]
    assert result.text == "".join(deltas)
    assert result.finish_reason == "stop"
    assert result.usage == Usage(input_tokens=20, output_tokens=7, cached_input_tokens=8)
    assert result.ttft_ms is not None
    assert 0 < result.ttft_ms < result.latency_ms
    assert result.latency_ms - result.ttft_ms >= 40  # three more pieces, 20 ms apart
    body = openai_server.last.json
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # llama.cpp rejects logprobs with tools and streaming: never asked for while streaming.
    assert "logprobs" not in body


async def test_tool_call_round_trip(local: Provider, openai_server: OpenAIServer) -> None:
    openai_server.script(
        CHAT_PATH,
        json_reply(
            wire.completion(
                None,
                tool_calls=[wire.tool_call("call_9", "HassTurnOn", '{"name": "desk lamp"}')],
                finish_reason="tool_calls",
            )
        ),
    )
    earlier = ToolCall(id="call_1", name="HassTurnOn", arguments={"name": "kitchen"})
    request = CompletionRequest(
        messages=(
            Message(role="system", content="You are Jarvis."),
            Message(role="user", content="Kitchen on"),
            Message(role="assistant", tool_calls=(earlier,)),
            Message(role="tool", tool_call_id="call_1", name="HassTurnOn", content='{"ok": true}'),
            Message(role="assistant", content="Done."),
            Message(role="user", content="And the desk lamp"),
        ),
        tools=(TURN_ON,),
    )

    result = await local.complete(request)

    assert result.tool_calls == (
        ToolCall(
            id="call_9",
            name="HassTurnOn",
            arguments={"name": "desk lamp"},
            raw_arguments='{"name": "desk lamp"}',
        ),
    )
    assert result.finish_reason == "tool_calls"
    body = openai_server.last.json
    assert body["messages"][2:5] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "HassTurnOn", "arguments": '{"name": "kitchen"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"ok": true}'},
        {"role": "assistant", "content": "Done."},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "HassTurnOn",
                "description": "Turns on a device",
                "parameters": TURN_ON.parameters,
            },
        }
    ]


async def test_stream_assembles_tool_call_fragments(
    local: Provider, openai_server: OpenAIServer
) -> None:
    chunks = wire.tool_call_chunks(
        [
            ("call_a", "HassTurnOn", ['{"na', 'me": "kit', 'chen"}']),
            ("call_b", "HassTurnOff", ["{}"]),
        ]
    )
    openai_server.script(CHAT_PATH, wire.stream_reply(chunks))

    deltas, result = await collect(
        local.stream(CompletionRequest(messages=ASK.messages, tools=(TURN_ON,)))
    )

    assert deltas == []
    assert result.text == ""
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_a", "HassTurnOn", {"name": "kitchen"}),
        ("call_b", "HassTurnOff", {}),
    ]
    assert result.finish_reason == "tool_calls"
    assert result.ttft_ms is not None


@pytest.mark.parametrize(
    ("arguments", "error"),
    [('{"name": "kitchen"', "not valid JSON"), ("[1, 2]", "not an object")],
)
async def test_malformed_tool_arguments_do_not_raise(
    local: Provider, openai_server: OpenAIServer, arguments: str, error: str
) -> None:
    openai_server.script(
        CHAT_PATH,
        json_reply(
            wire.completion(
                None,
                tool_calls=[wire.tool_call("call_1", "HassTurnOn", arguments)],
                finish_reason="tool_calls",
            )
        ),
        wire.stream_reply(wire.tool_call_chunks([("call_2", "HassTurnOn", [arguments])])),
    )

    completed = await local.complete(ASK)
    _, streamed = await collect(local.stream(ASK))

    for call in (completed.tool_calls[0], streamed.tool_calls[0]):
        assert call.arguments == {}
        assert call.raw_arguments == arguments
        assert call.parse_error is not None
        assert error in call.parse_error


async def test_replayed_malformed_call_is_sent_as_valid_json(
    local: Provider, openai_server: OpenAIServer
) -> None:
    openai_server.script(CHAT_PATH, json_reply(wire.completion("ok")))
    broken = ToolCall(
        id="call_1",
        name="HassTurnOn",
        arguments={},
        raw_arguments='{"name": ',
        parse_error="arguments are not valid JSON",
    )
    await local.complete(
        CompletionRequest(
            messages=(
                *ASK.messages,
                Message(role="assistant", tool_calls=(broken,)),
                Message(role="tool", tool_call_id="call_1", content='{"error": "bad arguments"}'),
            )
        )
    )
    sent = openai_server.last.json["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert sent == "{}"  # llama.cpp parses replayed arguments and fails the request otherwise


async def test_logprobs_parsed(local: Provider, openai_server: OpenAIServer) -> None:
    openai_server.script(
        CHAT_PATH,
        json_reply(
            wire.completion(
                "Paris",
                logprobs=[
                    wire.token_logprob("Par", -0.05, [("Par", -0.05), ("Lyon", -3.2)]),
                    wire.token_logprob("is", -0.01, [("is", -0.01)]),
                ],
            )
        ),
    )

    result = await local.complete(
        CompletionRequest(messages=ASK.messages, want_logprobs=True, tools=(TURN_ON,))
    )

    assert result.logprobs == (
        TokenLogprob("Par", -0.05, (("Par", -0.05), ("Lyon", -3.2))),
        TokenLogprob("is", -0.01, (("is", -0.01),)),
    )
    body = openai_server.last.json
    assert body["logprobs"] is True
    assert body["top_logprobs"] == 5


async def test_reasoning_models_are_not_asked_for_logprobs(openai_server: OpenAIServer) -> None:
    provider = OpenAIProvider(
        model="gpt-5-nano", base_url=openai_server.base_url, api_key="sk-test", timeout=5.0
    )
    openai_server.script(CHAT_PATH, json_reply(wire.completion("ok")))
    try:
        result = await provider.complete(
            CompletionRequest(messages=ASK.messages, want_logprobs=True)
        )
    finally:
        await provider.close()
    assert result.logprobs is None
    assert "logprobs" not in openai_server.last.json


async def test_json_schema_structured_output(local: Provider, openai_server: OpenAIServer) -> None:
    schema = {"type": "object", "properties": {"color": {"type": "string"}}}
    openai_server.script(CHAT_PATH, json_reply(wire.completion('{"color": "red"}')))

    result = await local.complete(
        CompletionRequest(messages=ASK.messages, json_schema=schema, temperature=0.0)
    )

    assert json.loads(result.text) == {"color": "red"}
    body = openai_server.last.json
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema},
    }
    assert body["temperature"] == 0.0


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (401, "invalid_request_error", ProviderAuthError),
        (403, "permission_error", ProviderAuthError),
        (429, "rate_limit_exceeded", ProviderRateLimitError),
        (500, "server_error", ProviderUnavailableError),
        (503, "server_error", ProviderUnavailableError),
        (400, "invalid_request_error", ProviderRequestError),
        (404, "invalid_request_error", ProviderRequestError),
        (422, "invalid_request_error", ProviderRequestError),
    ],
)
async def test_http_errors_map_to_typed_errors(
    cloud: Provider,
    openai_server: OpenAIServer,
    status: int,
    error_type: str,
    expected: type[ProviderError],
) -> None:
    openai_server.script(
        CHAT_PATH,
        wire.error_reply(status, "nope", error_type),
        wire.error_reply(status, "nope", error_type),
    )

    with pytest.raises(expected):
        await cloud.complete(ASK)
    with pytest.raises(expected):
        await collect(cloud.stream(ASK))
    assert len(openai_server.requests) == 2  # no SDK retries: failover is the router's job


async def test_slow_answer_times_out(openai_server: OpenAIServer) -> None:
    provider = OpenAICompatibleProvider(model="m", base_url=openai_server.base_url, timeout=0.3)
    openai_server.script(CHAT_PATH, slow_reply(5.0))
    started = time.perf_counter()
    try:
        with pytest.raises(ProviderTimeoutError):
            await provider.complete(ASK)
    finally:
        await provider.close()
    assert time.perf_counter() - started < 2.0


async def test_request_timeout_shortens_the_providers(
    local: Provider, openai_server: OpenAIServer
) -> None:
    openai_server.script(CHAT_PATH, slow_reply(5.0))
    with pytest.raises(ProviderTimeoutError):
        await local.complete(CompletionRequest(messages=ASK.messages, timeout_s=0.2))


async def test_stalled_stream_times_out_after_deltas(
    local: Provider, openai_server: OpenAIServer
) -> None:
    chunks = [wire.chunk({"role": "assistant", "content": "one"}), wire.chunk({"content": "two"})]
    openai_server.script(CHAT_PATH, wire.stream_reply(chunks, chunk_delay=5.0))
    seen: list[TextDelta | Completion] = []
    with pytest.raises(ProviderTimeoutError):
        await drain(local.stream(CompletionRequest(messages=ASK.messages, timeout_s=0.4)), seen)
    assert seen == [TextDelta("one")]


@pytest.mark.parametrize(
    "reply",
    [
        malformed_json_reply(),
        json_reply({"id": "x", "object": "chat.completion", "choices": []}),
        json_reply({"unexpected": True}),
        Reply(text="<html>Bad gateway</html>", content_type="text/html"),
    ],
    ids=["invalid-json", "no-choices", "no-fields", "not-json"],
)
async def test_malformed_body_is_a_response_error(
    local: Provider, openai_server: OpenAIServer, reply: Reply
) -> None:
    openai_server.script(CHAT_PATH, reply)
    with pytest.raises(ProviderResponseError):
        await local.complete(ASK)


async def test_malformed_stream_chunk_is_a_response_error(
    local: Provider, openai_server: OpenAIServer
) -> None:
    openai_server.script(
        CHAT_PATH,
        Reply(
            chunks=[f"data: {json.dumps(wire.chunk({'content': 'Hi'}))}\n\n", "data: {oops\n\n"],
            content_type="text/event-stream",
        ),
    )
    with pytest.raises(ProviderResponseError):
        await collect(local.stream(ASK))


async def test_error_event_inside_stream_is_unavailable(
    local: Provider, openai_server: OpenAIServer
) -> None:
    openai_server.script(
        CHAT_PATH,
        Reply(
            chunks=[
                f"data: {json.dumps(wire.chunk({'content': 'Hi'}))}\n\n",
                'data: {"error": {"message": "context overflow", "type": "server_error"}}\n\n',
            ],
            content_type="text/event-stream",
        ),
    )
    with pytest.raises(ProviderUnavailableError):
        await collect(local.stream(ASK))


async def test_injected_http_client_is_used_and_left_open(openai_server: OpenAIServer) -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(str(request.url))

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as shared:
        provider = create_provider(
            ProviderKind.OPENAI_COMPATIBLE,
            model="m",
            base_url=openai_server.base_url,
            api_key=None,
            timeout=5.0,
            http_client=shared,
        )
        openai_server.script(CHAT_PATH, json_reply(wire.completion("ok")))
        await provider.complete(ASK)
        await provider.close()
        assert seen == [f"{openai_server.base_url}/chat/completions"]
        assert not shared.is_closed


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="base_url"):
        create_provider(
            ProviderKind.OPENAI_COMPATIBLE, model="m", base_url=None, api_key=None, timeout=5
        )
    with pytest.raises(ValueError, match="API key"):
        create_provider(ProviderKind.OPENAI, model="m", base_url=None, api_key=None, timeout=5)
