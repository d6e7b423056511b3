"""The report's tables, each a DataFrame computed from all sessions (`Scored`).

headline          what was scored: sessions, period, predicted and observed rates
quality           the model's holdout metrics next to its baselines, with 95 % intervals and the
                  backtests' mean and sd (from the artifact)
drift             label rate and risk per calendar week, training range vs holdout (from the artifact)
moments           the fix list: touchpoints ranked by the dissatisfied sessions that removing their
                  friction would spare (models.impact) [95 % interval], with their top friction
                  signal; beside it the SHAP view (sessions affected x mean contribution)
impact_by_day     the same per day and touchpoint (the incident view)
impact_by_segment the same per segment value (platform, channel, new/returning...) and touchpoint
moment_signals    each touchpoint's contribution split by signal family (the "why")
trend             mean contribution per touchpoint per day, with the incident rule's z and flag
incidents         the flagged days, with the segment value the rise concentrates in
segments          risk and top touchpoint per value of each context column and new/returning
riskiest          the highest-risk sessions
drivers           their drivers (waterfall rows), words from the feature catalog
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.artifact import FrictionModel
from models.explain import family_of, scope_of, top_drivers
from models.impact import IMPACT_COLUMNS, Scope, counterfactual, friction_map, impact
from models.report.config import ReportConfig
from models.report.incidents import daily_contributions, flag_days, where_concentrated
from models.report.scoring import Scored

__all__ = [
    "IMPACT_SHOWN",
    "QUALITY_METRICS",
    "drift",
    "fix_lists",
    "headline",
    "impact_views",
    "moment_signals",
    "moments",
    "quality",
    "riskiest",
    "segment_columns",
    "segments",
    "trend_and_incidents",
]

QUALITY_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "brier", "ece", "sessions")
# The metrics shown with their interval and backtest spread.
UNCERTAIN_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "brier", "ece")
_SCORER_ORDER = ("model", "uncalibrated", "logreg", "rule_baseline", "oracle")
NEW_RETURNING = "new_or_returning"


def headline(features: pd.DataFrame, scored: Scored) -> pd.DataFrame:
    sessions = scored.sessions
    known = features["label_known"].to_numpy(dtype=bool) if "label_known" in features else np.zeros(0, bool)
    labels = features["label"].to_numpy(dtype=np.float64)[known] if known.any() else np.zeros(0)
    end = features["session_end"] if "session_end" in features else sessions["session_start"]
    rows: list[tuple[str, Any]] = [
        ("sessions", len(sessions)),
        ("users", int(features["user_id"].nunique()) if "user_id" in features else None),
        ("period_start", sessions["session_start"].min()),
        ("period_end", end.max()),
        ("days", int(sessions["session_start"].dt.floor("D").nunique())),
        ("predicted_dissatisfaction_rate", float(sessions["risk"].mean())),
        ("high_risk_share", float((sessions["band"] == "high").mean())),
        ("labelled_sessions", int(known.sum())),
        ("observed_dissatisfaction_rate", float(labels.mean()) if len(labels) else None),
        ("base_value_log_odds", scored.base_value),
    ]
    return pd.DataFrame(rows, columns=["measure", "value"])


def _spread_columns() -> list[str]:
    return [
        f"{metric}_{part}"
        for metric in UNCERTAIN_METRICS
        for part in ("ci_low", "ci_high", "backtest_mean", "backtest_sd")
    ]


def quality(model: FrictionModel) -> pd.DataFrame:
    """Holdout metrics per scorer, the model first, each with its bootstrap 95 % interval and its
    mean and sd over the backtests when training computed them (empty when the artifact carries
    no metrics)."""
    columns = ["scorer", *QUALITY_METRICS, *_spread_columns()]
    table = model.metrics.get("table")
    if not isinstance(table, Mapping) or not table:
        return pd.DataFrame(columns=columns)
    intervals = model.metrics.get("intervals") or {}
    backtest = model.metrics.get("backtest") or {}
    order = [s for s in _SCORER_ORDER if s in table] + sorted(set(table) - set(_SCORER_ORDER))
    rows = []
    for scorer in order:
        row: dict[str, Any] = {"scorer": scorer, **{m: table[scorer].get(m) for m in QUALITY_METRICS}}
        for metric in UNCERTAIN_METRICS:
            low, high = intervals.get(scorer, {}).get(metric, (None, None))
            spread = backtest.get(scorer, {}).get(metric, {})
            row |= {
                f"{metric}_ci_low": low,
                f"{metric}_ci_high": high,
                f"{metric}_backtest_mean": spread.get("mean"),
                f"{metric}_backtest_sd": spread.get("sd"),
            }
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def drift(model: FrictionModel) -> pd.DataFrame:
    """The label rate and the risk per calendar week, training range and holdout, as training
    measured them (empty for an artifact from before)."""
    columns = ["week", "part", "sessions", "positive_rate", "mean_risk", "risk_p50", "risk_p90"]
    weekly = model.metrics.get("weekly")
    if not isinstance(weekly, list) or not weekly:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(weekly).reindex(columns=columns)


# The impact figures every fix list shows: `models.impact.impact`'s columns from `sessions` on.
IMPACT_SHOWN: tuple[str, ...] = IMPACT_COLUMNS[IMPACT_COLUMNS.index("sessions") :]
DAY = "day"


def moments(scored: Scored) -> pd.DataFrame:
    """The SHAP view, one row per touchpoint: sessions that visited it (affected), their mean
    contribution, `shap_total` (affected x mean = the sum over them, signed), mean |contribution|
    over all sessions; most harmful first."""
    rows = []
    n = max(len(scored.sessions), 1)
    for touchpoint in scored.touchpoints:
        contribution = scored.scopes[touchpoint].to_numpy()
        affected = scored.visited[touchpoint].to_numpy()
        count = int(affected.sum())
        total = float(contribution[affected].sum())
        rows.append(
            {
                "touchpoint": touchpoint,
                "sessions_affected": count,
                "share_affected": count / n,
                "mean_contribution": total / count if count else 0.0,
                "shap_total": total,
                "mean_abs_contribution": float(np.abs(contribution).mean()) if len(contribution) else 0.0,
            }
        )
    frame = pd.DataFrame(rows).sort_values("shap_total", ascending=False, kind="stable")
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame.reset_index(drop=True)


def impact_views(
    model: FrictionModel,
    features: pd.DataFrame,
    scopes: Sequence[Scope],
    session_start: pd.Series,
    groups: pd.DataFrame,
    risk: np.ndarray | None = None,
    draws: int = 1_000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Each scope's impact (`models.impact.impact`) over all sessions, per day and scope, and per
    segment value and scope (rows where some session had the friction); one bootstrap for all."""
    by = pd.concat([session_start.dt.floor("D").rename(DAY), groups], axis=1)
    table = impact(counterfactual(model, features, scopes, risk=risk), by, draws=draws, seed=seed)
    overall = table[table["group"] == "all"].drop(columns=["group", "value"]).reset_index(drop=True)
    per_group = table[(table["group"] != "all") & (table["sessions_with_friction"] > 0)]
    day = per_group[per_group["group"] == DAY].rename(columns={"value": DAY})
    segment = per_group[per_group["group"] != DAY].rename(columns={"group": "segment"})
    day_table = day[[DAY, "scope", "touchpoint", "family", *IMPACT_SHOWN]].reset_index(drop=True)
    segment_table = segment[["segment", "value", "scope", "touchpoint", "family", *IMPACT_SHOWN]]
    segment_table = segment_table.reset_index(drop=True).astype({"value": "str"})
    return overall, day_table.astype({DAY: by[DAY].dtype}), segment_table


def fix_lists(
    model: FrictionModel, features: pd.DataFrame, scored: Scored, groups: pd.DataFrame, config: ReportConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The fix list (`moments`), and the same per day and per segment value.

    Each touchpoint's impact removes all its friction; its top signal is the friction family
    whose removal alone spares the most there. Intervals: `config.impact_draws` bootstrap
    draws over sessions, shared by all three tables."""
    shap = moments(scored).drop(columns="rank")
    found = friction_map(model)
    touchpoints = [t for t in scored.touchpoints if t in set(found.touchpoints)]
    risk = scored.sessions["risk"].to_numpy()
    overall, by_day, by_segment = impact_views(
        model,
        features,
        [Scope(t) for t in touchpoints],
        scored.sessions["session_start"],
        groups,
        risk=risk,
        draws=config.impact_draws,
        seed=config.seed,
    )
    pairs = impact(counterfactual(model, features, found.pairs(), risk=risk), draws=0)
    top = pairs[pairs["avoided"] > 0].drop_duplicates("touchpoint").set_index("touchpoint")
    fixes = shap.merge(overall.set_index("touchpoint")[list(IMPACT_SHOWN)], on="touchpoint", how="left")
    filled = ["sessions_with_friction", "avoided", "share"]
    fixes[filled] = fixes[filled].fillna(0)
    fixes.insert(1, "top_signal", fixes["touchpoint"].map(top["family"]).astype("str"))
    fixes.insert(2, "top_signal_avoided", fixes["touchpoint"].map(top["avoided"]).fillna(0.0))
    fixes = fixes.sort_values("avoided", ascending=False, kind="stable").reset_index(drop=True)
    fixes.insert(0, "rank", np.arange(1, len(fixes) + 1))
    return fixes, by_day.drop(columns=["scope", "family"]), by_segment.drop(columns=["scope", "family"])


def moment_signals(model: FrictionModel, scored: Scored) -> pd.DataFrame:
    """Per touchpoint and signal family: contribution summed over the touchpoint's visitors,
    and its mean per visitor; strongest |total| first within each touchpoint."""
    scopes, families = scope_of(model), family_of(model)
    visitors = scored.visited.sum(axis=0)
    rows = [
        {
            "touchpoint": scopes[str(name)],
            "family": families[str(name)],
            "feature": str(name),
            "total_contribution": float(total),
            "mean_contribution": float(total) / max(int(visitors[scopes[str(name)]]), 1),
        }
        for name, total in scored.feature_totals.items()
        if scopes[str(name)] in visitors.index
    ]
    frame = pd.DataFrame(
        rows, columns=["touchpoint", "family", "feature", "total_contribution", "mean_contribution"]
    )
    frame["strength"] = frame["total_contribution"].abs()
    frame = frame.sort_values(["touchpoint", "strength"], ascending=[True, False], kind="stable")
    return frame.drop(columns="strength").reset_index(drop=True)


def segment_columns(features: pd.DataFrame) -> pd.DataFrame:
    """The segment of each session per context column, plus new/returning from the user's
    prior sessions (when the table has them)."""
    out: dict[str, pd.Series[Any]] = {
        str(c).removeprefix("context__"): features[c].astype("str").fillna("(missing)")
        for c in features.columns
        if str(c).startswith("context__")
    }
    if "session__prior_sessions" in features:
        prior = features["session__prior_sessions"].to_numpy(dtype=np.float64, na_value=np.nan)
        out[NEW_RETURNING] = pd.Series(
            np.where(np.isnan(prior), "unknown", np.where(prior > 0, "returning", "new")),
            index=features.index,
        )
    return pd.DataFrame(out, index=features.index)


def segments(features: pd.DataFrame, scored: Scored, groups: pd.DataFrame) -> pd.DataFrame:
    """Per segment value: sessions, mean predicted risk, observed rate where labelled, and the
    touchpoint with the highest mean contribution there; `mean__<touchpoint>` columns for BI."""
    touchpoints = scored.touchpoints
    base = scored.scopes[touchpoints].add_prefix("mean__")
    base["risk"] = scored.sessions["risk"].to_numpy()
    known = features["label_known"].to_numpy(dtype=bool) if "label_known" in features else None
    label = features["label"].to_numpy(dtype=np.float64) if known is not None else None
    base["labelled"] = known if known is not None else False
    base["observed"] = np.where(known, label, np.nan) if known is not None and label is not None else np.nan
    frames = []
    for column in groups.columns:
        grouped = base.groupby(groups[column].to_numpy(), sort=True)
        means = grouped.mean(numeric_only=True)
        table = pd.DataFrame(
            {
                "segment": column,
                "value": means.index.astype("str"),
                "sessions": grouped.size().to_numpy(),
                "mean_risk": means["risk"].to_numpy(),
                "labelled_sessions": grouped["labelled"].sum().to_numpy(dtype=np.int64),
                "observed_rate": means["observed"].to_numpy(),
            }
        )
        contributions = means[[f"mean__{t}" for t in touchpoints]]
        table["top_touchpoint"] = [str(c).removeprefix("mean__") for c in contributions.idxmax(axis=1)]
        table["top_touchpoint_contribution"] = contributions.max(axis=1).to_numpy()
        frames.append(pd.concat([table, contributions.reset_index(drop=True)], axis=1))
    if not frames:
        return pd.DataFrame(columns=["segment", "value", "sessions", "mean_risk"])
    out = pd.concat(frames, ignore_index=True)
    out.insert(3, "share", out["sessions"] / max(len(features), 1))
    return out


def trend_and_incidents(
    scored: Scored, groups: pd.DataFrame, config: ReportConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    days = scored.sessions["session_start"].dt.floor("D")
    daily = daily_contributions(days, scored.scopes, scored.touchpoints)
    trend = flag_days(
        daily,
        config.incident_z,
        config.incident_min_sessions,
        config.incident_min_days,
        config.incident_run_days,
        config.incident_run_z,
    )
    flagged = trend[trend["flagged"]]
    where = where_concentrated(flagged, days, scored.scopes, groups, config.incident_min_sessions)
    incidents = flagged[["day", "touchpoint", "sessions", "mean_contribution", "baseline", "z"]].merge(
        where, on=["day", "touchpoint"], how="left"
    )
    return trend, incidents.sort_values(["day", "touchpoint"]).reset_index(drop=True)


def riskiest(
    model: FrictionModel, features: pd.DataFrame, scored: Scored, config: ReportConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The riskiest sessions, and their drivers both ways (the waterfall), re-explained exactly."""
    order = np.argsort(-scored.sessions["risk"].to_numpy(), kind="stable")[: config.riskiest_sessions]
    rows = features.iloc[order]
    contributions = model.contributions(rows)
    found = top_drivers(model, rows, contributions, k=config.drivers_per_session, positive_only=False)
    head = scored.sessions.iloc[order].reset_index(drop=True)
    head.insert(0, "rank", np.arange(1, len(head) + 1))
    head["base_value"] = scored.base_value
    drivers = [
        {
            "session_id": head.loc[i, "session_id"],
            "order": k + 1,
            "feature": d.feature,
            "touchpoint": d.touchpoint,
            "family": d.family,
            "value": d.value if d.value is None or isinstance(d.value, str) else float(d.value),
            "contribution": d.contribution,
            "risk_points": d.risk_points,
            "sentence": d.sentence,
        }
        for i, session in enumerate(found)
        for k, d in enumerate(session)
    ]
    columns = [
        "session_id",
        "order",
        "feature",
        "touchpoint",
        "family",
        "value",
        "contribution",
        "risk_points",
        "sentence",
    ]
    return head, pd.DataFrame(drivers, columns=columns)
