"""Friction signals and their thresholds (`[signals]`)."""

from __future__ import annotations

from pydantic import Field

from features.section import Section

__all__ = ["SignalsConfig"]


class SignalsConfig(Section):
    """Thresholds of the friction signals (see features/signals.py for their sources)."""

    rage_click_min_clicks: int = Field(default=3, ge=2)
    rage_click_max_interval_ms: float = Field(default=1000.0, gt=0)
    rage_click_max_distance_px: float = Field(default=30.0, gt=0)
    dead_click_ms: float = Field(default=2500.0, gt=0)
