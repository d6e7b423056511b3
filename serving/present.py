"""Scores -> response bodies (and the risk histogram, counted once per session scored)."""

from __future__ import annotations

from serving.metrics import Metrics
from serving.schemas.responses import DriverOut, ModelRef, ScoreOut
from serving.served import ServedModel
from serving.session_scores import SessionScore

__all__ = ["score_out"]


def score_out(served: ServedModel, scored: SessionScore, metrics: Metrics) -> ScoreOut:
    metrics.risk.observe(scored.risk)
    drivers = None
    if scored.drivers is not None:
        drivers = [
            DriverOut(
                touchpoint=d.driver.touchpoint,
                feature=d.driver.feature,
                family=d.driver.family,
                value=d.driver.value,
                contribution=d.driver.contribution,
                risk_points=d.driver.risk_points,
                sentence=d.driver.sentence,
                risk_without=d.driver.risk_without,
                action=d.action,
            )
            for d in scored.drivers
        ]
    return ScoreOut(
        session_id=scored.session_id,
        risk=scored.risk,
        band=scored.band,
        drivers=drivers,
        events=scored.events,
        model=ModelRef(name=served.name, version=served.version),
    )
