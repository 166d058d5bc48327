"""The arguments the held-out CV benchmarks share: which seeds, how many processes, which detector."""

from __future__ import annotations

import argparse
from typing import Any

from jarvis_addon.cv.evaluate import config_overrides
from jarvis_addon.cv.synth import HELDOUT_SEEDS


def heldout_parser(doc: str, seeds_help: str) -> argparse.ArgumentParser:
    """--seeds (from HELDOUT_SEEDS[--offset]), --jobs and a candidate --detector."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help=seeds_help)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--detector", action="append", default=[], metavar="NAME=VALUE",
        help="a candidate detector's DetectorConfig field (repeatable)",
    )  # fmt: skip
    return parser


def heldout_args(
    parser: argparse.ArgumentParser,
) -> tuple[argparse.Namespace, dict[str, Any], range]:
    """Parsed arguments, the candidate's fields and the seeds; a clear usage error otherwise."""
    args = parser.parse_args()
    try:
        overrides = config_overrides(args.detector)
    except ValueError as err:
        parser.error(f"--detector: {err}")
    if args.seeds < 1 or args.offset < 0 or args.offset + args.seeds > len(HELDOUT_SEEDS):
        parser.error(f"--offset + --seeds must be within the {len(HELDOUT_SEEDS)} held-out seeds")
    return args, overrides, HELDOUT_SEEDS[args.offset : args.offset + args.seeds]
