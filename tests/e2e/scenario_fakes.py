"""Provider fakes whose scripted answers take the shape the request asks for.

The router buffers every candidate but the last and streams the last one, and which one is last
depends on the agent and on what failed before; a scenario only says what the model answers
(`Say`), and the server renders it as a whole completion or as a stream, in its provider's wire
format (tests/support/fake_providers builds the bodies).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
import json
from typing import Any

from aiohttp import web

from tests.support.fake_providers import anthropic as ant, openai as oai, perplexity as ppx
from tests.support.fake_providers.base import FakeServer, Reply


@dataclass(frozen=True)
class Say:
    """What the model answers: text, or one tool call; sure of its tokens or not."""

    text: str = ""
    tool: str | None = None
    args: dict[str, Any] | None = None
    sure: bool = True
    tokens_in: int = 400
    tokens_out: int = 20
    cost: float = 0.0  # Perplexity bills an exact cost


class _Adaptive(FakeServer):
    """Renders a scripted (or default) `Say` for the request at hand."""

    def render(self, say: Say, stream: bool) -> Reply:
        raise NotImplementedError

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()  # cached: the base handler reads it again
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        stream = bool(body.get("stream"))
        queue = self._scripts.get(request.path)
        if queue and isinstance(queue[0], Say):
            queue[0] = self.render(_offered(queue[0], body), stream)
        elif not queue and isinstance(default := self._defaults.get(request.path), Say):
            reply = self.render(_offered(default, body), stream)
            self._scripts.setdefault(request.path, deque()).append(reply)
        return await super()._handle(request)


def _offered(say: Say, body: dict[str, Any]) -> Say:
    """Call the tool by the name it was offered under, as a model does.

    With several LLM APIs, HA namespaces each API's tools (`<api>__<tool>`).
    """
    if say.tool is None:
        return say
    names = [
        (t.get("function") or {}).get("name") or t.get("name") for t in body.get("tools") or []
    ]
    if say.tool in names:
        return say
    namespaced = [n for n in names if isinstance(n, str) and n.endswith(f"__{say.tool}")]
    return replace(say, tool=namespaced[0]) if namespaced else say


def _logprobs(text: str, sure: bool) -> list[dict[str, Any]]:
    words = text.split() or ["."]
    if sure:
        return [oai.token_logprob(w, -0.01, [(w, -0.01), ("x", -6.0)]) for w in words]
    return [oai.token_logprob(w, -1.2, [(w, -1.2), ("y", -1.3)]) for w in words]


class OpenAIFake(_Adaptive, oai.OpenAIServer):
    """Chat Completions (OpenAI, and the OpenAI-compatible local server)."""

    def render(self, say: Say, stream: bool) -> Reply:
        usage = oai.usage(say.tokens_in, say.tokens_out)
        if say.tool is not None:
            raw = json.dumps(say.args or {})
            if stream:
                chunks = oai.tool_call_chunks([("call_1", say.tool, [raw[:5], raw[5:]])])
                return oai.stream_reply([*chunks, oai.usage_chunk(usage)])
            return Reply(
                json=oai.completion(
                    None,
                    tool_calls=[oai.tool_call("call_1", say.tool, raw)],
                    finish_reason="tool_calls",
                    usage_body=usage,
                    logprobs=_logprobs("call", say.sure),
                )
            )
        if stream:
            words = say.text.split(" ")
            pieces = [w if i == 0 else f" {w}" for i, w in enumerate(words)]
            return oai.stream_reply([*oai.text_chunks(pieces), oai.usage_chunk(usage)])
        return Reply(
            json=oai.completion(say.text, usage_body=usage, logprobs=_logprobs(say.text, say.sure))
        )


class AnthropicFake(_Adaptive, ant.AnthropicServer):
    """Messages API."""

    def render(self, say: Say, stream: bool) -> Reply:
        if say.tool is not None:
            if stream:
                raw = json.dumps(say.args or {})
                return ant.stream_reply(
                    ant.stream_events(
                        [("tool_use", "toolu_1", say.tool, [raw])],
                        stop_reason="tool_use",
                        start_usage=ant.usage(say.tokens_in, 1),
                        output_tokens=say.tokens_out,
                    )
                )
            return Reply(
                json=ant.message(
                    [ant.tool_use_block("toolu_1", say.tool, say.args or {})],
                    stop_reason="tool_use",
                    usage_body=ant.usage(say.tokens_in, say.tokens_out),
                )
            )
        if stream:
            return ant.stream_reply(
                ant.stream_events(
                    [("text", [say.text])],
                    start_usage=ant.usage(say.tokens_in, 1),
                    output_tokens=say.tokens_out,
                )
            )
        return Reply(
            json=ant.message(
                [ant.text_block(say.text)], usage_body=ant.usage(say.tokens_in, say.tokens_out)
            )
        )


class PerplexityFake(_Adaptive, ppx.PerplexityServer):
    """Agent API (`/v1/responses`), with a citation and the exact cost."""

    def render(self, say: Say, stream: bool) -> Reply:
        source = ("https://octoprint.org/blog/", "OctoPrint blog")
        final = ppx.response(
            [
                ppx.search_results([source]),
                ppx.message_item(say.text, [ppx.annotation(*source, 0, len(say.text))]),
            ],
            usage_body=ppx.usage(say.tokens_in, say.tokens_out, total_cost=say.cost),
        )
        if stream:
            return ppx.stream_reply(ppx.stream_events([say.text], final))
        return Reply(json=final)
