"""Touchpoint taxonomy: event/URL rules -> touchpoint, and the funnel order (`[touchpoints]`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from features.section import Section

__all__ = ["TouchpointRule", "TouchpointsConfig"]


class TouchpointRule(Section):
    """Events matching `event` (exact name) and/or `url` (regular expression) -> touchpoint."""

    touchpoint: str
    event: str | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _matches_something(self) -> TouchpointRule:
        if self.event is None and self.url is None:
            raise ValueError(f"rule for touchpoint {self.touchpoint!r} needs `event` or `url`")
        return self


class TouchpointsConfig(Section):
    # None: the default e-commerce taxonomy shipped in data/.
    taxonomy: Path | None = None
    rules: list[TouchpointRule] = Field(default_factory=list)
    funnel: list[str] = Field(default_factory=list)
