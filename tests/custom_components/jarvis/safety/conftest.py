"""Safety tests: a loopback UniFi Access console, a scripted cloud model, and the suite's counts."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
import pytest

from tests.support.fake_providers.openai import OpenAIServer
from tests.support.fake_unifi_access import FakeUnifiAccess

# Filled by the prompt-injection suite, printed at the end of the run (with or without -s).
INJECTION_COUNTS: dict[str, Any] = {}


@pytest.fixture(autouse=True)
async def demo_platforms(hass: HomeAssistant) -> AsyncGenerator[None]:
    """HA's demo integration sets up only the platforms these tests use (as HA's own tests do)."""
    with patch(
        "homeassistant.components.demo.COMPONENTS_WITH_CONFIG_ENTRY_DEMO_PLATFORM",
        [Platform.CAMERA, Platform.LOCK, Platform.SWITCH],
    ):
        yield
        for entry in hass.config_entries.async_entries("demo"):
            await hass.config_entries.async_unload(entry.entry_id)


@pytest.fixture
async def cloud() -> AsyncGenerator[OpenAIServer]:
    """The scripted cloud model."""
    server = await OpenAIServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def unifi(tmp_path: Path) -> AsyncGenerator[FakeUnifiAccess]:
    """The UniFi Access console (HTTPS, self-signed)."""
    console = await FakeUnifiAccess().start(tmp_path)
    yield console
    await console.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the prompt-injection suite's counts."""
    if not INJECTION_COUNTS:
        return
    terminalreporter.section("prompt-injection suite")
    for key, value in INJECTION_COUNTS.items():
        terminalreporter.write_line(f"{key}: {value}")
