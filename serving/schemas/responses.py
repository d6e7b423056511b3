"""Response bodies, kept apart from the requests: what a product app reads back."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BatchScoreOut",
    "DriverOut",
    "ErrorOut",
    "FeatureOut",
    "HealthOut",
    "ModelOut",
    "ModelRef",
    "ReadyOut",
    "ScoreOut",
    "ServerErrorOut",
    "ThresholdsOut",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriverOut(_Out):
    touchpoint: str | None = Field(description="the journey touchpoint; null for session, funnel, context")
    feature: str
    family: str = Field(description="signal family, e.g. errors, rage_clicks, dwell_s")
    value: float | str | None = Field(description="the feature's value in this session")
    contribution: float = Field(description="log-odds this feature adds to the raw score (TreeSHAP)")
    risk_points: float = Field(description="percentage points of calibrated risk it accounts for")
    sentence: str
    risk_without: float | None = Field(
        ge=0.0,
        le=1.0,
        description=(
            "calibrated risk of this session had this driver's friction not happened (the rest "
            "kept); null for an exposure driver (visits, dwell, context...), which has no friction "
            "to remove"
        ),
    )
    action: str | None = Field(description="the playbook's action key for it, if any")


class ModelRef(_Out):
    name: str
    version: str


class ScoreOut(_Out):
    session_id: str
    risk: float = Field(ge=0.0, le=1.0, description="calibrated probability of dissatisfaction")
    band: Literal["low", "medium", "high"]
    drivers: list[DriverOut] | None = Field(description="strongest first; null when explain=false")
    events: int = Field(description="events of the session scored (label events included)")
    model: ModelRef


class BatchScoreOut(_Out):
    results: list[ScoreOut]


class FeatureOut(_Out):
    name: str
    kind: Literal["numeric", "categorical"]
    touchpoint: str | None
    family: str | None
    meaning: str | None
    unit: str | None


class ThresholdsOut(_Out):
    medium: float
    high: float


class ModelOut(_Out):
    name: str
    version: str
    source: str = Field(
        description="the registry URI (runs:/..., models:/NAME/VERSION), or sha256:DIGEST of a model "
        "folder's MANIFEST.json; never a filesystem path"
    )
    loaded_at: datetime
    features: list[FeatureOut]
    context: list[str] = Field(description="context keys a score request may send")
    thresholds: ThresholdsOut
    metrics: dict[str, Any]
    playbook: dict[str, str]


class HealthOut(_Out):
    status: Literal["ok"]


class ReadyOut(_Out):
    status: Literal["ready", "loading", "unavailable"]
    model: ModelRef | None
    store: Literal["ready", "unavailable"] = Field(description="whether the session store answers")


class ErrorOut(_Out):
    detail: str


class ServerErrorOut(_Out):
    detail: str
    request_id: str | None
