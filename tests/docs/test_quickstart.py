"""docs/quickstart.md, followed literally: its "Try it on this machine" commands on a fresh clone.

What a newcomer does after `git clone`: the test extracts every ```sh / ```bash block under the
"Try it on this machine" heading and runs each, unchanged, with bash in a fresh `git clone` of
this repository (the committed tree, as CI checks it out). Nothing else is run, so the page and
this test cannot drift apart: change the commands there and this runs the new ones.

Two things differ from a newcomer's machine, both to keep this test to a couple of minutes
instead of the tens of minutes a cold `scripts/setup` takes:
- the `git clone` from GitHub (under "Get the code") is a local clone of this checkout; and
- the clone's scripts use this checkout's virtual environments (the documented `JARVIS_VENV`,
  `JARVIS_ADDON_VENV`, ... variables of scripts/lib/common.sh). `scripts/setup` then finds every
  venv built for the same requirements (its stamps) and skips pip, which is exactly its
  idempotent path; it still checks the Debian packages and the interpreters.
The dev instance's state goes to a temporary `JARVIS_DEV_DIR` on a free port, so a developer's
own `.dev/` and port 8123 are left alone.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import subprocess
import time

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "docs" / "quickstart.md"
SECTION = "Try it on this machine"
VENVS = {
    "JARVIS_VENV": ".venv",
    "JARVIS_ADDON_VENV": ".venv-addon",
    "JARVIS_OCTOPRINT_VENV": ".venv-octoprint",
    "JARVIS_MOONRAKER_VENV": ".venv-moonraker",
    "JARVIS_TRIPOSR_VENV": ".venv-triposr",
}
FENCE = re.compile(r"^```(sh|bash)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def section_commands(markdown: str, heading: str) -> list[str]:
    """The sh/bash blocks under a `## heading`, up to the next `## ` heading."""
    match = re.search(
        rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.MULTILINE | re.DOTALL
    )
    assert match, f"no '## {heading}' section in {QUICKSTART}"
    return [block.strip() for _lang, block in FENCE.findall(match.group(1))]


def test_section_extraction() -> None:
    page = "## A\n```sh\nnot me\n```\n## Try\ntext\n```bash\necho 1\n```\n```yaml\nx: 1\n```\n"
    assert section_commands(page, "Try") == ["echo 1"]


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_quickstart_on_a_fresh_clone(tmp_path: Path) -> None:
    commands = section_commands(QUICKSTART.read_text(), SECTION)
    assert commands, f"no sh/bash commands under '{SECTION}'"
    clone = tmp_path / "jarvis"
    subprocess.run(
        ["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, capture_output=True
    )
    env = {
        **os.environ,
        **{name: str(ROOT / folder) for name, folder in VENVS.items()},
        "JARVIS_DEV_DIR": str(tmp_path / "dev"),
        "JARVIS_DEV_PORT": "0",
    }
    outputs = []
    for command in commands:
        start = time.monotonic()
        # Each block as the reader would paste it into a terminal in the clone; a failing
        # command fails the test with its output.
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        output = result.stdout + result.stderr
        # Shown with -s, and in the report when the test fails: what ran and how long it took.
        print(f"$ {command}  ({time.monotonic() - start:.0f} s)\n{output[-2000:]}")  # noqa: T201
        assert result.returncode == 0, f"`{command}` failed ({result.returncode}):\n{output}"
        outputs.append(output)
    # What the page promises the reader sees at the end.
    assert "CHECK OK  Jarvis answered" in outputs[-1], outputs[-1]
    # The dev instance stopped everything it started (it removes its pid file last).
    assert not (tmp_path / "dev" / "pids.json").exists()
