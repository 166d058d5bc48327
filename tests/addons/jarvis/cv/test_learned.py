"""The learned decision layer: trend features, the JSON tree model (no pickle), its checks, and
the detector's fallback to the handcrafted rule when the model cannot be used."""

from __future__ import annotations

import copy
import importlib.util
import json
import math
from pathlib import Path
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from jarvis_addon.cv import learned
from jarvis_addon.cv.detector import Detector, DetectorConfig, Level
from jarvis_addon.cv.evaluate import run_both
from jarvis_addon.cv.synth import make_sequence

from .models import stump_spec

ROOT = Path(__file__).resolve().parents[4]


def _cv_train() -> Any:
    spec = importlib.util.spec_from_file_location("cv_train", ROOT / "benchmarks" / "cv_train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cv_train"] = module
    spec.loader.exec_module(module)
    return module


def tiny_spec(**decision: float) -> dict[str, Any]:
    """One stump on `area` (feature 0): log-odds -3 below 0.5, +3 above."""
    return stump_spec(list(learned.FEATURE_NAMES), "area", 0.5, **decision)


def test_trend_aggregates() -> None:
    hist = learned.FeatureHistory()
    n = len(learned.RAW_FEATURES)
    area = learned.RAW_FEATURES.index("area")
    for k in range(30):
        raw = np.zeros(n)
        raw[area] = 2.0 * k  # a steady rise: slope 2 per frame
        full = hist.push(raw)
    assert full.shape == (len(learned.FEATURE_NAMES),)
    names = learned.FEATURE_NAMES
    assert full[names.index("area_slope6")] == pytest.approx(2.0)
    assert full[names.index("area_max12")] == pytest.approx(58.0)
    assert full[names.index("area_min24")] == pytest.approx(12.0)
    assert full[names.index("area_mean6")] == pytest.approx(53.0)
    assert full[names.index("corr_slope24")] == 0.0
    hist.clear()
    one = hist.push(np.ones(n))
    assert one[names.index("area_slope6")] == 0.0 and one[names.index("area_mean24")] == 1.0
    with pytest.raises(ValueError, match="raw features"):
        hist.push(np.zeros(n + 1))


def test_tree_model_evaluates_and_rejects_bad_specs() -> None:
    model = learned.TreeModel(tiny_spec())
    x = np.zeros((2, len(learned.FEATURE_NAMES)))
    x[1, 0] = 1.0
    assert model.predict_proba(x) == pytest.approx(1 / (1 + np.exp([3.0, -3.0])))

    def bad(mutate: Any, message: str) -> None:
        spec = copy.deepcopy(tiny_spec())
        mutate(spec)
        with pytest.raises(learned.ModelError, match=message):
            learned.TreeModel(spec)

    bad(lambda s: s.update(format="pickle"), "format")
    bad(lambda s: s.update(features=[*s["features"][:-1], "telepathy"]), "feature list")
    bad(lambda s: s.update(features=[s["features"][0]] * 2), "unknown or repeated")
    bad(lambda s: s.update(features=[]), "no feature list")
    # Trained on features measured another way (or before versions existed): another scale.
    bad(lambda s: s.pop("feature_version"), "measured by version 1")
    bad(lambda s: s.update(feature_version=3), "measured by version 3")
    bad(lambda s: s.pop("trees"), "malformed")
    bad(lambda s: s.update(trees=[]), "no trees")
    bad(lambda s: s["trees"][0].update(left=[0, -1, -1]), "invalid node")  # a cycle
    bad(lambda s: s["trees"][0].update(feature=[9999, 0, 0]), "invalid node")
    bad(lambda s: s["trees"][0].update(value=[0.0, -3.0]), "different lengths")
    bad(lambda s: s["trees"][0].update(threshold=[float("nan"), 0.0, 0.0]), "invalid node")
    bad(lambda s: s["decision"].update(threshold=1.5), "decision needs")
    bad(lambda s: s["decision"].update(consecutive=0), "decision needs")
    bad(lambda s: s["decision"].update(window=1), "consecutive <= window")  # shorter than 2
    bad(lambda s: s["decision"].update(window=99), "window <= 24")
    bad(lambda s: s["decision"].update(override=-1.0), "override >= 0")
    bad(lambda s: s.update(init="x"), "malformed")
    with pytest.raises(learned.ModelError, match="JSON object"):
        learned.TreeModel([])  # type: ignore[arg-type]


def test_a_model_naming_fewer_features_reads_them_by_name() -> None:
    # A model trained before features were added (or without some, an ablation) names its
    # columns; its trees' indices are into that list, mapped onto the detector's vector.
    names = [n for n in learned.FEATURE_NAMES if not n.startswith("area")]
    spec = tiny_spec()
    spec["features"] = names
    spec["trees"][0]["feature"] = [names.index("lost")] * 3  # the stump, on `lost` now
    model = learned.TreeModel(spec)
    assert model.features == tuple(names)
    x = np.zeros((3, len(learned.FEATURE_NAMES)))
    x[1, learned.FEATURE_NAMES.index("lost")] = 1.0
    x[2, names.index("lost")] = 1.0  # the detector's column at the model's own index: not it
    assert learned.FEATURE_NAMES[names.index("lost")] != "lost"
    assert model.predict_proba(x) == pytest.approx(1 / (1 + np.exp([3.0, -3.0, 3.0])))


def test_bundled_model_loads_and_is_small() -> None:
    model = learned.load_model()
    assert model.n_trees >= 10 and 0 < model.warn <= model.threshold < 1
    assert learned.BUNDLED_MODEL.stat().st_size < 600_000
    assert "train_seeds" in json.loads(learned.BUNDLED_MODEL.read_text())["meta"]


def test_numpy_trees_match_sklearn() -> None:
    sk = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(learned.FEATURE_NAMES)))
    y = (x[:, 0] + 0.5 * x[:, 3] * x[:, 7] + rng.normal(0, 0.3, 400)) > 0
    clf = sk.HistGradientBoostingClassifier(max_iter=30, max_depth=3, random_state=0).fit(x, y)
    spec = _cv_train().export(clf, 0.9, 2, 0.5, {"train_seeds": "test"})
    spec = json.loads(json.dumps(spec))  # through JSON, as shipped
    model = learned.TreeModel(spec)
    probe = rng.normal(size=(200, len(learned.FEATURE_NAMES)))
    np.testing.assert_allclose(
        model.predict_proba(probe), clf.predict_proba(probe)[:, 1], atol=1e-9
    )
    # An ablation (`train --without`): fitted on fewer columns, exported with their names,
    # evaluated on the detector's full vector.
    cv_train = _cv_train()
    columns = cv_train.feature_columns(["lost", "corr"])
    names = [learned.FEATURE_NAMES[i] for i in columns]
    assert "lost" not in names and "lost_max6" not in names and "corr_slope24" not in names
    assert "lost_share" in names and "area" in names
    assert "lost_steady" in names and "lost_steady_max6" in names  # names, not prefixes
    assert len(names) == len(learned.FEATURE_NAMES) - 2 - 2 * 12
    clf = sk.HistGradientBoostingClassifier(max_iter=30, max_depth=3, random_state=0)
    clf.fit(x[:, columns], y)
    spec = json.loads(json.dumps(cv_train.export(clf, 0.9, 2, 0.5, {}, names)))
    np.testing.assert_allclose(
        learned.TreeModel(spec).predict_proba(probe),
        clf.predict_proba(probe[:, columns])[:, 1],
        atol=1e-9,
    )
    with pytest.raises(SystemExit, match="telepathy"):
        cv_train.feature_columns(["telepathy"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "unreadable"),
        (json.dumps({"format": "jarvis-cv-gbt-0"}), "format"),
        (None, "no such model file"),
    ],
)
def test_unusable_model_falls_back_to_the_handcrafted_rule(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "model.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(learned.ModelError, match=message):
        learned.load_model(path)
    det = Detector(DetectorConfig(model_path=str(path)))
    assert det.model is None and det.model_error is not None
    assert message in det.model_error and "handcrafted" in det.model_error
    # It decides exactly as the handcrafted rule does: a failure it catches is caught.
    seq = make_sequence(2, "detachment")
    fallback, _ = run_both(seq, DetectorConfig(model_path=str(path)), baseline=False)
    hand, _ = run_both(seq, DetectorConfig(decision="handcrafted"), baseline=False)
    assert fallback.first_pause == hand.first_pause and fallback.caught


def test_learned_decision_counts_consecutive_frames(tmp_path: Path) -> None:
    # The stump model: probability 0.95 once area >= 0.5; a pause needs 2 such frames in a
    # row; the frame before is a warning.
    path = tmp_path / "stump.json"
    path.write_text(json.dumps(tiny_spec()))
    det = Detector(DetectorConfig(model_path=str(path)))
    assert det.model is not None
    seq = make_sequence(2, "detachment")
    levels = []
    for frame in seq.frames():
        from jarvis_addon.cv.frames import decode

        r = det.process(decode(frame.jpeg, color=True)[0])
        levels.append((r.level, r.features[0] if r.features else None, r.probability))
        if r.level is Level.PAUSE:
            break
    assert levels[-1][0] is Level.PAUSE
    assert levels[-1][1] is not None and levels[-1][1] >= 0.5
    assert levels[-2][0] is Level.WARNING and levels[-2][1] is not None and levels[-2][1] >= 0.5
    assert all(a is not None and a < 0.5 for _, a, p in levels[:-2] if p is not None)


def test_pause_rule_counts_runs_and_the_override() -> None:
    # The one counter the detector uses and cv_train replays: 2 frames at 0.9, or 3 frames
    # with the EWMA at 4.0; a miss breaks a run, a reset forgets it.
    rule = learned.PauseRule(0.9, 2, 4.0, 3)
    assert [rule.step(p, 0.0) for p in (0.95, 0.5, 0.95, 0.97)] == [False, False, False, True]
    rule.reset()
    assert not rule.step(0.95, 0.0)
    rule.reset()
    assert [rule.step(0.1, e) for e in (4.0, 5.0, 3.9, 4.0, 4.0, 4.5)] == [
        False, False, False, False, False, True,
    ]  # fmt: skip
    off = learned.PauseRule(0.9, 2, 0.0, 3)  # override 0: never
    assert not any(off.step(0.1, 99.0) for _ in range(10))
    # 3 of the last 4 frames: one dip does not start the count over, two do.
    window = learned.PauseRule(0.9, 3, 0.0, 3, window=4)
    assert [window.step(p, 0.0) for p in (0.95, 0.5, 0.95, 0.96)] == [False] * 3 + [True]
    window.reset()
    assert not any(window.step(p, 0.0) for p in (0.95, 0.5, 0.5, 0.95, 0.95, 0.2))


def test_the_grids_fast_replay_pauses_where_the_detectors_rule_does() -> None:
    train = _cv_train()
    rng = np.random.default_rng(0)
    checked = paused = 0
    for _ in range(300):
        n = int(rng.integers(1, 60))
        d = {
            "ready": rng.random(n) < 0.85,
            "reset": rng.random(n) < 0.05,
            "ewma": rng.uniform(0, 6, n),
            "index": np.arange(n) + 100,
        }
        p = rng.uniform(0.6, 1.0, n)
        t = float(rng.choice([0.8, 0.9, 0.95]))
        k = int(rng.integers(1, 6))
        rule = (t, k, float(rng.choice([0.0, 3.0, 5.0])), int(rng.integers(1, 10)))
        expected = train.first_pause(p, d, *rule)
        assert train.first_pause_fast(p, d, *rule) == expected, (rule, d, p)
        checked += 1
        paused += expected is not None
    assert checked == 300 and 50 < paused < 280  # both outcomes exercised


def test_rule_choice_counts_false_pauses_over_every_tuning_hour() -> None:
    key = _cv_train().rule_key

    def scores(false: int, hours: float, recall: float = 0.5, p90: float = 50.0) -> dict[str, Any]:
        return {"false": false, "hours": hours, "recall": recall, "p90": p90}

    # None on the select slice but 15 on the training seeds loses to one within the rate.
    spotless_select = key(scores(0, 31, 0.52), scores(15, 118), (0.93, 5, 4.0, 5), 1.0)
    within = key(scores(0, 31, 0.38), scores(1, 118), (0.95, 6, 12.0, 6), 1.0)
    assert within < spotless_select
    # Within the rate: the most recall wins, then the shorter p90.
    assert key(scores(1, 31, 0.6), scores(0, 118), (0.9, 2, 0.0, 2), 1.0) < within
    assert key(scores(0, 31, 0.38, 40.0), scores(0, 118), (0.9, 2, 0.0, 2), 1.0) < within
    # A tie keeps the highest override rather than none; none at all beats 15 over the rate.
    tie = (scores(0, 31, 0.38), scores(1, 118))
    assert key(*tie, (0.95, 6, 12.0, 6), 1.0) < key(*tie, (0.95, 6, 0.0, 6), 1.0)
    assert key(*tie, (0.95, 6, 12.0, 6), 1.0) < key(*tie, (0.95, 6, 12.0, 8), 1.0)  # a run
    assert key(scores(0, 31, 0.0, float("nan")), scores(0, 118), (0.99, 8, 0.0, 8), 1.0) < (
        spotless_select
    )


def test_training_rows_weigh_each_failure_sequence_and_its_kind() -> None:
    rows = _cv_train().training_rows
    n = len(learned.FEATURE_NAMES)

    def seq(kind: str, frames: int, onset: int) -> dict[str, Any]:
        return {
            "kind": kind, "onset": onset, "index": np.arange(frames),
            "ready": np.ones(frames, bool), "X": np.zeros((frames, n)),
        }  # fmt: skip

    seqs = [seq("detachment", 30, 10), seq("blob", 50, 10), seq("clean", 40, -1)]
    _, y, w = rows(seqs, 100.0, 0, {"detachment": 3.0})
    # Onset + SETTLE on are failing; each failure sequence's frames sum to its weight.
    settle = _cv_train().SETTLE
    assert int(y.sum()) == (30 - 10 - settle) + (50 - 10 - settle)
    first, second = len(seqs[0]["index"]) - settle, len(seqs[1]["index"]) - settle
    assert w[:first][y[:first]].sum() == pytest.approx(300.0)
    assert w[first : first + second][y[first : first + second]].sum() == pytest.approx(100.0)
    assert (w[~y] == 1.0).all()


def test_bad_decision_name() -> None:
    with pytest.raises(ValueError, match="decision"):
        DetectorConfig(decision="neural")


async def test_monitor_logs_an_unusable_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import aiohttp

    from jarvis_addon.cameras.http_sources import UrlSnapshotSource
    from jarvis_addon.cv.monitor import CameraMonitor, CameraSpec

    from .printer_link import LocalPrinters

    bad_model = tmp_path / "model.json"
    bad_model.write_text("[]")
    async with aiohttp.ClientSession() as session:
        spec = CameraSpec("cam", "mk4", UrlSnapshotSource(session, "http://127.0.0.1:9/snap.jpg"))
        with caplog.at_level("WARNING"):
            mon = CameraMonitor(
                spec,
                LocalPrinters("mk4"),
                None,  # type: ignore[arg-type]  # nothing is published: no job starts
                tmp_path,
                config=DetectorConfig(model_path=str(bad_model)),
            )
    assert mon.detector.model is None
    assert "JSON object" in caplog.text and "handcrafted" in caplog.text


def test_out_of_fold_rule_choice_ranks_recall_and_delay_over_both_slices() -> None:
    train = _cv_train()

    def scores(caught: int, of: int, delays: list[float], false: int, hours: float) -> Any:
        per_kind = {k: [0, 0] for k in ("spaghetti", "detachment", "blob")}
        per_kind["detachment"] = [caught, of]
        return train._with_summary(
            {"caught": per_kind, "false": false, "hours": hours, "delays": delays}
        )

    # A: better on the 66 select failures, worse on the 700 training ones (out of fold).
    a = (scores(40, 66, [40.0] * 40, 0, 31), scores(300, 700, [50.0] * 300, 1, 118))
    b = (scores(38, 66, [40.0] * 38, 0, 31), scores(420, 700, [50.0] * 420, 1, 118))
    rule = (0.95, 6, 12.0, 8)
    assert train.rule_key(*a, rule, 1.0) < train.rule_key(*b, rule, 1.0)
    assert train.rule_key(*b, rule, 1.0, pool=True) < train.rule_key(*a, rule, 1.0, pool=True)
    both = train.pooled(*b)
    assert both["caught"]["detachment"] == [458, 766]
    assert both["recall"] == pytest.approx(458 / 766)
    assert (both["false"], both["hours"], both["p90"]) == (1, 149, 50.0)
    # The false-pause rate still comes first: over it, recall does not matter.
    over = (scores(60, 66, [40.0] * 60, 1, 31), scores(690, 700, [40.0] * 690, 2, 118))
    assert train.rule_key(*b, rule, 1.0, pool=True) < train.rule_key(*over, rule, 1.0, pool=True)


def test_a_candidate_detectors_features_are_cached_apart() -> None:
    train = _cv_train()
    default = train.cache_dir()
    try:
        train.OVERRIDES.update({"size_switch": 0.6})
        candidate = train.cache_dir()
    finally:
        train.OVERRIDES.clear()
    assert candidate.name.startswith(default.name + "-") and train.cache_dir() == default


@pytest.mark.parametrize(
    ("pair", "message"),
    [("decision=handcrafted", "leave decision alone"), ("window=2", "window must be 3-15")],
)
def test_training_refuses_a_detector_it_cannot_extract_with(pair: str, message: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_train.py"), "extract", "--seeds", "0",
         "--detector", pair],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_separability_scores_a_feature_by_its_windowed_medians() -> None:
    train = _cv_train()
    d = {
        "raw": np.array([[0.0], [9.0], [0.0], [1.0], [1.0], [1.0], [5.0]]),
        "ready": np.array([True, True, True, True, True, False, True]),
        "index": np.array([0, 1, 2, 4, 5, 6, 7]),  # frame 3 unwatched (paused)
    }
    med = train.rolling_median(d, 0, 3)
    # One frame's spike (9) moves no median; an unready frame is left out of its windows.
    assert np.isnan(med[:2]).all()
    assert med[2:].tolist() == [0.0, 1.0, 1.0, 1.0, 3.0]
    assert train.span_max(med, d["index"], 4, 3) == 1.0  # frames 4-6
    assert train.span_max(med, d["index"], 7, 5) == 3.0
    assert np.isnan(train.span_max(med, d["index"], 20, 5))
    # AUC: 1 separates all, 0.5 nothing (ties count half), 0 all the other way round.
    assert train.separability([2.0, 3.0], [0.0, 1.0, 1.0]) == (1.0, 1.0)
    assert train.separability([1.0, 1.0], [1.0, 1.0])[0] == 0.5
    assert train.separability([0.0], [1.0, 2.0, math.nan]) == (0.0, 0.0)
    assert np.isnan(train.separability([], [1.0])[0])


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--features", "area,telepathy"], 1, "not raw features: telepathy"),
        (["--seeds", "990-999"], 1, "run `extract` for them first"),
        (["--window", "0"], 2, "must be at least 1"),
        (["--seeds", "100000"], 1, "only tuning seeds"),
    ],
)
def test_separate_refuses_what_it_cannot_score(argv: list[str], code: int, message: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_train.py"), "separate", *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == code and message in proc.stderr, proc.stderr
