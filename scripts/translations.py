"""Generate custom_components/jarvis/translations/en.json from strings.json.

Home Assistant resolves `[%key:...%]` references only for core integrations at build time;
a custom integration ships resolved text, so we resolve them here against HA's own
strings.json. Run with the project venv: `.venv/bin/python scripts/translations.py`
(`--check` exits 1 if en.json is stale; the test suite runs that check).
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import sys
from typing import Any

import homeassistant

ROOT = Path(__file__).resolve().parent.parent
INTEGRATION = ROOT / "custom_components" / "jarvis"
REF = re.compile(r"\[%key:([a-z0-9_:]+)%\]")


def _lookup(tree: dict[str, Any], path: str) -> str:
    node: Any = tree
    for part in path.split("::"):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"unresolvable translation reference [%key:{path}%]")
        node = node[part]
    if not isinstance(node, str):
        raise KeyError(f"reference [%key:{path}%] is not a string")
    return node


def resolve(strings: Any, common: dict[str, Any], own: dict[str, Any]) -> Any:
    """Replace every reference: `common::…` from HA, `component::jarvis::…` from our own strings."""
    if isinstance(strings, dict):
        return {key: resolve(value, common, own) for key, value in strings.items()}
    if isinstance(strings, str):

        def sub(match: re.Match[str]) -> str:
            path = match.group(1)
            if path.startswith("component::jarvis::"):
                return resolve(_lookup(own, path.removeprefix("component::jarvis::")), common, own)
            return _lookup(common, path)

        return REF.sub(sub, strings)
    return strings


def build() -> str:
    """The en.json text strings.json implies."""
    common = json.loads((Path(homeassistant.__file__).parent / "strings.json").read_text())
    own = json.loads((INTEGRATION / "strings.json").read_text())
    return json.dumps(resolve(own, common, own), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    target = INTEGRATION / "translations" / "en.json"
    text = build()
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            print(f"{target} is stale: run scripts/translations.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
