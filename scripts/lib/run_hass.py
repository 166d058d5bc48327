"""Start Home Assistant (`hass`) from this repo's venv, tolerating pyenv's Python 3.13.0.

HA 2026.2.3 refuses to start below Python 3.13.2; on 3.13.0 it runs fine (its whole test suite
does), so when scripts/setup had to fall back to 3.13.0 we lower the floor and say so.
"""

from __future__ import annotations

import sys

import homeassistant.__main__ as ha_main


def main() -> int:
    """Run hass with the arguments given to this script."""
    running = tuple(sys.version_info[:3])
    if running < ha_main.REQUIRED_PYTHON_VER:
        required = ".".join(map(str, ha_main.REQUIRED_PYTHON_VER))
        print(
            f"WARNING: Python {'.'.join(map(str, running))} is older than the {required} Home "
            "Assistant asks for; running anyway (development only).",
            file=sys.stderr,
        )
        ha_main.REQUIRED_PYTHON_VER = running  # type: ignore[misc]
    sys.argv[0] = "hass"
    return ha_main.main()


if __name__ == "__main__":
    sys.exit(main())
