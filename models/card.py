"""The model card (`card.json`): what a product needs beside the numbers — risk bands — and
what makes a model traceable: when and how it was trained, on what, with which versions."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["FORMAT_VERSION", "ModelCard", "RiskBands"]

FORMAT_VERSION = 1
Band = Literal["low", "medium", "high"]


class RiskBands(BaseModel):
    """Calibrated risk below `medium` is low, from `medium` below `high` medium, else high."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    medium: float = Field(default=0.2, gt=0.0, lt=1.0)
    high: float = Field(default=0.5, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> RiskBands:
        if self.medium >= self.high:
            raise ValueError(f"`medium` ({self.medium}) must be below `high` ({self.high})")
        return self

    def band(self, risk: np.ndarray) -> np.ndarray:
        """The band name of each calibrated risk."""
        index = np.searchsorted([self.medium, self.high], np.asarray(risk, dtype=np.float64), side="right")
        out: np.ndarray = np.array(["low", "medium", "high"], dtype=object)[index]
        return out


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: int = FORMAT_VERSION
    created_at: str
    lightgbm_version: str
    best_iteration: int
    bands: RiskBands = Field(default_factory=RiskBands)
    # Training provenance: final LightGBM parameters, split sizes, config and data digests.
    params: dict[str, Any] = {}
    training: dict[str, Any] = {}
