"""Label specs: what "dissatisfied" means for this data (`[label]`), and how labels attach.

- `event`: a session is dissatisfied when it holds a label event (support contact,
  complaint). Leakage cutoff: features see only events strictly *before* the first label
  event, so a journey event with the same timestamp as the label event is left out too.
- `absence`: among the sessions that reached the touchpoint `reached`, a session is
  dissatisfied when it holds none of `events` (reached the cart, did not purchase), satisfied
  when it holds one; sessions that never reached it stay unlabelled. Leakage cutoff as for
  `event`: features see only events strictly before the first of `events`, so a purchase and
  what followed it never tell the model the answer; `reached` counts those events only.
- `column`: a session-level 0/1 column already in the events (the largest value of the
  session counts; a session with only empty values stays unlabelled).
- `survey`: responses joined by session id, or by user to the latest session ending at or
  before the response within `window_hours`; dissatisfied when score <= threshold. When
  several responses reach one session, its lowest score counts.
Label events never become features, whatever the kind. Sessions without a known label
stay in the feature table with `label_known = False`, for scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from features.errors import ConfigError, DataQualityError, SchemaError
from features.schema import did_you_mean
from features.section import Section
from features.sessions import offsets, run_starts

__all__ = [
    "LabelConfig",
    "SurveyLabelConfig",
    "absence_labels",
    "attach_survey_labels",
    "column_labels",
    "event_cutoff",
    "reached_code",
]

_NEVER = np.iinfo(np.int64).max


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
    kind: Literal["event", "survey", "column", "absence"] = "event"
    events: list[str] = Field(default_factory=lambda: ["support_chat", "complaint"])
    survey: SurveyLabelConfig | None = None
    column: str | None = None
    # kind = "absence": the touchpoint whose visitors are labelled (`events` are then the ones
    # whose absence is the dissatisfaction: reached = "cart", events = ["purchase"]).
    reached: str | None = None

    @model_validator(mode="after")
    def _kind_has_its_fields(self) -> LabelConfig:
        if self.kind == "event" and not self.events:
            raise ValueError("kind = 'event' needs a non-empty `events` list")
        if self.kind == "survey" and self.survey is None:
            raise ValueError("kind = 'survey' needs a [label.survey] table with `path`")
        if self.kind == "column" and not self.column:
            raise ValueError("kind = 'column' needs `column`, the session-level 0/1 column")
        if self.kind == "absence" and not (self.reached and self.events):
            raise ValueError(
                "kind = 'absence' needs `reached`, a touchpoint, and `events`, the events whose "
                "absence is the label (reached = 'cart', events = ['purchase'])"
            )
        if self.kind != "absence" and self.reached is not None:
            raise ValueError(f"`reached` is for kind = 'absence', not kind = {self.kind!r}")
        return self


def reached_code(config: LabelConfig, touchpoints: Sequence[str]) -> int | None:
    """The code of `reached` among the taxonomy's touchpoints (None unless kind = 'absence')."""
    if config.kind != "absence" or config.reached is None:
        return None
    if config.reached not in touchpoints:
        hint = did_you_mean(config.reached, touchpoints)
        raise ConfigError(
            f"label.reached: unknown touchpoint `{config.reached}`{hint}; known: {', '.join(touchpoints)}"
        )
    return list(touchpoints).index(config.reached)


def absence_labels(
    touchpoint: np.ndarray, session: np.ndarray, reached: int, has_event: np.ndarray
) -> np.ndarray:
    """kind = 'absence', per session: 1 when it reached the touchpoint and holds none of the
    events, 0 when it holds one, NaN when it never reached it (`touchpoint`, `session`: per
    event kept before the cutoff; `has_event`: per session)."""
    reached_it = np.zeros(len(has_event), dtype=bool)
    reached_it[session[touchpoint == reached]] = True
    return np.where(reached_it, np.where(has_event, 0.0, 1.0), np.nan)


def event_cutoff(
    starts: np.ndarray, ts: np.ndarray, is_label: np.ndarray, session: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(events to keep, sessions with a label event) for events laid out session by session.

    Keeps the journey events strictly before their session's first label event.
    """
    labels = offsets(is_label)
    first_label = np.full(len(starts), _NEVER, dtype=np.int64)
    if labels.size:
        firsts = labels[run_starts(session[labels])]
        first_label[session[firsts]] = ts[firsts]
    keep = ~is_label & (ts < first_label[session])
    return keep, first_label != _NEVER


def column_labels(values: np.ndarray, starts: np.ndarray, column: str) -> np.ndarray:
    """The session label from a 0/1 column (events laid out by session): its largest value, NaN if none."""
    bad = ~np.isnan(values) & (values != 0) & (values != 1)
    if bad.any():
        shown = ", ".join(f"{v:g}" for v in np.unique(values[bad])[:5])
        raise DataQualityError(f"label column `{column}` must hold 0 or 1 (or be empty); found {shown}")
    if len(starts) == 0:
        return np.empty(0)
    return np.asarray(np.fmax.reduceat(values, starts), dtype=np.float64)


def _column(frame: pd.DataFrame, name: str | None, what: str) -> str:
    if name is None or name not in frame.columns:
        hint = did_you_mean(name or "", [str(c) for c in frame.columns])
        raise SchemaError(
            f"survey responses lack the {what} column `{name}`{hint}; columns: {list(frame.columns)}"
        )
    return name


def _scores(surveys: pd.DataFrame, column: str) -> pd.Series:
    scores = pd.to_numeric(surveys[column], errors="coerce")
    bad = surveys[column].notna() & scores.isna()
    if bad.any():
        shown = ", ".join(repr(v) for v in surveys.loc[bad, column].unique()[:5])
        raise DataQualityError(f"survey score column `{column}` must be numeric; found {shown}")
    return scores.astype(np.float64)


def _by_user(features: pd.DataFrame, responses: pd.DataFrame, survey: SurveyLabelConfig) -> pd.DataFrame:
    """Each response joined to its user's latest session ending at or before it, within the window."""
    user_col = _column(responses, survey.user_id, "user id")
    time_col = _column(responses, survey.timestamp, "timestamp")
    when = pd.to_datetime(responses[time_col], utc=True, format="ISO8601").dt.as_unit("us")
    left = pd.DataFrame(
        {"user_id": responses[user_col].astype("str"), "at": when, "score": responses["_score"]}
    )
    left = left[left["user_id"].notna() & left["at"].notna()].sort_values("at", kind="stable")
    right = features.loc[features["user_id"].notna(), ["user_id", "session_end", "session_id"]]
    right = right.astype({"user_id": "str"}).sort_values("session_end", kind="stable")
    joined = pd.merge_asof(
        left,
        right,
        left_on="at",
        right_on="session_end",
        by="user_id",
        direction="backward",
        tolerance=pd.Timedelta(hours=survey.window_hours),
    )
    return joined.loc[joined["session_id"].notna(), ["session_id", "score"]]


def attach_survey_labels(features: pd.DataFrame, surveys: pd.DataFrame, config: LabelConfig) -> pd.DataFrame:
    """A copy of the feature table with `label`/`label_known` set from survey responses."""
    survey = config.survey
    if survey is None:
        raise ConfigError("attach_survey_labels needs [label.survey] (kind = 'survey') in the config")
    responses = surveys.assign(_score=_scores(surveys, _column(surveys, survey.score, "score")))
    responses = responses[responses["_score"].notna()]
    session_col = survey.session_id if survey.session_id in responses.columns else None
    direct = responses[session_col].notna() if session_col else pd.Series(False, index=responses.index)
    matched = [pd.DataFrame({"session_id": pd.Series(dtype="str"), "score": pd.Series(dtype=np.float64)})]
    if session_col:
        direct_rows = responses.loc[direct]
        matched.append(pd.DataFrame({"session_id": direct_rows[session_col], "score": direct_rows["_score"]}))
    if (~direct).any():
        matched.append(_by_user(features, responses[~direct], survey))
    scores = pd.concat(matched).astype({"session_id": "str"}).groupby("session_id")["score"].min()
    lowest = scores.reindex(features["session_id"].astype("str")).to_numpy()
    known = ~np.isnan(lowest)
    out = features.copy()
    out["label"] = np.where(
        known, (lowest <= survey.threshold).astype(np.float64), out["label"].to_numpy(np.float64)
    )
    out["label_known"] = known | out["label_known"].to_numpy(bool)
    return out
