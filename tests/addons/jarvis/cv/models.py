"""A one-split tree model for the CV tests: the learned layer deciding on one named feature."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jarvis_addon.cv import learned


def stump_spec(
    features: list[str], feature: str, threshold: float, **decision: float
) -> dict[str, Any]:
    """A model naming `features`, one split on `feature`: log-odds -3 at or below `threshold`,
    +3 above (probability 0.95); a pause after 2 such frames in a row unless `decision` says."""
    return {
        "format": learned.MODEL_FORMAT,
        "features": features,
        "feature_version": learned.FEATURE_VERSION,
        "init": 0.0,
        "learning_rate": 1.0,
        "decision": {"threshold": 0.9, "consecutive": 2, "warn": 0.5, **decision},
        "trees": [
            {
                "feature": [features.index(feature)] * 3,
                "threshold": [threshold, 0.0, 0.0],
                "left": [1, -1, -1],
                "right": [2, -1, -1],
                "value": [0.0, -3.0, 3.0],
            }
        ],
    }


def stump_model(tmp_path: Path, feature: str, threshold: float) -> Path:
    """A model file naming only `feature`, split at `threshold` (see stump_spec)."""
    path = tmp_path / f"stump-{feature}.json"
    path.write_text(json.dumps(stump_spec([feature], feature, threshold)))
    return path
