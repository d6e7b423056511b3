"""Label specs: what "dissatisfied" means for this data (`[label]`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from features.section import Section

__all__ = ["LabelConfig", "SurveyLabelConfig"]


class SurveyLabelConfig(Section):
    path: Path
    score: str = "csat"
    # A response is "dissatisfied" when score <= threshold (CSAT <= 2, NPS <= 6).
    threshold: float = 2.0
    session_id: str | None = "session_id"
    user_id: str | None = "user_id"
    timestamp: str | None = "timestamp"
    window_hours: float = Field(default=72.0, gt=0.0)


class LabelConfig(Section):
    kind: Literal["event", "survey", "column"] = "event"
    events: list[str] = Field(default_factory=lambda: ["support_chat", "complaint"])
    survey: SurveyLabelConfig | None = None
    column: str | None = None

    @model_validator(mode="after")
    def _kind_has_its_fields(self) -> LabelConfig:
        if self.kind == "event" and not self.events:
            raise ValueError("kind = 'event' needs a non-empty `events` list")
        if self.kind == "survey" and self.survey is None:
            raise ValueError("kind = 'survey' needs a [label.survey] table with `path`")
        if self.kind == "column" and not self.column:
            raise ValueError("kind = 'column' needs `column`, the session-level 0/1 column")
        return self
