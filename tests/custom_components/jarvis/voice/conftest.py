"""Voice tests use the safety tests' workshop: demo devices, the UniFi console, a cloud model."""

from __future__ import annotations

from ..safety.conftest import cloud, demo_platforms, unifi

__all__ = ["cloud", "demo_platforms", "unifi"]
