"""The ollama SDK against a loopback server speaking Ollama's native API."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
import time

import pytest

from custom_components.jarvis.router.providers import create_provider
from custom_components.jarvis.router.providers.base import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from custom_components.jarvis.router.providers.ollama import OllamaProvider, parse_version
from custom_components.jarvis.router.types import (
    CompletionRequest,
    Message,
    ProviderKind,
    TokenLogprob,
    ToolCall,
    ToolSpec,
    Usage,
)
from tests.support.fake_providers import ollama as wire
from tests.support.fake_providers.base import (
    Reply,
    collect,
    json_reply,
    malformed_json_reply,
    refused_url,
    slow_reply,
)
from tests.support.fake_providers.ollama import (
    CHAT_PATH,
    PS_PATH,
    SHOW_PATH,
    VERSION_PATH,
    OllamaServer,
)

TURN_ON = ToolSpec(
    name="HassTurnOn",
    description="Turns on a device",
    parameters={
        "type": "object",
        "properties": {"name": {"type": "string", "description": "Device name"}},
        "required": ["name"],
    },
)
ASK = CompletionRequest(
    messages=(
        Message(role="system", content="You are Jarvis."),
        Message(role="user", content="Hello?"),
    ),
    max_output_tokens=64,
)
BAD_CALL = (
    'error parsing tool call: raw=\'{"name": "HassTurnOn", "arguments": {"name": "kitchen"\','
    " err=unexpected end of JSON input"
)


def make(
    base_url: str, model: str = wire.MODEL, timeout: float = 5.0, **kwargs: object
) -> OllamaProvider:
    provider = create_provider(
        ProviderKind.OLLAMA,
        model=model,
        base_url=base_url,
        api_key=None,
        timeout=timeout,
        **kwargs,  # type: ignore[arg-type]
    )
    assert isinstance(provider, OllamaProvider)
    return provider


@pytest.fixture
async def provider(ollama_server: OllamaServer) -> AsyncGenerator[OllamaProvider]:
    """A model on the fake Ollama server."""
    provider = make(ollama_server.url)
    yield provider
    await provider.close()


async def test_plain_completion(provider: OllamaProvider, ollama_server: OllamaServer) -> None:
    ollama_server.script(
        CHAT_PATH, json_reply(wire.chat("Hello there.", prompt_eval_count=31, eval_count=4))
    )

    result = await provider.complete(ASK)

    assert provider.kind is ProviderKind.OLLAMA
    assert result.text == "Hello there."
    assert result.finish_reason == "stop"
    assert result.usage == Usage(input_tokens=31, output_tokens=4)
    assert result.logprobs is None
    assert result.warm is True  # load_duration 5 ms: it was loaded already
    assert result.model == wire.MODEL
    assert result.latency_ms > 0
    assert result.ttft_ms is None
    body = ollama_server.last.json
    assert body["model"] == wire.MODEL
    assert body["messages"] == [
        {"role": "system", "content": "You are Jarvis."},
        {"role": "user", "content": "Hello?"},
    ]
    assert body["stream"] is False
    assert body["keep_alive"] == "30m"
    assert body["options"] == {"num_predict": 64}
    assert "logprobs" not in body
    assert ollama_server.requests_to(VERSION_PATH) == []  # not asked: no logprobs wanted


async def test_cold_load_is_not_warm(provider: OllamaProvider, ollama_server: OllamaServer) -> None:
    ollama_server.script(CHAT_PATH, json_reply(wire.chat("Hi", load_duration=3_200_000_000)))
    assert (await provider.complete(ASK)).warm is False


async def test_keep_alive_and_structured_output(ollama_server: OllamaServer) -> None:
    provider = make(ollama_server.url, keep_alive=-1)
    schema = {"type": "object", "properties": {"color": {"type": "string"}}}
    ollama_server.script(CHAT_PATH, json_reply(wire.chat('{"color": "red"}')))
    try:
        result = await provider.complete(
            CompletionRequest(messages=ASK.messages, json_schema=schema, temperature=0.0)
        )
    finally:
        await provider.close()
    assert json.loads(result.text) == {"color": "red"}
    body = ollama_server.last.json
    assert body["keep_alive"] == -1
    assert body["format"] == schema
    assert body["options"] == {"num_predict": 512, "temperature": 0.0}


async def test_stream_yields_deltas_then_one_completion(
    provider: OllamaProvider, ollama_server: OllamaServer
) -> None:
    ollama_server.script(
        CHAT_PATH,
        wire.stream_reply(
            [
                wire.chat("The ", done=False),
                wire.chat("kitchen ", done=False),
                wire.chat("light is on.", done=False),
                wire.chat("", prompt_eval_count=40, eval_count=6, load_duration=2_000_000_000),
            ],
            chunk_delay=0.01,
        ),
    )

    deltas, result = await collect(provider.stream(ASK))

    assert deltas == ["The ", "kitchen ", "light is on."]
    assert result.text == "".join(deltas)
    assert result.finish_reason == "stop"
    assert result.usage == Usage(input_tokens=40, output_tokens=6)
    assert result.warm is False
    assert result.ttft_ms is not None
    assert 0 < result.ttft_ms < result.latency_ms
    assert ollama_server.last.json["stream"] is True


async def test_tool_call_round_trip(provider: OllamaProvider, ollama_server: OllamaServer) -> None:
    ollama_server.script(
        CHAT_PATH,
        json_reply(wire.chat(tool_calls=[wire.tool_call("HassTurnOn", {"name": "desk lamp"})])),
    )
    earlier = ToolCall(id="call_7", name="HassTurnOn", arguments={"name": "kitchen"})
    request = CompletionRequest(
        messages=(
            Message(role="system", content="You are Jarvis."),
            Message(role="user", content="Kitchen on"),
            Message(role="assistant", tool_calls=(earlier,)),
            Message(role="tool", tool_call_id="call_7", content='{"ok": true}'),
            Message(role="user", content="And the desk lamp"),
        ),
        tools=(TURN_ON,),
    )

    result = await provider.complete(request)

    (call,) = result.tool_calls
    assert (call.name, call.arguments, call.parse_error) == (
        "HassTurnOn",
        {"name": "desk lamp"},
        None,
    )
    assert call.id
    assert json.loads(call.raw_arguments or "") == {"name": "desk lamp"}
    assert result.finish_reason == "tool_calls"
    body = ollama_server.last.json
    assert body["messages"][2:4] == [
        {
            "role": "assistant",
            "tool_calls": [{"function": {"name": "HassTurnOn", "arguments": {"name": "kitchen"}}}],
        },
        # The tool's name comes from the call it answers.
        {"role": "tool", "content": '{"ok": true}', "tool_name": "HassTurnOn"},
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


async def test_streamed_tool_calls(provider: OllamaProvider, ollama_server: OllamaServer) -> None:
    ollama_server.script(
        CHAT_PATH,
        wire.stream_reply(
            [
                wire.chat(
                    tool_calls=[wire.tool_call("HassTurnOn", {"name": "kitchen"})], done=False
                ),
                wire.chat(tool_calls=[wire.tool_call("HassTurnOff", {})], done=False),
                wire.chat(""),
            ]
        ),
    )

    deltas, result = await collect(provider.stream(ASK))

    assert deltas == []
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("HassTurnOn", {"name": "kitchen"}),
        ("HassTurnOff", {}),
    ]
    assert len({c.id for c in result.tool_calls}) == 2
    assert result.finish_reason == "tool_calls"
    assert result.ttft_ms is not None


async def test_unparseable_tool_call_is_a_tool_call_with_parse_error(
    provider: OllamaProvider, ollama_server: OllamaServer
) -> None:
    ollama_server.script(CHAT_PATH, wire.error_reply(500, BAD_CALL))
    ollama_server.script(
        CHAT_PATH,
        Reply(
            chunks=[
                json.dumps(wire.chat("Let me ", done=False)) + "\n",
                json.dumps({"error": BAD_CALL}) + "\n",
            ],
            content_type="application/x-ndjson",
        ),
    )

    completed = await provider.complete(CompletionRequest(messages=ASK.messages, tools=(TURN_ON,)))
    deltas, streamed = await collect(
        provider.stream(CompletionRequest(messages=ASK.messages, tools=(TURN_ON,)))
    )

    assert deltas == ["Let me "]
    assert streamed.text == "Let me "
    for result in (completed, streamed):
        (call,) = result.tool_calls
        assert call.name == "HassTurnOn"
        assert call.arguments == {}
        assert call.raw_arguments == '{"name": "HassTurnOn", "arguments": {"name": "kitchen"'
        assert call.parse_error is not None
        assert call.parse_error.startswith("error parsing tool call")
        assert result.finish_reason == "tool_calls"


async def test_logprobs_from_a_new_enough_server(
    provider: OllamaProvider, ollama_server: OllamaServer
) -> None:
    tokens = [
        wire.token_logprob("Par", -0.05, [("Par", -0.05), ("Lyon", -3.2)]),
        wire.token_logprob("is", -0.01, [("is", -0.01)]),
    ]
    ollama_server.script(CHAT_PATH, json_reply(wire.chat("Paris", logprobs=tokens)))
    ollama_server.script(
        CHAT_PATH,
        wire.stream_reply(
            [
                wire.chat("Par", done=False, logprobs=tokens[:1]),
                wire.chat("is", done=False, logprobs=tokens[1:]),
                wire.chat("", logprobs=[]),
            ]
        ),
    )
    request = CompletionRequest(messages=ASK.messages, want_logprobs=True)

    completed = await provider.complete(request)
    _, streamed = await collect(provider.stream(request))

    expected = (
        TokenLogprob("Par", -0.05, (("Par", -0.05), ("Lyon", -3.2))),
        TokenLogprob("is", -0.01, (("is", -0.01),)),
    )
    assert completed.logprobs == expected
    assert streamed.logprobs == expected
    for sent in ollama_server.requests_to(CHAT_PATH):
        assert sent.json["logprobs"] is True
        assert sent.json["top_logprobs"] == 5
    assert len(ollama_server.requests_to(VERSION_PATH)) == 1  # asked once, then remembered


@pytest.mark.parametrize(
    "version_reply",
    [json_reply({"version": "0.12.10"}), wire.error_reply(404, "404 page not found")],
    ids=["older-server", "no-version"],
)
async def test_no_logprobs_requested_from_older_or_unknown_servers(
    provider: OllamaProvider, ollama_server: OllamaServer, version_reply: Reply
) -> None:
    ollama_server.script(VERSION_PATH, version_reply)
    ollama_server.script(CHAT_PATH, json_reply(wire.chat("Paris")), json_reply(wire.chat("Rome")))
    request = CompletionRequest(messages=ASK.messages, want_logprobs=True)

    first = await provider.complete(request)
    second = await provider.complete(request)

    assert (first.text, second.text) == ("Paris", "Rome")
    assert first.logprobs is None
    for sent in ollama_server.requests_to(CHAT_PATH):
        assert "logprobs" not in sent.json
    assert len(ollama_server.requests_to(VERSION_PATH)) == 1  # the answer is remembered


async def test_version(provider: OllamaProvider, ollama_server: OllamaServer) -> None:
    ollama_server.script(VERSION_PATH, json_reply({"version": "0.12.11"}))
    assert await provider.version() == "0.12.11"
    assert parse_version("0.12.11") == (0, 12, 11)
    assert parse_version("0.13.0-rc1") == (0, 13, 0)
    assert parse_version("0.12.11") >= (0, 12, 11) > parse_version("0.12.9")


async def test_is_warm(provider: OllamaProvider, ollama_server: OllamaServer) -> None:
    ollama_server.script(PS_PATH, json_reply(wire.ps(["llama3.2:latest", wire.MODEL])))
    assert await provider.is_warm() is True
    ollama_server.script(PS_PATH, json_reply(wire.ps(["llama3.2:latest"])))
    assert await provider.is_warm() is False
    assert ollama_server.last.method == "GET"

    untagged = make(ollama_server.url, model="llama3.2")
    ollama_server.script(PS_PATH, json_reply(wire.ps(["llama3.2:latest"])))
    try:
        assert await untagged.is_warm() is True
    finally:
        await untagged.close()


async def test_warm_up_loads_the_model(
    provider: OllamaProvider, ollama_server: OllamaServer
) -> None:
    await provider.warm_up()
    assert ollama_server.last.path == wire.GENERATE_PATH
    assert ollama_server.last.json["model"] == wire.MODEL
    assert ollama_server.last.json["keep_alive"] == provider.keep_alive
    assert "prompt" not in ollama_server.last.json or not ollama_server.last.json["prompt"]
    ollama_server.script(wire.GENERATE_PATH, wire.error_reply(404, "model not found"))
    with pytest.raises(ProviderRequestError):
        await provider.warm_up()


async def test_capabilities(provider: OllamaProvider, ollama_server: OllamaServer) -> None:
    ollama_server.script(SHOW_PATH, json_reply(wire.show(["completion", "tools", "thinking"])))
    assert await provider.capabilities() == frozenset({"completion", "tools", "thinking"})
    assert ollama_server.last.json == {"model": wire.MODEL}
    ollama_server.script(SHOW_PATH, json_reply(wire.show(["completion"])))
    assert await provider.supports_tools() is False
    ollama_server.script(SHOW_PATH, wire.error_reply(404, f"model '{wire.MODEL}' not found"))
    with pytest.raises(ProviderRequestError):
        await provider.capabilities()


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
    ],
)
async def test_http_errors_map_to_typed_errors(
    provider: OllamaProvider,
    ollama_server: OllamaServer,
    status: int,
    expected: type[ProviderError],
) -> None:
    ollama_server.script(
        CHAT_PATH, wire.error_reply(status, "nope"), wire.error_reply(status, "nope")
    )
    with pytest.raises(expected):
        await provider.complete(ASK)
    with pytest.raises(expected):
        await collect(provider.stream(ASK))


async def test_error_line_inside_stream_is_unavailable(
    provider: OllamaProvider, ollama_server: OllamaServer
) -> None:
    ollama_server.script(
        CHAT_PATH,
        Reply(
            chunks=[json.dumps(wire.chat("Hi", done=False)) + "\n", '{"error": "out of memory"}\n'],
            content_type="application/x-ndjson",
        ),
    )
    with pytest.raises(ProviderUnavailableError):
        await collect(provider.stream(ASK))


async def test_slow_answer_times_out(ollama_server: OllamaServer) -> None:
    provider = make(ollama_server.url, timeout=0.3)
    ollama_server.script(CHAT_PATH, slow_reply(5.0))
    ollama_server.script(PS_PATH, slow_reply(5.0))
    try:
        started = time.perf_counter()
        with pytest.raises(ProviderTimeoutError):
            await provider.complete(ASK)
        with pytest.raises(ProviderTimeoutError):
            await provider.is_warm()
        assert time.perf_counter() - started < 3.0
    finally:
        await provider.close()


async def test_stalled_stream_times_out(
    provider: OllamaProvider, ollama_server: OllamaServer
) -> None:
    ollama_server.script(
        CHAT_PATH,
        wire.stream_reply([wire.chat("one", done=False), wire.chat("two")], chunk_delay=5.0),
    )
    with pytest.raises(ProviderTimeoutError):
        await collect(provider.stream(CompletionRequest(messages=ASK.messages, timeout_s=0.4)))


async def test_connection_refused_is_unavailable() -> None:
    provider = make(refused_url(), timeout=2.0)
    try:
        with pytest.raises(ProviderUnavailableError):
            await provider.complete(ASK)
        with pytest.raises(ProviderUnavailableError):
            await collect(provider.stream(ASK))
        with pytest.raises(ProviderUnavailableError):
            await provider.is_warm()
        with pytest.raises(ProviderUnavailableError):
            await provider.version()
        # Logprobs wanted but the version is unknowable: the chat call still fails typed.
        with pytest.raises(ProviderUnavailableError):
            await provider.complete(CompletionRequest(messages=ASK.messages, want_logprobs=True))
    finally:
        await provider.close()


@pytest.mark.parametrize(
    "reply",
    [
        malformed_json_reply(),
        json_reply({"model": wire.MODEL, "done": True}),
        json_reply(
            {
                "message": {
                    "role": "assistant",
                    "tool_calls": [{"function": {"name": "x", "arguments": "{}"}}],
                }
            }
        ),
    ],
    ids=["invalid-json", "no-message", "string-arguments"],
)
async def test_malformed_body_is_a_response_error(
    provider: OllamaProvider, ollama_server: OllamaServer, reply: Reply
) -> None:
    ollama_server.script(CHAT_PATH, reply)
    with pytest.raises(ProviderResponseError):
        await provider.complete(ASK)


async def test_malformed_stream_line_is_a_response_error(
    provider: OllamaProvider, ollama_server: OllamaServer
) -> None:
    ollama_server.script(
        CHAT_PATH,
        Reply(
            chunks=[json.dumps(wire.chat("Hi", done=False)) + "\n", "{oops\n"],
            content_type="application/x-ndjson",
        ),
    )
    with pytest.raises(ProviderResponseError):
        await collect(provider.stream(ASK))


def test_base_url_is_required() -> None:
    with pytest.raises(ValueError, match="base_url"):
        create_provider(ProviderKind.OLLAMA, model="m", base_url=None, api_key=None, timeout=5)
