"""Google Gemini through the official `google-genai` SDK (`client.aio.models`).

- The system prompt goes in `system_instruction`; assistant turns are role "model"; tool results
  are `function_response` parts in a user turn (consecutive same-role turns are merged, so one
  assistant turn's calls get their responses together). Tools are function declarations with
  their JSON schema as `parameters_json_schema`. Call ids are not sent (Gemini matches by order
  and name, as HA core's integration does).
- Gemini 3 wants each replayed function call to carry the `thought_signature` it came with. This
  provider remembers the calls it received and their signatures (by call id; in parallel calls
  only the first is signed); a call it does not know (another provider's, or from before a
  restart) gets Google's documented `skip_thought_signature_validator` sentinel on Gemini 3+.
- `finishReason: MALFORMED_FUNCTION_CALL` (the model emitted a call Gemini could not parse) is no
  error: it comes back as a ToolCall with parse_error and finish_reason "tool_calls".
- Usage: input = prompt_token_count (+ tool_use_prompt_token_count), cached = cached_content;
  thoughts are billed as output, so output = candidates + thoughts, reasoning = thoughts.
- Grounding chunks (Google Search grounding), when present, become citations. With
  `web_search` every request carries the `google_search` tool, so the model searches when the
  question needs it (a fresh-facts tier; Google bills grounded prompts beyond a free quota).

The SDK client is built in a worker thread on first use: its constructor creates SSL contexts
(blocking file I/O that must not run in HA's event loop). It always talks through an httpx
AsyncClient - HA's shared one when injected (left open by close()), else one of its own - because
without one google-genai switches to aiohttp with its own session and error types.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
import re

from google import genai
from google.genai import errors as genai_errors, types as genai_types
import httpx

from ..types import (
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
from ._common import (
    PARSE_ERRORS,
    Stopwatch,
    deadline_in,
    effective_timeout,
    error_for_status,
    new_call_id,
    next_before,
    normalise_finish,
    timeout_error,
    tool_call_from_object,
    tool_result_object,
)
from .base import ProviderAuthError, ProviderError, ProviderResponseError, ProviderUnavailableError

SKIP_SIGNATURE = b"skip_thought_signature_validator"
REMEMBERED_SIGNATURES = 512
MALFORMED_FUNCTION_CALL = "MALFORMED_FUNCTION_CALL"

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    MALFORMED_FUNCTION_CALL: "tool_calls",
}

SDK_ERRORS = (genai_errors.APIError, httpx.HTTPError, TimeoutError, ValueError)


def _major_version(model: str) -> int | None:
    match = re.search(r"gemini-(\d+)", model)
    return int(match.group(1)) if match else None


def to_gemini_tools(tools: tuple[ToolSpec, ...]) -> list[genai_types.Tool]:
    """Neutral tool specs as one Tool of function declarations."""
    if not tools:
        return []
    return [
        genai_types.Tool(
            function_declarations=[
                genai_types.FunctionDeclaration(
                    name=tool.name,
                    description=tool.description,
                    parameters_json_schema=tool.parameters,
                )
                for tool in tools
            ]
        )
    ]


def usage_from_gemini(metadata: genai_types.GenerateContentResponseUsageMetadata | None) -> Usage:
    """Gemini usage in the router's convention (thoughts billed as output)."""
    if metadata is None:
        return Usage()
    thoughts = metadata.thoughts_token_count or 0
    return Usage(
        input_tokens=(metadata.prompt_token_count or 0)
        + (metadata.tool_use_prompt_token_count or 0),
        output_tokens=(metadata.candidates_token_count or 0) + thoughts,
        cached_input_tokens=metadata.cached_content_token_count or 0,
        reasoning_tokens=thoughts,
    )


def citations_from_gemini(candidate: genai_types.Candidate) -> list[Citation]:
    """Web sources from Google Search grounding, in order, without duplicates."""
    grounding = candidate.grounding_metadata
    citations: list[Citation] = []
    for chunk in (grounding.grounding_chunks or []) if grounding else []:
        web = chunk.web
        if web is not None and web.uri and all(c.url != web.uri for c in citations):
            citations.append(Citation(url=web.uri, title=web.title or ""))
    return citations


def malformed_function_call(message: str | None) -> ToolCall:
    """A ToolCall for finishReason MALFORMED_FUNCTION_CALL.

    finishMessage, when the SDK keeps it, quotes what the model wrote, e.g.
    "print(default_api.HassTurnOn(name='kitchen'".
    """
    text = message or "the model produced a malformed function call"
    match = re.search(r"default_api[.:]([A-Za-z_]\w*)", text)
    return ToolCall(
        id=new_call_id(),
        name=match.group(1) if match else "",
        arguments={},
        raw_arguments=message,
        parse_error=text,
    )


def translate_error(err: Exception, timeout: float) -> ProviderError:
    """A google-genai / transport exception as the router's typed error."""
    if isinstance(err, (TimeoutError, httpx.TimeoutException)):
        return timeout_error(timeout)
    if isinstance(err, httpx.TransportError):
        return ProviderUnavailableError(f"cannot reach Gemini: {err}")
    if isinstance(err, genai_errors.APIError):
        message = f"{err.status}: {err.message}" if err.status else str(err.message)
        # An invalid key is a 400 INVALID_ARGUMENT whose details say API_KEY_INVALID.
        if "API_KEY_INVALID" in str(err.details) or "API_KEY_INVALID" in message:
            return ProviderAuthError(f"HTTP {err.code}: {message}")
        return error_for_status(int(err.code or 0), message)
    return ProviderResponseError(f"unreadable answer: {err}")


class _Answer:
    """What one answer (or one stream, chunk by chunk) has said so far."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: list[ToolCall] = []
        self.finish: str | None = None
        self.usage = Usage()
        self.citations: list[Citation] = []
        self.model = ""
        self.answered = False  # a candidate, or a prompt block, arrived

    def add(
        self,
        response: genai_types.GenerateContentResponse,
        signatures: OrderedDict[str, bytes | None],
    ) -> list[str]:
        """Take in one response (or chunk); returns its new text pieces."""
        if response.usage_metadata is not None:
            self.usage = usage_from_gemini(response.usage_metadata)
        self.model = response.model_version or self.model
        if not response.candidates:
            feedback = response.prompt_feedback
            if feedback is not None and feedback.block_reason is not None:
                self.finish = "content_filter"
                self.answered = True
            return []
        self.answered = True
        candidate = response.candidates[0]
        pieces: list[str] = []
        for part in (candidate.content.parts or []) if candidate.content else []:
            if part.thought:
                continue
            if part.function_call is not None:
                call = part.function_call
                call_id = call.id or new_call_id()
                self.calls.append(tool_call_from_object(call_id, call.name or "", call.args))
                # Remembered with or without one: in parallel calls only the first is signed.
                signatures[call_id] = part.thought_signature or None
                while len(signatures) > REMEMBERED_SIGNATURES:
                    signatures.popitem(last=False)
            elif part.text:
                pieces.append(part.text)
        self.text.extend(pieces)
        for citation in citations_from_gemini(candidate):
            if all(c.url != citation.url for c in self.citations):
                self.citations.append(citation)
        if candidate.finish_reason is not None:
            raw = str(candidate.finish_reason.value)
            if raw == MALFORMED_FUNCTION_CALL:
                self.calls.append(malformed_function_call(candidate.finish_message))
            self.finish = raw
        return pieces

    def completion(self, fallback_model: str) -> Completion:
        if not self.answered:
            raise ProviderResponseError("the answer has no candidates and no prompt feedback")
        finish = normalise_finish(self.finish, FINISH_REASONS)
        if self.calls and finish == "stop":
            finish = "tool_calls"
        return Completion(
            text="".join(self.text),
            tool_calls=tuple(self.calls),
            finish_reason=finish,
            usage=self.usage,
            model=self.model or fallback_model,
            citations=tuple(self.citations),
        )


class GeminiProvider:
    """One Gemini model on the Gemini API (generateContent / streamGenerateContent)."""

    kind = ProviderKind.GEMINI

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None,
        timeout: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
        web_search: bool = False,
    ) -> None:
        """Gemini needs an API key; base_url defaults to Google's endpoint."""
        if not api_key:
            raise ValueError("Gemini needs an API key")
        self.model = model
        self.web_search = web_search
        self.timeout = timeout
        self._api_key = api_key
        self._base_url = base_url
        self._http_client = http_client
        self._own_http_client: httpx.AsyncClient | None = None
        self._client: genai.Client | None = None
        self._client_lock = asyncio.Lock()
        self._signatures: OrderedDict[str, bytes | None] = OrderedDict()

    def _build_client(self) -> tuple[genai.Client, httpx.AsyncClient | None]:
        """Runs in a worker thread: the SDK loads certificates while it is constructed."""
        own = None if self._http_client is not None else httpx.AsyncClient()
        options = genai_types.HttpOptions(
            base_url=self._base_url,
            timeout=int(self.timeout * 1000),
            httpx_async_client=self._http_client or own,
        )
        return genai.Client(api_key=self._api_key, http_options=options), own

    async def _sdk(self) -> genai.Client:
        async with self._client_lock:
            client = self._client
            if client is None:
                built, self._own_http_client = await asyncio.to_thread(self._build_client)
                self._client = client = built
            return client

    def _contents(self, messages: tuple[Message, ...]) -> list[genai_types.Content]:
        names = {call.id: call.name for m in messages for call in m.tool_calls}
        sign = (_major_version(self.model) or 0) >= 3
        contents: list[genai_types.Content] = []
        for message in messages:
            parts: list[genai_types.Part]
            if message.role == "system":
                continue
            if message.role == "tool":
                role = "user"
                parts = [
                    genai_types.Part(
                        function_response=genai_types.FunctionResponse(
                            name=message.name or names.get(message.tool_call_id or "", ""),
                            response=tool_result_object(message.content),
                        )
                    )
                ]
            elif message.role == "assistant":
                role = "model"
                parts = [genai_types.Part(text=message.content)] if message.content else []
                for call in message.tool_calls:
                    if call.id in self._signatures:
                        signature = self._signatures[call.id]
                    else:
                        signature = SKIP_SIGNATURE if sign else None
                    parts.append(
                        genai_types.Part(
                            function_call=genai_types.FunctionCall(
                                name=call.name, args=call.arguments
                            ),
                            thought_signature=signature,
                        )
                    )
            else:
                role = "user"
                parts = [genai_types.Part(text=message.content)] if message.content else []
            if not parts:
                continue
            last = contents[-1] if contents else None
            if last is not None and last.role == role and last.parts is not None:
                last.parts.extend(parts)
            else:
                contents.append(genai_types.Content(role=role, parts=parts))
        return contents

    def _config(
        self, request: CompletionRequest, timeout: float
    ) -> genai_types.GenerateContentConfig:
        system = "\n\n".join(
            m.content for m in request.messages if m.role == "system" and m.content
        )
        config = genai_types.GenerateContentConfig(
            max_output_tokens=request.max_output_tokens,
            automatic_function_calling=genai_types.AutomaticFunctionCallingConfig(disable=True),
            http_options=genai_types.HttpOptions(timeout=int(timeout * 1000)),
        )
        if system:
            config.system_instruction = system
        tools = to_gemini_tools(request.tools)
        if self.web_search:
            tools.append(genai_types.Tool(google_search=genai_types.GoogleSearch()))
        if tools:
            config.tools = list(tools)
        if request.temperature is not None:
            config.temperature = request.temperature
        if request.json_schema is not None:
            config.response_mime_type = "application/json"
            config.response_json_schema = request.json_schema
        return config

    async def complete(self, request: CompletionRequest) -> Completion:
        """One generateContent call."""
        timeout = effective_timeout(self.timeout, request)
        client = await self._sdk()
        watch = Stopwatch()
        try:
            async with asyncio.timeout(timeout):
                response = await client.aio.models.generate_content(
                    model=self.model,
                    contents=self._contents(request.messages),  # type: ignore[arg-type]
                    config=self._config(request, timeout),
                )
        except SDK_ERRORS as err:
            raise translate_error(err, timeout) from err
        answer = _Answer()
        try:
            answer.add(response, self._signatures)
        except PARSE_ERRORS as err:
            raise ProviderResponseError(f"malformed answer: {err}") from err
        completion = answer.completion(self.model)
        return _with_times(completion, watch.latency_ms, None)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[TextDelta | Completion]:
        """StreamGenerateContent (SSE): TextDelta per text part, then one Completion."""
        timeout = effective_timeout(self.timeout, request)
        client = await self._sdk()
        deadline = deadline_in(timeout)
        watch = Stopwatch()
        answer = _Answer()
        chunks: AsyncIterator[genai_types.GenerateContentResponse] | None = None
        try:
            async with asyncio.timeout_at(deadline):
                chunks = await client.aio.models.generate_content_stream(
                    model=self.model,
                    contents=self._contents(request.messages),  # type: ignore[arg-type]
                    config=self._config(request, timeout),
                )
            while True:
                try:
                    chunk = await next_before(chunks, deadline)
                except StopAsyncIteration:
                    break
                calls_before = len(answer.calls)
                for piece in answer.add(chunk, self._signatures):
                    watch.first_content()
                    yield TextDelta(piece)
                if len(answer.calls) > calls_before:
                    watch.first_content()
        except SDK_ERRORS as err:
            raise translate_error(err, timeout) from err
        except PARSE_ERRORS as err:
            raise ProviderResponseError(f"malformed stream chunk: {err}") from err
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        yield _with_times(answer.completion(self.model), watch.latency_ms, watch.ttft_ms)

    async def close(self) -> None:
        """Close what this provider opened; an injected (HA-shared) httpx client stays open."""
        if self._own_http_client is not None:
            await self._own_http_client.aclose()
            self._own_http_client = None
        if self._client is not None:
            self._client.close()  # the SDK's sync client (never used, but opened)
            self._client = None


def _with_times(completion: Completion, latency_ms: float, ttft_ms: float | None) -> Completion:
    return Completion(
        text=completion.text,
        tool_calls=completion.tool_calls,
        finish_reason=completion.finish_reason,
        usage=completion.usage,
        model=completion.model,
        citations=completion.citations,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
    )
