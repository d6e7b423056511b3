"""Baselines: the rule is PostHog's, the logistic regression learns, the oracle matches by id."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.errors import SchemaError
from models.manifest import FeatureManifest, feature_columns
from tests.training.conftest import fast_config, world
from training.baselines import fit_logistic, oracle_scores, rule_flag, rule_score, rule_signals
from training.data import labelled_sessions
from training.metrics import binary_metrics
from training.train import TrainResult

TOUCHPOINTS = ("cart", "checkout", "payment")
counts = st.lists(st.tuples(*(st.integers(0, 4) for _ in range(6))), min_size=1, max_size=30)


@settings(deadline=None)  # timing is not the property: a shared 2-core machine runs examples slowly
@given(counts)
def test_rule_flag_is_posthogs_frustration_rule(rows: list[tuple[int, ...]]) -> None:
    data = np.array(rows, dtype=float)
    table = pd.DataFrame(
        {
            **{f"{t}__rage_clicks": data[:, i] for i, t in enumerate(TOUCHPOINTS)},
            **{f"{t}__errors": data[:, 3 + i] for i, t in enumerate(TOUCHPOINTS)},
            # Session totals must not be counted twice next to the touchpoint counts.
            "session__errors": data[:, 3:].sum(axis=1),
        }
    )
    rage, errors = data[:, :3].sum(axis=1), data[:, 3:].sum(axis=1)
    expected = (rage >= 2) | (errors >= 3) | ((rage >= 1) & (errors >= 2))
    np.testing.assert_array_equal(rule_flag(table), expected)
    assert np.all((rule_score(table) >= 1) == expected)


def test_rule_falls_back_to_session_totals() -> None:
    table = pd.DataFrame({"session__rage_clicks": [0.0, 2.0], "session__errors": [2.0, 0.0]})
    np.testing.assert_array_equal(rule_flag(table), [False, True])


def test_rule_counts_errors_alone_when_there_are_no_rage_clicks() -> None:
    # Event names only: no click target or position, so no rage clicks can be counted.
    table = pd.DataFrame({"cart__errors": [0.0, 2.0, 3.0], "payment__errors": [1.0, 1.0, 0.0]})
    assert rule_signals(list(table.columns)) == ["errors"]
    np.testing.assert_allclose(rule_score(table), [2 / 6, 6 / 6, 6 / 6])
    np.testing.assert_array_equal(rule_flag(table), [False, True, True])


def test_rule_needs_some_friction_count() -> None:
    table = pd.DataFrame({"cart__visits": [1.0]})
    assert rule_signals(list(table.columns)) == []
    with pytest.raises(SchemaError, match=r"no column ends with `__rage_clicks` or `__errors`"):
        rule_score(table)


def test_logistic_regression_learns_the_synthetic_signal() -> None:
    table, _ = world(6_000, 11)
    rows = labelled_sessions(table)
    manifest = FeatureManifest.from_table(table, feature_columns(table))
    first = rows.iloc[:3000]
    fitted = fit_logistic(manifest.matrix(first), first["label"].to_numpy(), manifest, max_rows=2_000, seed=0)
    later = rows.iloc[3000:]
    auc = binary_metrics(later["label"].to_numpy(), fitted.predict_proba(later))["roc_auc"]
    assert auc > 0.7


def test_oracle_matches_by_session_id_and_leaves_unknown_ids_missing() -> None:
    table, truth = world(2_000, 3)
    holdout = table.iloc[:5]
    partial = truth.iloc[1:].sample(frac=1.0, random_state=0)  # shuffled, first session missing
    scores = oracle_scores(holdout, partial)
    assert np.isnan(scores[0])
    np.testing.assert_array_equal(scores[1:], truth["p_true"].to_numpy()[1:5])


def test_the_metrics_say_how_many_sessions_the_logistic_baseline_saw(trained: TrainResult) -> None:
    train_sessions = trained.split_summary["train_sessions"]
    config = fast_config()
    assert trained.model.metrics["logreg_train_sessions"] == min(train_sessions, config.baseline_max_rows)
