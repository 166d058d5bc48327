"""Pure code under test here: no Home Assistant instance needed."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the parent's (which needs hass)."""


@pytest.fixture(autouse=True)
def ha_core() -> None:
    """Override the parent's (which needs hass)."""
