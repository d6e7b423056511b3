"""Capacity that fits the data: with a few thousand labelled sessions, a small cluster with a
high dissatisfaction rate is still learned (a leaf may be as small as the cluster)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.config import LightGBMParams, TrainConfig
from training.train import train


def _cluster_table(rng: np.random.Generator, n: int = 3_000, cluster: int = 50) -> pd.DataFrame:
    """`n` sessions over 12 weeks, 5 % dissatisfied, except `cluster` sessions spread over the
    range that met one payment error and are dissatisfied 10x as often."""
    start = pd.Timestamp("2026-01-05", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 84, n)), unit="D")
    hit = np.zeros(n, dtype=bool)
    hit[rng.choice(n, cluster, replace=False)] = True
    label = rng.random(n) < np.where(hit, 0.5, 0.05)
    return pd.DataFrame(
        {
            "session_id": [f"s{i}" for i in range(n)],
            "user_id": [f"u{i % 1_200}" for i in range(n)],
            "session_start": start,
            "session_end": start + pd.Timedelta(minutes=10),
            "label": label.astype(np.float64),
            "label_known": True,
            "payment__errors": hit.astype(np.float64),
            "session__events": rng.poisson(20, n).astype(np.float64),
            "search__dwell_s": rng.exponential(60.0, n),
            "cart__visits": rng.poisson(1.0, n).astype(np.float64),
        }
    )


def test_auto_capacity_follows_the_data_size() -> None:
    params = LightGBMParams()
    small, large = params.capacity(2_000), params.capacity(1_000_000)
    assert small["min_child_samples"] < 50 <= large["min_child_samples"]
    assert (small["num_leaves"], large["num_leaves"]) == (3, 7)
    assert LightGBMParams(num_leaves=15, min_child_samples=40).capacity(2_000)["num_leaves"] == 15


@pytest.mark.parametrize("seed", [1, 2])
def test_a_cluster_of_50_sessions_at_10x_the_base_rate_is_learned(seed: int) -> None:
    table = _cluster_table(np.random.default_rng(seed))
    hit = table["payment__errors"].to_numpy() > 0
    result = train(table, TrainConfig(backtest_folds=0, bootstrap_rounds=0))
    risk = result.model.predict_proba(table)
    assert risk[hit].mean() > 0.25, risk[hit].mean()
    assert risk[hit].mean() > 4 * risk[~hit].mean()
    # The old fixed capacity (a leaf needed 200 sessions) could not split the cluster off.
    fixed = TrainConfig(backtest_folds=0, bootstrap_rounds=0, lightgbm=LightGBMParams(min_child_samples=200))
    old = train(table, fixed).model.predict_proba(table)
    assert old[hit].mean() < risk[hit].mean()
