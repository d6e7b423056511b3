"""Training end to end on synthetic data: quality, calibration, behaviour, determinism, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.errors import FeatureMismatchError
from tests.training.conftest import fast_config, world
from training.config import TrainConfig, TuneConfig
from training.errors import TrainingDataError
from training.train import FIT_STAGE, TrainResult, train

METRIC_KEYS = ("roc_auc", "pr_auc", "brier", "ece", "log_loss", "rule_baseline_roc_auc", "logreg_roc_auc")


def test_model_beats_the_rule_and_nears_the_oracle(trained: TrainResult) -> None:
    table = trained.evaluation.table
    assert table.loc["model", "roc_auc"] > table.loc["rule_baseline", "roc_auc"] + 0.08
    assert table.loc["model", "roc_auc"] > table.loc["oracle", "roc_auc"] - 0.04
    assert table.loc["model", "ece"] < 0.05
    assert table.loc["model", "precision_at_5pct"] > table.loc["model", "positive_rate"] * 2


def test_metrics_json_has_the_contract_keys(trained: TrainResult) -> None:
    metrics = trained.model.metrics
    for key in (*METRIC_KEYS, "oracle_roc_auc", "precision_at_5pct", "recall_at_10pct"):
        assert isinstance(metrics[key], float), key
    assert metrics["oracle_coverage"] == 1.0
    assert set(metrics["table"]) == {"model", "uncalibrated", "logreg", "rule_baseline", "oracle"}
    segments = pd.DataFrame(metrics["segments"])
    assert set(segments["segment"]) == {"platform", "customer_type"}
    assert set(segments.loc[segments["segment"] == "customer_type", "value"]) == {"new", "returning"}


def test_calibration_lowers_ece_on_the_holdout() -> None:
    # Balanced class weights inflate the booster's probabilities; calibration must undo it.
    table, truth = world(20_000, 5)
    result = train(table, fast_config(class_weight="balanced"), truth=truth)
    ece = result.evaluation.table["ece"]
    assert ece["uncalibrated"] > 0.06
    assert ece["model"] < ece["uncalibrated"] / 2
    assert ece["model"] < 0.035


def test_adding_payment_errors_never_lowers_risk_on_average(trained: TrainResult) -> None:
    holdout = trained.holdout
    before = trained.model.predict_proba(holdout)
    for extra in (1.0, 2.0):
        after = trained.model.predict_proba(
            holdout.assign(payment__errors=holdout["payment__errors"] + extra)
        )
        assert after.mean() > before.mean()
        assert (after >= before - 1e-12).mean() > 0.95


def test_changing_the_session_id_never_changes_the_risk(trained: TrainResult) -> None:
    holdout = trained.holdout
    renamed = holdout.assign(session_id=holdout["session_id"].str.upper() + "-renamed")
    np.testing.assert_array_equal(trained.model.predict_proba(renamed), trained.model.predict_proba(holdout))


def test_row_order_does_not_change_a_rows_risk(trained: TrainResult) -> None:
    holdout = trained.holdout
    shuffled = holdout.sample(frac=1.0, random_state=2)
    risk = pd.Series(trained.model.predict_proba(holdout), index=holdout.index)
    np.testing.assert_array_equal(trained.model.predict_proba(shuffled), risk.loc[shuffled.index].to_numpy())


def test_training_is_deterministic_and_leaves_the_table_untouched() -> None:
    table, truth = world(3_000, 8)
    before = table.copy()
    first = train(table, fast_config(), truth=truth)
    second = train(table, fast_config(), truth=truth)
    np.testing.assert_array_equal(first.holdout_scores["model"], second.holdout_scores["model"])
    assert first.model.booster.model_to_string() == second.model.booster.model_to_string()
    pd.testing.assert_frame_equal(table, before)


def test_context_columns_are_native_categoricals(trained: TrainResult) -> None:
    manifest = trained.model.manifest
    assert manifest.categorical == ["platform", "acquisition_channel", "customer_type"]
    spec = next(f for f in manifest.features if f.name == "platform")
    assert spec.categories == ["android", "ios", "web"]
    dumped = trained.model.booster.dump_model()
    assert [dumped["feature_names"][i] for i in manifest.categorical_indices] == manifest.categorical
    # Native categorical splits test set membership ("=="), not thresholds.
    assert "platform" in _categorical_split_features(dumped)


def _categorical_split_features(dumped: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    stack = [tree["tree_structure"] for tree in dumped["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_feature" in node:
            if node["decision_type"] == "==":
                found.add(dumped["feature_names"][node["split_feature"]])
            stack += [node["left_child"], node["right_child"]]
    return found


def test_an_explicit_feature_list_is_all_the_model_reads() -> None:
    table, _ = world(3_000, 8)
    chosen = ["payment__errors", "checkout__errors", "platform"]
    result = train(table, fast_config(features=chosen))
    assert result.model.manifest.names == chosen
    assert result.model.predict_proba(table, strict=False).shape == (len(table),)


def test_a_table_from_another_config_is_refused(trained: TrainResult) -> None:
    other = trained.holdout.rename(columns={"payment__errors": "pay__errors"})
    with pytest.raises(FeatureMismatchError, match=r"lacks 1 feature column.*`payment__errors`"):
        trained.model.predict_proba(other)
    extra = trained.holdout.assign(support__errors=0.0)
    with pytest.raises(FeatureMismatchError, match=r"does not know: `support__errors`.*another config"):
        trained.model.predict_proba(extra)


def test_an_unknown_explicit_feature_is_named() -> None:
    table, _ = world(3_000, 8)
    with pytest.raises(FeatureMismatchError, match=r"`payment__erors`.*did you mean `payment__errors`"):
        train(table, fast_config(features=["payment__erors"]))


def test_no_labelled_sessions_and_a_single_class_stop_training() -> None:
    table, _ = world(3_000, 8)
    with pytest.raises(TrainingDataError, match="no labelled sessions"):
        train(table.assign(label_known=False), fast_config())
    with pytest.raises(TrainingDataError, match="a model needs both classes"):
        train(table.assign(label=np.where(table["label_known"], 1.0, np.nan)), fast_config())


def test_timings_separate_lightgbms_fit_from_the_rest(trained: TrainResult) -> None:
    stages = {k: v for k, v in trained.timings.items() if k != "total_s"}
    assert f"{FIT_STAGE}_s" in stages
    assert {"split_s", "calibration_s", "evaluation_s"} <= set(stages)
    assert sum(stages.values()) <= trained.timings["total_s"] + 1e-6


def test_tuning_runs_trials_on_validation_and_records_them() -> None:
    table, truth = world(3_000, 8)
    config = fast_config(tune=TuneConfig(trials=4, max_rounds=60, timeout_s=60))
    result = train(table, config, truth=truth)
    tuning = result.model.card.training["tuning"]
    assert tuning["trials"] == 4
    assert tuning["best_valid_log_loss"] > 0
    assert "learning_rate" in result.model.card.params
    assert result.model.metrics["tuning"]["trials"] == 4


def test_train_config_is_strict_and_hashable() -> None:
    with pytest.raises(ValueError, match="holdout_fraction"):
        TrainConfig(holdout_fraction=1.5)
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        TrainConfig.model_validate({"holdout_fractoin": 0.1})
    assert TrainConfig().digest() == TrainConfig().digest() != TrainConfig(seed=1).digest()
