"""Metrics have their textbook values; calibrators fit what they should and serialize as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from models.calibrator import Calibrator, sigmoid
from training.calibration import ISOTONIC_MIN_SESSIONS, choose_calibrator, fit_isotonic, fit_platt
from training.metrics import binary_metrics, expected_calibration_error, top_fraction_scores


def test_ece_is_small_for_calibrated_and_large_for_shifted_probabilities(rng: np.random.Generator) -> None:
    p = rng.uniform(0.0, 1.0, 200_000)
    y = (rng.random(p.size) < p).astype(float)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, np.clip(p + 0.1, 0, 1)) > 0.08


def test_ece_of_a_constant_is_its_gap_to_the_base_rate() -> None:
    y = np.array([1.0, 0.0, 0.0, 0.0])
    assert expected_calibration_error(y, np.full(4, 0.5)) == pytest.approx(0.25)


def test_top_fraction_precision_and_recall() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 1], dtype=float)
    score = np.arange(10, 0, -1, dtype=float)  # the first rows rank highest
    assert top_fraction_scores(y, score, 0.2) == (1.0, pytest.approx(2 / 3))
    assert top_fraction_scores(y, score, 0.3) == (pytest.approx(2 / 3), pytest.approx(2 / 3))


def test_ties_are_broken_by_a_seeded_shuffle_not_row_order() -> None:
    y = np.r_[np.ones(500), np.zeros(500)]
    flat = np.zeros(1000)
    precision, _ = top_fraction_scores(y, flat, 0.1, seed=3)
    assert 0.35 < precision < 0.65  # row order would have given 1.0


def test_binary_metrics_for_a_perfect_ranking() -> None:
    y = np.array([0, 0, 1, 1], dtype=float)
    metrics = binary_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]), top_fractions=(0.5,))
    assert metrics["roc_auc"] == 1.0
    assert metrics["pr_auc"] == 1.0
    assert metrics["precision_at_50pct"] == 1.0
    assert metrics["brier"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.01) / 4)


def test_ranking_only_scores_have_no_probability_metrics() -> None:
    metrics = binary_metrics(np.array([0.0, 1.0]), np.array([0.0, 5.0]), probability=False)
    assert "ece" not in metrics
    assert "brier" not in metrics
    assert metrics["roc_auc"] == 1.0


def test_single_class_segment_has_undefined_auc() -> None:
    metrics = binary_metrics(np.zeros(5), np.linspace(0.1, 0.5, 5))
    assert np.isnan(metrics["roc_auc"])


def test_platt_recovers_a_known_link(rng: np.random.Generator) -> None:
    raw = rng.normal(0.0, 2.0, 100_000)
    y = (rng.random(raw.size) < sigmoid(0.5 * raw - 1.0)).astype(float)
    fitted = fit_platt(raw, y)
    assert fitted.a == pytest.approx(0.5, abs=0.03)
    assert fitted.b == pytest.approx(-1.0, abs=0.03)


def test_platt_stays_finite_on_separable_scores() -> None:
    raw = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    fitted = fit_platt(raw, (raw > 0).astype(float))
    assert np.isfinite([fitted.a, fitted.b]).all()


def test_isotonic_matches_scikit_learn_and_round_trips_through_json(rng: np.random.Generator) -> None:
    raw = rng.normal(0.0, 1.5, 5_000)
    y = (rng.random(raw.size) < sigmoid(raw)).astype(float)
    fitted = fit_isotonic(raw, y)
    reference = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    probe = np.linspace(-6, 6, 1001)
    expected = np.clip(reference.predict(probe), 1e-6, 1 - 1e-6)
    np.testing.assert_allclose(fitted.apply(probe), expected, rtol=0, atol=1e-12)
    again = Calibrator.model_validate(json.loads(json.dumps(fitted.model_dump())))
    np.testing.assert_array_equal(again.apply(probe), fitted.apply(probe))


def test_auto_keeps_calibrated_scores_rescales_bad_ones_and_bends_with_isotonic(
    rng: np.random.Generator,
) -> None:
    raw = rng.normal(0.0, 1.0, 2_000)
    y = (rng.random(raw.size) < sigmoid(raw)).astype(float)
    chosen, scores = choose_calibrator(raw, y, "auto", seed=0)
    assert set(scores) == {"none", "isotonic", "platt"}
    assert chosen.kind == "identity"  # already probabilities: `none` is a valid choice
    overconfident = 3.0 * raw
    chosen, scores = choose_calibrator(overconfident, y, "auto", seed=0)
    assert chosen.kind == "platt"
    assert scores["platt"] < scores["none"]
    raw = rng.normal(0.0, 2.0, 50_000)
    bent = np.where(raw > 0, 0.9, 0.1)  # a step no sigmoid can follow
    y = (rng.random(raw.size) < bent).astype(float)
    chosen, scores = choose_calibrator(raw, y, "auto", seed=0)
    assert chosen.kind == "isotonic"
    assert scores["isotonic"] < scores["platt"]


def test_auto_keeps_isotonic_off_a_slice_too_small_for_its_end_steps(rng: np.random.Generator) -> None:
    raw = rng.normal(0.0, 2.0, ISOTONIC_MIN_SESSIONS - 1)
    y = (rng.random(raw.size) < np.where(raw > 0, 0.9, 0.1)).astype(float)
    chosen, scores = choose_calibrator(raw, y, "auto", seed=0)
    assert scores["isotonic"] < scores["platt"]  # recorded, yet not chosen
    assert chosen.kind == "platt"
    assert choose_calibrator(raw, y, "isotonic", seed=0)[0].kind == "isotonic"  # asked for: given


def test_calibrator_refuses_unsorted_thresholds() -> None:
    with pytest.raises(ValueError, match="non-decreasing"):
        Calibrator(kind="isotonic", x=[0.0, -1.0], y=[0.1, 0.2])
