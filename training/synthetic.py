"""A synthetic feature table with a known logistic truth, for tests, benchmarks and examples.

It is not the journey simulator (`pipelines.simulate` produces raw events); it produces the
featurizer's output directly so that training can be exercised at any size in seconds.
Risk rises with payment/checkout errors, rage clicks, a slow checkout (a threshold effect a
linear model misses), new customers failing at payment (an interaction) and Android.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.calibrator import sigmoid

__all__ = ["TOUCHPOINTS", "synthetic_feature_table"]

TOUCHPOINTS: tuple[str, ...] = ("browse", "cart", "checkout", "payment")
_PLATFORMS = (["web", "ios", "android"], [0.5, 0.3, 0.2])
_CHANNELS = (["organic", "paid", "email", "referral"], [0.4, 0.3, 0.2, 0.1])
_CUSTOMERS = (["new", "returning"], [0.35, 0.65])


def _choice(rng: np.random.Generator, n: int, values: tuple[list[str], list[float]]) -> np.ndarray:
    return np.asarray(values[0], dtype=object)[rng.choice(len(values[0]), size=n, p=values[1])]


def synthetic_feature_table(
    n_sessions: int, seed: int = 0, label_rate: float = 0.8, sessions_per_user: float = 3.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(feature table, truth): the table follows the featurizer's contract; the truth has
    `session_id`, `p_true` and the drawn outcome `y` for every session, labelled or not."""
    rng = np.random.default_rng(seed)
    n = n_sessions
    platform = _choice(rng, n, _PLATFORMS)
    customer = _choice(rng, n, _CUSTOMERS)
    android, new = platform == "android", customer == "new"
    columns: dict[str, np.ndarray] = {}
    for i, touchpoint in enumerate(TOUCHPOINTS):
        error_rate = 0.05 + 0.08 * i + 0.15 * android
        columns[f"{touchpoint}__errors"] = rng.poisson(error_rate).astype(np.float64)
        columns[f"{touchpoint}__rage_clicks"] = rng.poisson(0.04 + 0.04 * i, n).astype(np.float64)
        columns[f"{touchpoint}__dwell_s"] = np.round(rng.lognormal(3.0 + 0.2 * i, 0.8, n), 1)
    columns["session__duration_s"] = sum(columns[f"{t}__dwell_s"] for t in TOUCHPOINTS) + rng.exponential(
        30, n
    )
    columns["session__events"] = rng.poisson(12, n).astype(np.float64) + 1.0
    rage = sum(columns[f"{t}__rage_clicks"] for t in TOUCHPOINTS)
    logit = (
        -3.4
        + 0.8 * columns["payment__errors"]
        + 0.5 * columns["checkout__errors"]
        + 0.2 * columns["cart__errors"]
        + 0.6 * rage
        + 1.8 * (columns["checkout__dwell_s"] > 60)
        + 1.2 * (columns["payment__dwell_s"] > 90)
        + 1.0 * (new & (columns["payment__errors"] > 0))
        + 0.5 * android
        + 0.4 * new
    )
    p_true = sigmoid(logit)
    y = (rng.random(n) < p_true).astype(np.float64)
    known = rng.random(n) < label_rate
    start = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.random(n)) * 90 * 86400, unit="s"
    )
    session_id = pd.Series(np.arange(n)).astype("str").str.zfill(8).radd("s").to_numpy()
    user = rng.integers(0, max(1, int(n / sessions_per_user)), n)
    table = pd.DataFrame(
        {
            "session_id": pd.array(session_id, dtype="str"),
            "user_id": pd.array(pd.Series(user).astype("str").radd("u").to_numpy(), dtype="str"),
            "session_start": start.astype("datetime64[us, UTC]"),
            "session_end": (start + pd.to_timedelta(columns["session__duration_s"], unit="s")).astype(
                "datetime64[us, UTC]"
            ),
            "label": np.where(known, y, np.nan),
            "label_known": known,
            "platform": pd.array(platform, dtype="str"),
            "acquisition_channel": pd.array(_choice(rng, n, _CHANNELS), dtype="str"),
            "customer_type": pd.array(customer, dtype="str"),
            **columns,
        }
    )
    truth = pd.DataFrame({"session_id": table["session_id"], "p_true": p_true, "y": y})
    return table, truth
