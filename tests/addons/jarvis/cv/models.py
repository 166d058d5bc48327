"""A one-split tree model for the CV tests: the learned layer deciding on one named feature."""

from __future__ import annotations

import json
from pathlib import Path

from jarvis_addon.cv import learned


def stump_model(tmp_path: Path, feature: str, threshold: float) -> Path:
    """A model file: probability 0.95 when `feature` > `threshold` (0.05 else), 2 in a row."""
    spec = {
        "format": learned.MODEL_FORMAT,
        "features": [feature],
        "feature_version": learned.FEATURE_VERSION,
        "init": 0.0,
        "learning_rate": 1.0,
        "decision": {"threshold": 0.9, "consecutive": 2, "warn": 0.5},
        "trees": [
            {
                "feature": [0, 0, 0],
                "threshold": [threshold, 0.0, 0.0],
                "left": [1, -1, -1],
                "right": [2, -1, -1],
                "value": [0.0, -3.0, 3.0],
            }
        ],
    }
    path = tmp_path / f"stump-{feature}.json"
    path.write_text(json.dumps(spec))
    return path
