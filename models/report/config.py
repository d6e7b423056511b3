"""The report's knobs, as one typed object (defaults suit a report read by a person)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ReportConfig"]


class ReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Rows scored per block: bounds memory (block x features x 8 bytes of contributions).
    chunk_rows: int = Field(default=50_000, ge=1)
    # Sessions drawn (seeded) for the SHAP plots only; every table uses all sessions.
    plot_sample: int = Field(default=2_000, ge=10)
    seed: int = 0
    beeswarm_features: int = Field(default=15, ge=1)
    dependence_features: int = Field(default=4, ge=0)
    riskiest_sessions: int = Field(default=8, ge=1)
    drivers_per_session: int = Field(default=8, ge=1)
    families_per_touchpoint: int = Field(default=3, ge=1)
    # Bootstrap draws over sessions for the fix lists' 95 % intervals (0: no interval).
    impact_draws: int = Field(default=400, ge=0)
    # Incident rule (models.report.incidents): a day is flagged at a touchpoint when its mean
    # contribution sits more than `incident_z` robust standard deviations above that
    # touchpoint's median day, with at least `incident_min_sessions` sessions that day; or when
    # it sits `incident_run_z` above it inside a run of `incident_run_days` days whose mean does
    # (an incident that lasts, on days too small to stand out one by one).
    incident_z: float = Field(default=5.0, gt=0.0)
    incident_min_sessions: int = Field(default=20, ge=1)
    incident_min_days: int = Field(default=7, ge=3)
    incident_run_days: int = Field(default=7, ge=1)
    incident_run_z: float = Field(default=2.0, gt=0.0)
    timeline_events: int = Field(default=60, ge=1)
    journey_edges: int = Field(default=40, ge=1)
