"""create_provider builds the right provider for each kind; what every kind shares."""

from __future__ import annotations

import pytest

from custom_components.jarvis.router.providers import create_provider
from custom_components.jarvis.router.providers.base import (
    LocalModelStatus,
    Provider,
    ProviderUnavailableError,
)
from custom_components.jarvis.router.types import CompletionRequest, Message, ProviderKind
from tests.support.fake_providers.base import collect, refused_url

ASK = CompletionRequest(messages=(Message(role="user", content="Hello?"),), max_output_tokens=16)


@pytest.mark.parametrize("kind", list(ProviderKind))
async def test_every_kind_builds_a_provider(kind: ProviderKind) -> None:
    provider = create_provider(
        kind,
        model="some-model",
        base_url="http://127.0.0.1:9/v1",
        api_key="key",
        timeout=5.0,
    )
    try:
        assert isinstance(provider, Provider)
        assert isinstance(provider, LocalModelStatus) == (kind is ProviderKind.OLLAMA)
        assert provider.kind is kind
        assert provider.model == "some-model"
    finally:
        await provider.close()


async def test_kind_may_be_its_string_value() -> None:
    provider = create_provider(
        "ollama",  # type: ignore[arg-type]
        model="m",
        base_url="http://127.0.0.1:9",
        api_key=None,
        timeout=5.0,
        keep_alive="10m",
    )
    assert provider.kind is ProviderKind.OLLAMA
    assert getattr(provider, "keep_alive", None) == "10m"
    await provider.close()


def test_unknown_kind_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a valid ProviderKind"):
        create_provider(
            "mystery",  # type: ignore[arg-type]
            model="m",
            base_url=None,
            api_key="k",
            timeout=5.0,
        )


@pytest.mark.parametrize("kind", list(ProviderKind))
async def test_connection_refused_is_unavailable(kind: ProviderKind) -> None:
    # Each SDK (or our own client) raises its own connection error; all must map to one type.
    base_url = refused_url() + ("/v1" if kind is ProviderKind.OPENAI_COMPATIBLE else "")
    provider = create_provider(kind, model="m", base_url=base_url, api_key="key", timeout=2.0)
    try:
        with pytest.raises(ProviderUnavailableError):
            await provider.complete(ASK)
        with pytest.raises(ProviderUnavailableError):
            await collect(provider.stream(ASK))
    finally:
        await provider.close()
