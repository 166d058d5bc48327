"""Small pure helpers of the agent."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.jarvis.agent import acted_on


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            {
                "data": {
                    "success": [
                        {"name": "Bench", "type": "entity", "id": "light.bench"},
                        {"name": "Shop", "type": "area", "id": "shop"},
                        {"name": "Odd", "type": "entity"},
                        "junk",
                    ],
                    "failed": [{"name": "Fan", "type": "entity", "id": "fan.x"}],
                }
            },
            ["light.bench"],
        ),
        ({"data": {"success": "light.bench"}}, []),
        ({"data": "nope"}, []),
        ({"error": "HomeAssistantError", "error_text": "no"}, []),
        ("plain text", []),
        (None, []),
    ],
)
def test_acted_on_reads_only_succeeded_entities(result: Any, expected: list[str]) -> None:
    assert acted_on(result) == expected
