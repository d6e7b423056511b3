"""What learning is compared with, on the same holdout.

- Rule baseline, as session-replay tools compute frustration (PostHog): a session is
  frustrated with >= 2 rage clicks, >= 3 errors, or 1 rage click and 2 errors, counted over
  the session's touchpoints. For non-negative counts R, E that rule is exactly 3R + 2E >= 6,
  so the weighted count (3R + 2E) / 6 ranks sessions and is >= 1 exactly when flagged.
- Logistic regression on the same features (numerics standardized, context one-hot).
- Oracle: the simulator's true probability, matched by session id.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from features.errors import SchemaError
from models.manifest import FeatureManifest

__all__ = ["LogisticBaseline", "fit_logistic", "oracle_scores", "rule_columns", "rule_flag", "rule_score"]

RAGE_SUFFIX = "__rage_clicks"
ERROR_SUFFIX = "__errors"
# Session-level totals repeat the touchpoint counts: use them only when no touchpoint has its own.
SESSION_PREFIX = "session__"


def rule_columns(columns: list[str], suffix: str) -> list[str]:
    found = [c for c in columns if c.endswith(suffix)]
    per_touchpoint = [c for c in found if not c.startswith(SESSION_PREFIX)]
    return per_touchpoint or found


def _total(table: pd.DataFrame, suffix: str) -> np.ndarray:
    names = rule_columns([str(c) for c in table.columns], suffix)
    if not names:
        raise SchemaError(
            f"the rule baseline needs friction counts: no column ends with `{suffix}` "
            f"(expected e.g. `payment{suffix}`)"
        )
    counts = table[names].to_numpy(dtype=np.float64, na_value=0.0)
    total: np.ndarray = np.nan_to_num(counts, nan=0.0).sum(axis=1)
    return total


def rule_score(table: pd.DataFrame) -> np.ndarray:
    """Weighted count of frustration signals, (3 * rage clicks + 2 * errors) / 6."""
    return (3.0 * _total(table, RAGE_SUFFIX) + 2.0 * _total(table, ERROR_SUFFIX)) / 6.0


def rule_flag(table: pd.DataFrame) -> np.ndarray:
    """PostHog's frustrated-session flag."""
    flagged: np.ndarray = rule_score(table) >= 1.0 - 1e-12
    return flagged


@dataclass(frozen=True)
class LogisticBaseline:
    manifest: FeatureManifest
    mean_: np.ndarray
    scale_: np.ndarray
    model_: LogisticRegression

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Probabilities for rows of a `FeatureManifest.matrix`."""
        out: np.ndarray = self.model_.predict_proba(_design(self.manifest, matrix, self.mean_, self.scale_))[
            :, 1
        ]
        return out

    def predict_proba(self, table: pd.DataFrame) -> np.ndarray:
        return self.predict_matrix(self.manifest.matrix(table, strict=False))


def _design(manifest: FeatureManifest, matrix: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    numeric = [i for i, f in enumerate(manifest.features) if f.kind == "numeric"]
    # Standardize; a missing value sits at the mean (0 after scaling).
    blocks = [np.nan_to_num((matrix[:, numeric] - mean) / scale, nan=0.0)]
    for i, spec in enumerate(manifest.features):
        if spec.kind == "categorical":
            codes = matrix[:, i]
            levels = np.arange(len(spec.categories or []), dtype=np.float64)
            blocks.append((codes[:, None] == levels[None, :]).astype(np.float64))
    return np.hstack(blocks)


def fit_logistic(
    matrix: np.ndarray, label: np.ndarray, manifest: FeatureManifest, max_rows: int, seed: int
) -> LogisticBaseline:
    """Fit on rows of a `FeatureManifest.matrix` (a seeded sample of `max_rows` at most)."""
    if len(matrix) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(matrix), size=max_rows, replace=False))
        matrix, label = matrix[keep], label[keep]
    numeric = [i for i, f in enumerate(manifest.features) if f.kind == "numeric"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: mean 0, scale 1
        mean = np.nan_to_num(np.nanmean(matrix[:, numeric], axis=0))
        scale = np.nan_to_num(np.nanstd(matrix[:, numeric], axis=0))
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit(_design(manifest, matrix, mean, scale), label)
    return LogisticBaseline(manifest=manifest, mean_=mean, scale_=scale, model_=model)


def oracle_scores(holdout: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """The true probability of each holdout session (NaN where the truth has no such session)."""
    for name in ("session_id", "p_true"):
        if name not in truth.columns:
            raise SchemaError(f"the truth frame has no `{name}` column; it needs session_id and p_true")
    lookup = truth.drop_duplicates("session_id").set_index("session_id")["p_true"]
    out: np.ndarray = lookup.reindex(holdout["session_id"]).to_numpy(dtype=np.float64, na_value=np.nan)
    return out
