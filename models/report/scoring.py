"""Score every session once, in blocks, keeping only what the report's tables need.

Per session: calibrated risk, raw log-odds, band and the contribution summed by scope
(`models.explain.by_touchpoint`). Per feature: its contribution summed over the sessions that
visited the feature's touchpoint (what `moments of truth` splits into signal families).
Full per-feature contributions are kept only for a seeded sample (the SHAP plots); the
riskiest sessions are re-explained on their own. Memory is O(block x features), not
O(sessions x features).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.artifact import BASE_VALUE, FrictionModel
from models.explain import NON_TOUCHPOINT_SCOPES, by_touchpoint, scope_of
from models.report.config import ReportConfig

__all__ = ["Scored", "score_all", "touchpoints_of"]


@dataclass(frozen=True, eq=False)
class Scored:
    """Every session scored; `sessions` has a RangeIndex aligned with the feature table."""

    sessions: pd.DataFrame  # session_id, session_start, risk, raw, band
    scopes: pd.DataFrame  # log-odds per scope (touchpoints, then session/funnel/context)
    visited: pd.DataFrame  # bool per touchpoint: the session visited it
    feature_totals: pd.Series  # per feature: contribution summed over its touchpoint's visitors
    base_value: float
    sample: pd.DataFrame  # sampled feature rows (plots only)
    sample_contributions: pd.DataFrame  # their contributions, base included

    @property
    def touchpoints(self) -> list[str]:
        return [str(c) for c in self.scopes.columns if c not in NON_TOUCHPOINT_SCOPES]


def touchpoints_of(model: FrictionModel) -> list[str]:
    scopes = scope_of(model)
    return [s for s in dict.fromkeys(scopes.values()) if s not in NON_TOUCHPOINT_SCOPES]


def _visited(features: pd.DataFrame, touchpoints: list[str], scopes: pd.DataFrame) -> pd.DataFrame:
    """A touchpoint counts as visited when its `visits` feature is > 0; without that column,
    when its contribution is non-zero (the model saw something there)."""
    out = {}
    for touchpoint in touchpoints:
        column = f"{touchpoint}__visits"
        if column in features.columns:
            out[touchpoint] = features[column].to_numpy(dtype=np.float64, na_value=0.0) > 0
        else:
            out[touchpoint] = scopes[touchpoint].to_numpy() != 0.0
    return pd.DataFrame(out, index=features.index)


def score_all(model: FrictionModel, features: pd.DataFrame, config: ReportConfig) -> Scored:
    features = features.reset_index(drop=True)
    n = len(features)
    scope = scope_of(model)
    names = model.manifest.names
    rng = np.random.default_rng(config.seed)
    sample_rows = np.sort(rng.choice(n, size=min(n, config.plot_sample), replace=False))
    parts_scopes, parts_visited, parts_raw = [], [], []
    sample_parts = []
    totals = np.zeros(len(names))
    base = 0.0
    for start in range(0, n, config.chunk_rows):
        block = features.iloc[start : start + config.chunk_rows]
        contributions = model.contributions(block)
        scopes = by_touchpoint(model, contributions)
        touchpoints = [c for c in scopes.columns if c not in NON_TOUCHPOINT_SCOPES]
        visited = _visited(block, touchpoints, scopes)
        values = contributions[names].to_numpy()
        # Each feature summed over the rows that visited its touchpoint (all rows for the other scopes).
        weights = np.ones((len(block), len(names)), dtype=bool)
        for i, name in enumerate(names):
            if scope[name] in visited.columns:
                weights[:, i] = visited[scope[name]].to_numpy()
        totals += np.where(weights, values, 0.0).sum(axis=0)
        base = float(contributions[BASE_VALUE].iloc[0]) if len(block) else base
        parts_raw.append(contributions.sum(axis=1).to_numpy())
        parts_scopes.append(scopes)
        parts_visited.append(visited)
        inside = sample_rows[(sample_rows >= start) & (sample_rows < start + len(block))]
        sample_parts.append(contributions.loc[inside])
    raw = np.concatenate(parts_raw) if parts_raw else np.zeros(0)
    risk = model.calibrator.apply(raw)
    sessions = pd.DataFrame(
        {
            "session_id": features["session_id"].astype("str").to_numpy(),
            "session_start": features["session_start"],  # a Series: keeps its datetime dtype and zone
            "risk": risk,
            "raw": raw,
            "band": pd.array(model.band(risk), dtype="str"),
        }
    )
    return Scored(
        sessions=sessions,
        scopes=pd.concat(parts_scopes, ignore_index=True),
        visited=pd.concat(parts_visited, ignore_index=True),
        feature_totals=pd.Series(totals, index=names),
        base_value=base,
        sample=features.iloc[sample_rows],
        sample_contributions=pd.concat(sample_parts) if sample_parts else pd.DataFrame(),
    )
