"""`build_report`: a model and a feature table (and optionally the events) -> every table and
figure of the analyst report, ready to render (`models.report.html`) and export."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from features.errors import FrictionError, SchemaError
from models.artifact import FrictionModel
from models.report import journey as journeys
from models.report import plots, tables
from models.report.config import ReportConfig
from models.report.scoring import Scored, score_all, touchpoints_of
from models.report.waterfall import waterfall_svg

__all__ = ["Report", "build_report", "funnel_of"]

REQUIRED = ("session_id", "session_start")
# The trend figure shows this many touchpoints (largest mean |contribution|) plus any flagged one.
TREND_LINES = 6


@dataclass(frozen=True, eq=False)
class Report:
    tables: dict[str, pd.DataFrame]
    figures: dict[str, str]  # name -> PNG data URI
    dependence: dict[str, str]  # feature -> PNG data URI
    waterfalls: dict[str, str]  # session id -> inline SVG (escaped)
    config: ReportConfig
    journey_from_events: bool
    plot_sessions: int
    model_info: dict[str, str] = field(default_factory=dict)
    # What training said out loud: `drift_warning`, `uncertainty_note` (when it said them).
    notes: dict[str, str] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def top_moments(self, k: int = 3) -> list[str]:
        """The `k` touchpoints whose fix would spare the most dissatisfied sessions; one that
        would spare none is no moment of truth."""
        moments = self.tables["moments"]
        return [str(t) for t in moments.loc[moments["avoided"] > 0, "touchpoint"].head(k)]


def funnel_of(model: FrictionModel) -> list[str]:
    """The funnel order: from the model's featurizer config, else the touchpoints that have a
    funnel-only feature (`funnel_regressions`), else every touchpoint in catalog order."""
    if model.featurizer_config is not None:
        return list(model.featurizer().taxonomy_.funnel)
    touchpoints = touchpoints_of(model)
    names = set(model.manifest.names)
    funnel = [t for t in touchpoints if f"{t}__funnel_regressions" in names]
    return funnel or touchpoints


def _check(features: pd.DataFrame) -> None:
    if missing := [c for c in REQUIRED if c not in features.columns]:
        raise SchemaError(
            f"the feature table lacks {', '.join(missing)}: a report needs {', '.join(REQUIRED)} "
            "(the featurizer writes them)"
        )
    if features.empty:
        raise FrictionError("the feature table has no sessions: nothing to report")


def _journey(
    model: FrictionModel,
    features: pd.DataFrame,
    scored: Scored,
    events: pd.DataFrame | None,
    funnel: list[str],
    riskiest: pd.DataFrame,
    config: ReportConfig,
) -> tuple[journeys.Journey, pd.DataFrame]:
    """The journey map and the riskiest sessions' timelines: from the events when given."""
    if events is None:
        rows = pd.Index(scored.sessions["session_id"]).get_indexer(riskiest["session_id"])
        return journeys.from_features(features, scored, funnel), journeys.timelines_from_features(
            features, scored, [int(r) for r in rows], funnel
        )
    if "session_id" not in events.columns:
        raise SchemaError(
            "the events have no session_id: the journey map needs sessions as the feature table has them"
        )
    taxonomy = model.featurizer().taxonomy_  # FrictionError when the model carries no featurizer config
    assert model.featurizer_config is not None
    settings = model.featurizer_config
    journey = journeys.from_events(events, settings, taxonomy, features, scored, funnel)
    ids = [str(s) for s in riskiest["session_id"]]
    return journey, journeys.timelines_from_events(events, settings, taxonomy, ids, config.timeline_events)


def _model_info(model: FrictionModel) -> dict[str, str]:
    card = model.card
    return {
        "trained": card.created_at,
        "lightgbm": card.lightgbm_version,
        "trees (best iteration)": str(card.best_iteration),
        "features": str(len(model.manifest.features)),
        "calibration": model.calibrator.kind,
        "risk bands": f"medium from {card.bands.medium:.0%}, high from {card.bands.high:.0%}",
    }


def _training_notes(model: FrictionModel) -> dict[str, str]:
    """What training said out loud: a drifted holdout, too few dissatisfied sessions."""
    notes: dict[str, str] = {}
    drift = model.metrics.get("drift")
    if isinstance(drift, dict) and drift.get("warning"):
        notes["drift_warning"] = str(drift["warning"])
    if note := model.metrics.get("uncertainty_note"):
        notes["uncertainty_note"] = str(note)
    return notes


def build_report(
    model: FrictionModel,
    features: pd.DataFrame,
    events: pd.DataFrame | None = None,
    config: ReportConfig | None = None,
) -> Report:
    """Every table on all sessions; the SHAP plots on a seeded sample of `config.plot_sample`."""
    config = config or ReportConfig()
    _check(features)
    features = features.reset_index(drop=True)
    model.manifest.check(features, strict=False)
    scored = score_all(model, features, config)
    funnel = funnel_of(model)
    groups = tables.segment_columns(features)
    moments, by_day, by_segment = tables.fix_lists(model, features, scored, groups, config)
    trend, incidents = tables.trend_and_incidents(scored, groups, config)
    riskiest, drivers = tables.riskiest(model, features, scored, config)
    journey, timelines = _journey(model, features, scored, events, funnel, riskiest, config)
    found = {
        "headline": tables.headline(features, scored),
        "quality": tables.quality(model),
        "drift": tables.drift(model),
        "moments": moments,
        "impact_by_day": by_day,
        "impact_by_segment": by_segment,
        "moment_signals": tables.moment_signals(model, scored),
        "journey_nodes": journey.nodes,
        "journey_edges": journey.edges,
        "trend": trend,
        "incidents": incidents,
        "segments": tables.segments(features, scored, groups),
        "riskiest": riskiest,
        "drivers": drivers,
        "timelines": timelines,
    }
    return Report(
        tables=found,
        figures=_figures(model, scored, found, funnel, journey, config),
        dependence=_dependence(model, scored, config),
        waterfalls={
            str(row["session_id"]): waterfall_svg(
                scored.base_value, drivers[drivers["session_id"] == row["session_id"]], float(row["raw"])
            )
            for row in riskiest.to_dict("records")
        },
        config=config,
        journey_from_events=events is not None,
        plot_sessions=len(scored.sample),
        model_info=_model_info(model),
        notes=_training_notes(model),
    )


def _trend_lines(moments: pd.DataFrame, trend: pd.DataFrame) -> list[str]:
    strongest = moments.sort_values("mean_abs_contribution", ascending=False)["touchpoint"].head(TREND_LINES)
    flagged = trend.loc[trend["flagged"], "touchpoint"]
    return list(dict.fromkeys([*map(str, strongest), *map(str, flagged)]))


def _figures(
    model: FrictionModel,
    scored: Scored,
    found: dict[str, pd.DataFrame],
    funnel: list[str],
    journey: journeys.Journey,
    config: ReportConfig,
) -> dict[str, str]:
    explanation = plots.shap_explanation(model, scored.sample, scored.sample_contributions)
    return {
        "impact": plots.impact_bars(found["moments"]),
        "journey": plots.journey_map(journey, funnel),
        "trend": plots.trend(found["trend"], _trend_lines(found["moments"], found["trend"])),
        "beeswarm": plots.beeswarm(explanation, config.beeswarm_features),
    }


def _dependence(model: FrictionModel, scored: Scored, config: ReportConfig) -> dict[str, str]:
    """Dependence plots of the numeric features with the largest mean |contribution| (sample)."""
    if config.dependence_features == 0:
        return {}
    numeric = [f.name for f in model.manifest.features if f.kind == "numeric"]
    strength = scored.sample_contributions[numeric].abs().mean().sort_values(ascending=False)
    top = [str(n) for n in strength.index[: config.dependence_features]]
    explanation = plots.shap_explanation(model, scored.sample, scored.sample_contributions)
    return {name: plots.dependence(explanation, name) for name in top}
