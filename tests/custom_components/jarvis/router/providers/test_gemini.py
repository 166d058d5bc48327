"""The google-genai SDK against a loopback server speaking the Gemini API's wire format."""

from __future__ import annotations

import base64
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
from custom_components.jarvis.router.providers.gemini import malformed_function_call
from custom_components.jarvis.router.types import (
    Citation,
    CompletionRequest,
    Message,
    ProviderKind,
    ToolCall,
    ToolSpec,
    Usage,
)
from tests.support.fake_providers import gemini as wire
from tests.support.fake_providers.base import (
    Reply,
    collect,
    json_reply,
    malformed_json_reply,
    slow_reply,
)
from tests.support.fake_providers.gemini import GeminiServer, generate_path, stream_path

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
    max_output_tokens=256,
)
SIGNATURE = base64.b64encode(b"opaque-signature").decode()


def make(
    base_url: str, model: str = wire.MODEL, timeout: float = 5.0, **kwargs: object
) -> Provider:
    return create_provider(
        ProviderKind.GEMINI,
        model=model,
        base_url=base_url,
        api_key="gm-test",
        timeout=timeout,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def provider(gemini_server: GeminiServer) -> AsyncGenerator[Provider]:
    """Gemini 2.5 Flash on the fake server."""
    provider = make(gemini_server.url)
    yield provider
    await provider.close()


async def test_plain_completion(provider: Provider, gemini_server: GeminiServer) -> None:
    gemini_server.script(
        generate_path(),
        json_reply(
            wire.response(
                [wire.text_part("Hello "), wire.text_part("there.")],
                usage_body=wire.usage(40, 4, thoughts=12, cached=32, tool_use_prompt=3),
            )
        ),
    )

    result = await provider.complete(ASK)

    assert provider.kind is ProviderKind.GEMINI
    assert result.text == "Hello there."
    assert result.finish_reason == "stop"
    assert result.logprobs is None
    # Thoughts are billed as output; tool-use prompt tokens as input.
    assert result.usage == Usage(
        input_tokens=43, output_tokens=16, cached_input_tokens=32, reasoning_tokens=12
    )
    assert result.model == wire.MODEL
    assert result.latency_ms > 0
    assert result.ttft_ms is None
    request = gemini_server.last
    assert request.headers["x-goog-api-key"] == "gm-test"
    body = request.json
    assert body["systemInstruction"]["parts"] == [{"text": "You are Jarvis."}]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Hello?"}]}]
    assert body["generationConfig"]["maxOutputTokens"] == 256
    assert "tools" not in body


async def test_stream_yields_deltas_then_one_completion(
    provider: Provider, gemini_server: GeminiServer
) -> None:
    gemini_server.script(
        stream_path(),
        wire.stream_reply(
            [
                wire.response([wire.text_part("The ")], finish_reason=None),
                wire.response([wire.text_part("kitchen ")], finish_reason=None),
                wire.response(
                    [wire.text_part("light is on.")], usage_body=wire.usage(30, 6, thoughts=2)
                ),
            ],
            chunk_delay=0.01,
        ),
    )

    deltas, result = await collect(provider.stream(ASK))

    assert deltas == ["The ", "kitchen ", "light is on."]
    assert result.text == "".join(deltas)
    assert result.finish_reason == "stop"
    assert result.usage == Usage(input_tokens=30, output_tokens=8, reasoning_tokens=2)
    assert result.ttft_ms is not None
    assert 0 < result.ttft_ms < result.latency_ms
    assert gemini_server.last.query == {"alt": "sse"}


async def test_tool_call_round_trip(provider: Provider, gemini_server: GeminiServer) -> None:
    gemini_server.script(
        generate_path(),
        json_reply(wire.response([wire.function_call_part("HassTurnOn", {"name": "desk lamp"})])),
    )
    first = ToolCall(id="call_1", name="HassTurnOn", arguments={"name": "kitchen"})
    second = ToolCall(id="call_2", name="HassTurnOff", arguments={"name": "hall"})
    request = CompletionRequest(
        messages=(
            Message(role="system", content="You are Jarvis."),
            Message(role="user", content="Kitchen on, hall off"),
            Message(role="assistant", tool_calls=(first, second)),
            Message(role="tool", tool_call_id="call_1", name="HassTurnOn", content='{"ok": true}'),
            # No name: looked up from the call it answers. Not an object: wrapped.
            Message(role="tool", tool_call_id="call_2", content="done"),
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
    assert result.finish_reason == "tool_calls"
    body = gemini_server.last.json
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Kitchen on, hall off"}]},
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "HassTurnOn", "args": {"name": "kitchen"}}},
                {"functionCall": {"name": "HassTurnOff", "args": {"name": "hall"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "HassTurnOn", "response": {"ok": True}}},
                {"functionResponse": {"name": "HassTurnOff", "response": {"result": "done"}}},
                {"text": "And the desk lamp"},
            ],
        },
    ]
    (tool,) = body["tools"]
    (declaration,) = tool["functionDeclarations"]
    assert declaration["name"] == "HassTurnOn"
    assert declaration["description"] == "Turns on a device"
    # The SDK writes this field's proto name; proto3 JSON accepts either spelling.
    schema = declaration.get("parametersJsonSchema", declaration.get("parameters_json_schema"))
    assert schema == TURN_ON.parameters


@pytest.mark.parametrize(
    ("model", "bypass"),
    [("gemini-3-flash-preview", True), ("gemini-2.5-flash", False)],
)
async def test_thought_signatures_are_replayed(
    gemini_server: GeminiServer, model: str, *, bypass: bool
) -> None:
    provider = make(gemini_server.url, model=model)
    gemini_server.script(
        generate_path(model),
        json_reply(
            wire.response(
                [
                    # Parallel calls: only the first carries the signature.
                    wire.function_call_part(
                        "HassTurnOn", {"name": "kitchen"}, thought_signature=SIGNATURE
                    ),
                    wire.function_call_part("HassTurnOn", {"name": "hall"}),
                ],
                model=model,
            )
        ),
        json_reply(wire.response([wire.text_part("Done.")], model=model)),
    )
    try:
        first = await provider.complete(ASK)
        signed, unsigned = first.tool_calls
        assert signed.id != unsigned.id
        foreign = ToolCall(id="toolu_other", name="HassTurnOff", arguments={})
        await provider.complete(
            CompletionRequest(
                messages=(
                    *ASK.messages,
                    Message(role="assistant", tool_calls=(signed, unsigned, foreign)),
                    Message(role="tool", tool_call_id=signed.id, content="{}"),
                    Message(role="tool", tool_call_id=unsigned.id, content="{}"),
                    Message(role="tool", tool_call_id="toolu_other", content="{}"),
                )
            )
        )
    finally:
        await provider.close()

    model_turn = gemini_server.last.json["contents"][1]
    assert model_turn["role"] == "model"
    signatures = [part.get("thoughtSignature") for part in model_turn["parts"]]
    # Its own calls as they came; another provider's call gets the documented bypass (Gemini 3+).
    skip = base64.b64encode(b"skip_thought_signature_validator").decode()
    assert signatures == [SIGNATURE, None, skip if bypass else None]


async def test_stream_with_function_call(provider: Provider, gemini_server: GeminiServer) -> None:
    gemini_server.script(
        stream_path(),
        wire.stream_reply(
            [
                wire.response([wire.text_part("Sure.")], finish_reason=None),
                wire.response([wire.function_call_part("HassTurnOn", {"name": "kitchen"})]),
            ]
        ),
    )

    deltas, result = await collect(
        provider.stream(CompletionRequest(messages=ASK.messages, tools=(TURN_ON,)))
    )

    assert deltas == ["Sure."]
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("HassTurnOn", {"name": "kitchen"})
    ]
    assert result.finish_reason == "tool_calls"


async def test_malformed_function_call_does_not_raise(
    provider: Provider, gemini_server: GeminiServer
) -> None:
    # The API explains in finishMessage; google-genai 1.59 drops that field for the Gemini API.
    message = "Malformed function call: print(default_api.HassTurnOn(name='kitchen'"
    gemini_server.script(
        generate_path(),
        json_reply(
            wire.response(None, finish_reason="MALFORMED_FUNCTION_CALL", finish_message=message)
        ),
    )
    gemini_server.script(
        stream_path(),
        wire.stream_reply(
            [wire.response(None, finish_reason="MALFORMED_FUNCTION_CALL", finish_message=message)]
        ),
    )

    completed = await provider.complete(ASK)
    _, streamed = await collect(provider.stream(ASK))

    for result in (completed, streamed):
        (call,) = result.tool_calls
        assert call.arguments == {}
        assert call.parse_error is not None
        assert "malformed function call" in call.parse_error.lower()
        assert result.finish_reason == "tool_calls"
        assert result.text == ""


def test_malformed_function_call_names_the_tool_when_the_message_does() -> None:
    call = malformed_function_call(
        "Malformed function call: print(default_api.HassTurnOn(name='kitchen'"
    )
    assert (call.name, call.arguments) == ("HassTurnOn", {})
    assert call.parse_error is not None
    assert "default_api.HassTurnOn" in call.parse_error
    assert malformed_function_call(None).name == ""


async def test_structured_output_and_grounding(
    provider: Provider, gemini_server: GeminiServer
) -> None:
    schema = {"type": "object", "properties": {"color": {"type": "string"}}}
    gemini_server.script(
        generate_path(),
        json_reply(
            wire.response(
                [wire.text_part('{"color": "red"}')],
                grounding=wire.grounding(
                    [
                        ("https://a.example/x", "A"),
                        ("https://b.example/y", "B"),
                        ("https://a.example/x", "A"),
                    ]
                ),
            )
        ),
    )

    result = await provider.complete(
        CompletionRequest(messages=ASK.messages, json_schema=schema, temperature=0.2)
    )

    assert json.loads(result.text) == {"color": "red"}
    assert result.citations == (
        Citation(url="https://a.example/x", title="A"),
        Citation(url="https://b.example/y", title="B"),
    )
    config = gemini_server.last.json["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == schema
    assert config["temperature"] == 0.2


async def test_blocked_prompt_is_content_filter(
    provider: Provider, gemini_server: GeminiServer
) -> None:
    gemini_server.script(
        generate_path(),
        json_reply({"promptFeedback": {"blockReason": "SAFETY"}, "modelVersion": wire.MODEL}),
    )
    result = await provider.complete(ASK)
    assert result.text == ""
    assert result.finish_reason == "content_filter"


@pytest.mark.parametrize(
    ("status", "code", "reason", "expected"),
    [
        (400, "INVALID_ARGUMENT", "API_KEY_INVALID", ProviderAuthError),
        (401, "UNAUTHENTICATED", None, ProviderAuthError),
        (403, "PERMISSION_DENIED", None, ProviderAuthError),
        (429, "RESOURCE_EXHAUSTED", None, ProviderRateLimitError),
        (500, "INTERNAL", None, ProviderUnavailableError),
        (503, "UNAVAILABLE", None, ProviderUnavailableError),
        (400, "INVALID_ARGUMENT", None, ProviderRequestError),
        (404, "NOT_FOUND", None, ProviderRequestError),
    ],
)
async def test_http_errors_map_to_typed_errors(
    provider: Provider,
    gemini_server: GeminiServer,
    *,
    status: int,
    code: str,
    reason: str | None,
    expected: type[ProviderError],
) -> None:
    gemini_server.script(generate_path(), wire.error_reply(status, code, "nope", reason=reason))
    gemini_server.script(stream_path(), wire.error_reply(status, code, "nope", reason=reason))

    with pytest.raises(expected):
        await provider.complete(ASK)
    with pytest.raises(expected):
        await collect(provider.stream(ASK))
    assert len(gemini_server.requests) == 2  # no SDK retries


async def test_slow_answer_times_out(gemini_server: GeminiServer) -> None:
    provider = make(gemini_server.url, timeout=0.3)
    gemini_server.script(generate_path(), slow_reply(5.0))
    try:
        started = time.perf_counter()
        with pytest.raises(ProviderTimeoutError):
            await provider.complete(ASK)
        assert time.perf_counter() - started < 2.0
    finally:
        await provider.close()


async def test_stalled_stream_times_out(provider: Provider, gemini_server: GeminiServer) -> None:
    gemini_server.script(
        stream_path(),
        wire.stream_reply(
            [
                wire.response([wire.text_part("one")], finish_reason=None),
                wire.response([wire.text_part("two")]),
            ],
            chunk_delay=5.0,
        ),
    )
    with pytest.raises(ProviderTimeoutError):
        await collect(provider.stream(CompletionRequest(messages=ASK.messages, timeout_s=0.4)))


@pytest.mark.parametrize(
    "reply",
    [
        malformed_json_reply(),
        json_reply({"candidates": [{"content": {"parts": "not a list"}}]}),
        json_reply({"modelVersion": wire.MODEL}),
        Reply(text="<html>Bad gateway</html>", content_type="text/html"),
    ],
    ids=["invalid-json", "wrong-shape", "no-candidates", "not-json"],
)
async def test_malformed_body_is_a_response_error(
    provider: Provider, gemini_server: GeminiServer, reply: Reply
) -> None:
    gemini_server.script(generate_path(), reply)
    with pytest.raises(ProviderResponseError):
        await provider.complete(ASK)


async def test_malformed_stream_chunk_is_a_response_error(
    provider: Provider, gemini_server: GeminiServer
) -> None:
    first = wire.stream_reply([wire.response([wire.text_part("Hi")], finish_reason=None)]).chunks
    assert first is not None
    gemini_server.script(
        stream_path(),
        Reply(chunks=[*first, "data: {oops\r\n\r\n"], content_type="text/event-stream"),
    )
    with pytest.raises(ProviderResponseError):
        await collect(provider.stream(ASK))


async def test_injected_http_client_is_used_and_left_open(gemini_server: GeminiServer) -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as shared:
        provider = make(gemini_server.url, http_client=shared)
        gemini_server.script(generate_path(), json_reply(wire.response([wire.text_part("ok")])))
        await provider.complete(ASK)
        await provider.close()
        assert seen == [generate_path()]
        assert not shared.is_closed


def test_api_key_is_required() -> None:
    with pytest.raises(ValueError, match="API key"):
        create_provider(ProviderKind.GEMINI, model="m", base_url=None, api_key=None, timeout=5)


async def test_web_search_sends_google_search_and_keeps_its_sources(
    gemini_server: GeminiServer,
) -> None:
    """A fresh-facts Gemini (web_search) asks for Google Search grounding on every request."""
    searching = make(gemini_server.url, web_search=True)
    try:
        gemini_server.script(
            generate_path(),
            json_reply(
                wire.response(
                    [wire.text_part("PrusaSlicer 2.9.3 is the latest release.")],
                    grounding=wire.grounding([("https://github.example/prusa", "Releases")]),
                )
            ),
        )
        result = await searching.complete(ASK)
    finally:
        await searching.close()
    assert gemini_server.last.json["tools"] == [{"googleSearch": {}}]
    assert result.citations == (Citation(url="https://github.example/prusa", title="Releases"),)
