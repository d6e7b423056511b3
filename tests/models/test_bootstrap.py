"""Bootstrap totals over sessions: Poisson(1) resampling, the same draws for every grouping."""

from __future__ import annotations

import numpy as np

from models.bootstrap import bootstrap_totals, percentile_interval


def test_resampled_totals_spread_as_the_bootstrap_says(rng: np.random.Generator) -> None:
    n = 50_000  # more than one block of sessions
    values = np.column_stack([np.ones(n), rng.exponential(size=n)])
    days = np.sort(rng.integers(0, 7, n))
    (overall, by_day) = bootstrap_totals(values, [(np.zeros(n, dtype=np.int64), 1), (days, 7)], 600, seed=3)
    assert overall.shape == (600, 1, 2)
    assert by_day.shape == (600, 7, 2)
    # Each session is drawn Poisson(1) times: the count of sessions drawn has mean n and sd sqrt(n).
    drawn = overall[:, 0, 0]
    assert abs(drawn.mean() - n) < 4 * np.sqrt(n / 600)
    assert 0.9 < drawn.std() / np.sqrt(n) < 1.1
    # A total's spread: sqrt(sum of squares), the standard error of a sum over resampled sessions.
    assert 0.9 < overall[:, 0, 1].std() / np.sqrt((values[:, 1] ** 2).sum()) < 1.1
    # The groups share the draws: per draw they add up to the total.
    np.testing.assert_allclose(by_day.sum(axis=1), overall[:, 0, :], rtol=1e-5)
    again = bootstrap_totals(values, [(np.zeros(n, dtype=np.int64), 1)], 600, seed=3)[0]
    np.testing.assert_array_equal(again, overall)
    low, high = percentile_interval(overall[:, 0, 1])
    assert low < values[:, 1].sum() < high
