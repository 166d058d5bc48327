"""What a call cost (from its usage) and what it may cost (before it is made).

Pure: prices come from configuration (types.Price), never from code.

Token convention (the providers normalise to it): `Usage.input_tokens` counts the whole prompt,
cached and cache-written tokens included (OpenAI's `prompt_tokens`, Gemini's
`prompt_token_count`); Anthropic reports them separately, so its provider adds
`cache_read_input_tokens` and `cache_creation_input_tokens` into `input_tokens`. When a usage
breaks the convention (cached + written > input), `input_tokens` is taken as the uncached part.
`output_tokens` already includes reasoning tokens, which are billed as output.
"""

from __future__ import annotations

import json
import math

from .types import CompletionRequest, Price, Usage

PER_MTOK = 1_000_000
# About four characters per token for English prose and JSON. The estimate rounds up and
# assumes every allowed output token is used and nothing is cached: it must not under-run.
CHARS_PER_TOKEN = 4.0


def cost_usd(usage: Usage, price: Price) -> float:
    """What one call cost; a cost the provider reported (Perplexity) wins over the price table."""
    if usage.reported_cost_usd is not None:
        return max(0.0, usage.reported_cost_usd)
    cached = max(0, usage.cached_input_tokens)
    written = max(0, usage.cache_write_tokens)
    total_in = max(0, usage.input_tokens)
    uncached = total_in - cached - written
    if uncached < 0:  # the provider reported the three parts separately
        uncached = total_in
    cached_price = (
        price.input_per_mtok if price.cached_input_per_mtok is None else price.cached_input_per_mtok
    )
    write_price = (
        price.input_per_mtok if price.cache_write_per_mtok is None else price.cache_write_per_mtok
    )
    tokens_cost = (
        uncached * price.input_per_mtok
        + cached * cached_price
        + written * write_price
        + max(0, usage.output_tokens) * price.output_per_mtok
    ) / PER_MTOK
    return tokens_cost + price.per_request


def estimate_tokens(chars: int) -> int:
    """Tokens for this many characters, rounded up."""
    return math.ceil(max(0, chars) / CHARS_PER_TOKEN)


def estimate_cost_usd(prompt_chars: int, max_output_tokens: int, price: Price) -> float:
    """An upper-end estimate before the call: uncached prompt plus the full output allowance."""
    return (
        estimate_tokens(prompt_chars) * price.input_per_mtok
        + max(0, max_output_tokens) * price.output_per_mtok
    ) / PER_MTOK + price.per_request


def request_prompt_chars(request: CompletionRequest) -> int:
    """Characters the provider will tokenise as the prompt: messages, tool calls and tool specs."""
    chars = 0
    for message in request.messages:
        chars += len(message.content) + len(message.role)
        for call in message.tool_calls:
            chars += len(call.name) + len(
                call.raw_arguments
                if call.raw_arguments is not None
                else json.dumps(call.arguments, default=str)
            )
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description)
        chars += len(json.dumps(tool.parameters, separators=(",", ":"), default=str))
    if request.json_schema is not None:
        chars += len(json.dumps(request.json_schema, separators=(",", ":"), default=str))
    return chars
