"""Sessions: configuration of how sessions are derived when the data has no session id."""

from __future__ import annotations

from pydantic import Field

from features.section import Section

__all__ = ["SessionsConfig"]


class SessionsConfig(Section):
    gap_minutes: float = Field(default=30.0, gt=0.0)
    max_hours: float = Field(default=24.0, gt=0.0)
