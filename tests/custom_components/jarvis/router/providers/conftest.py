"""Fixtures for the provider tests: one loopback fake server per provider, no Home Assistant."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest

from tests.support.fake_providers.anthropic import AnthropicServer
from tests.support.fake_providers.gemini import GeminiServer
from tests.support.fake_providers.ollama import OllamaServer
from tests.support.fake_providers.openai import OpenAIServer
from tests.support.fake_providers.perplexity import PerplexityServer


@pytest.fixture
async def openai_server() -> AsyncGenerator[OpenAIServer]:
    """A Chat Completions server."""
    server = await OpenAIServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def anthropic_server() -> AsyncGenerator[AnthropicServer]:
    """A Messages API server."""
    server = await AnthropicServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def gemini_server() -> AsyncGenerator[GeminiServer]:
    """A Gemini API server."""
    server = await GeminiServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def ollama_server() -> AsyncGenerator[OllamaServer]:
    """An Ollama server."""
    server = await OllamaServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def perplexity_server() -> AsyncGenerator[PerplexityServer]:
    """A Perplexity Agent API server."""
    server = await PerplexityServer().start()
    yield server
    await server.stop()
