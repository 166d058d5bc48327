"""Cost of a call from its usage, and the conservative estimate before it."""

from __future__ import annotations

import pytest

from custom_components.jarvis.router.pricing import (
    cost_usd,
    estimate_cost_usd,
    estimate_tokens,
    request_prompt_chars,
)
from custom_components.jarvis.router.types import (
    CompletionRequest,
    Message,
    Price,
    ToolCall,
    ToolSpec,
    Usage,
)

HAIKU = Price(
    input_per_mtok=1.0, output_per_mtok=5.0, cached_input_per_mtok=0.1, cache_write_per_mtok=1.25
)


def test_input_and_output_tokens_at_their_prices() -> None:
    usage = Usage(input_tokens=2_000, output_tokens=500)
    assert cost_usd(usage, HAIKU) == pytest.approx(2_000 * 1.0e-6 + 500 * 5.0e-6)


def test_reported_cost_wins_over_the_price_table() -> None:
    usage = Usage(input_tokens=2_000, output_tokens=500, reported_cost_usd=0.0123)
    assert cost_usd(usage, HAIKU) == 0.0123
    assert cost_usd(Usage(reported_cost_usd=0.0), HAIKU) == 0.0


def test_cached_and_cache_written_tokens_are_priced_separately() -> None:
    # input_tokens includes the cached and the cache-written tokens.
    usage = Usage(
        input_tokens=10_000, cached_input_tokens=6_000, cache_write_tokens=3_000, output_tokens=100
    )
    expected = (1_000 * 1.0 + 6_000 * 0.1 + 3_000 * 1.25 + 100 * 5.0) / 1e6
    assert cost_usd(usage, HAIKU) == pytest.approx(expected)


def test_unset_cache_prices_fall_back_to_the_input_price() -> None:
    price = Price(input_per_mtok=2.0, output_per_mtok=8.0)
    usage = Usage(input_tokens=1_000, cached_input_tokens=900, cache_write_tokens=100)
    assert cost_usd(usage, price) == pytest.approx(1_000 * 2.0e-6)


def test_parts_reported_separately_are_not_subtracted() -> None:
    # A usage that breaks the inclusive convention (cached > input): input counts as uncached.
    usage = Usage(input_tokens=100, cached_input_tokens=5_000)
    assert cost_usd(usage, HAIKU) == pytest.approx((100 * 1.0 + 5_000 * 0.1) / 1e6)


def test_per_request_fee_is_added() -> None:
    price = Price(input_per_mtok=1.0, output_per_mtok=1.0, per_request=0.005)
    assert cost_usd(Usage(input_tokens=1_000, output_tokens=1_000), price) == pytest.approx(0.007)
    assert cost_usd(Usage(), price) == pytest.approx(0.005)
    assert cost_usd(Usage(input_tokens=10**6), Price()) == 0.0


def test_estimate_rounds_tokens_up_and_assumes_the_full_output_allowance() -> None:
    assert estimate_tokens(4_000) == 1_000
    assert estimate_tokens(4_001) == 1_001
    assert estimate_tokens(0) == 0
    price = Price(input_per_mtok=1.0, output_per_mtok=5.0, per_request=0.001)
    assert estimate_cost_usd(4_000, 512, price) == pytest.approx(1_000e-6 + 512 * 5e-6 + 0.001)


def test_estimate_is_not_below_a_typical_actual_cost() -> None:
    prompt = "Turn on the bench lamp in the workshop, please. " * 40
    actual = cost_usd(
        Usage(input_tokens=len(prompt) // 4, output_tokens=60, cached_input_tokens=200), HAIKU
    )
    assert estimate_cost_usd(len(prompt), 512, HAIKU) > actual


def test_prompt_chars_count_messages_tool_calls_and_tool_specs() -> None:
    base = CompletionRequest(messages=(Message(role="user", content="hello"),))
    assert request_prompt_chars(base) == len("hello") + len("user")
    tool = ToolSpec(
        "HassTurnOn", "Turns on", {"type": "object", "properties": {"name": {"type": "string"}}}
    )
    with_tool = CompletionRequest(messages=base.messages, tools=(tool,))
    schema_chars = len('{"type":"object","properties":{"name":{"type":"string"}}}')
    assert (
        request_prompt_chars(with_tool)
        == request_prompt_chars(base) + len("HassTurnOn") + len("Turns on") + schema_chars
    )
    call = ToolCall(
        id="1", name="HassTurnOn", arguments={"name": "x"}, raw_arguments='{"name":"x"}'
    )
    history = CompletionRequest(
        messages=(*base.messages, Message(role="assistant", tool_calls=(call,)))
    )
    assert (
        request_prompt_chars(history)
        == request_prompt_chars(base) + len("assistant") + len("HassTurnOn") + 12
    )
