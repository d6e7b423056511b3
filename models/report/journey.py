"""The journey map (touchpoint transition graph) and the riskiest sessions' timelines.

With events, the graph is the true one: consecutive touchpoint visits of each session (runs
of events at one touchpoint collapse to one visit), label events left out. Without events the
feature table holds no event order, so the graph follows the funnel (stage i -> i + 1, counted
over sessions that visited both) and timelines list per-touchpoint visits and dwell; the
report says which it shows.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.config import FrictionConfig
from features.taxonomy import Taxonomy
from models.report.scoring import Scored

__all__ = [
    "Journey",
    "event_touchpoints",
    "from_events",
    "from_features",
    "timelines_from_events",
    "timelines_from_features",
]

EDGE_COLUMNS = ["source", "target", "transitions", "sessions"]
TIMELINE_COLUMNS = ["session_id", "seconds", "touchpoint", "event", "page", "target", "load_ms", "value"]


@dataclass(frozen=True, eq=False)
class Journey:
    nodes: pd.DataFrame  # touchpoint, funnel_stage, sessions, visits, mean_contribution
    edges: pd.DataFrame  # source, target, transitions, sessions
    from_events: bool


def _nodes(
    touchpoints: Sequence[str], funnel: Sequence[str], scored: Scored, features: pd.DataFrame
) -> pd.DataFrame:
    stage = {t: i for i, t in enumerate(funnel)}
    rows = []
    for touchpoint in touchpoints:
        visited = scored.visited[touchpoint].to_numpy() if touchpoint in scored.visited else None
        contribution = scored.scopes[touchpoint].to_numpy() if touchpoint in scored.scopes else None
        column = f"{touchpoint}__visits"
        visits = (
            features[column].to_numpy(dtype=np.float64, na_value=0.0).sum() if column in features else np.nan
        )
        count = int(visited.sum()) if visited is not None else 0
        mean = (
            float(contribution[visited].mean())
            if contribution is not None and visited is not None and count
            else 0.0
        )
        rows.append(
            {
                "touchpoint": touchpoint,
                "funnel_stage": stage.get(touchpoint, -1),
                "sessions": count,
                "visits": float(visits),
                "mean_contribution": mean,
            }
        )
    return pd.DataFrame(rows)


def from_features(features: pd.DataFrame, scored: Scored, funnel: Sequence[str]) -> Journey:
    """Funnel edges (stage i -> i + 1) counted over sessions that visited both."""
    touchpoints = scored.touchpoints
    edges = []
    steps = [t for t in funnel if t in scored.visited]
    for source, target in itertools.pairwise(steps):
        both = int((scored.visited[source].to_numpy() & scored.visited[target].to_numpy()).sum())
        edges.append({"source": source, "target": target, "transitions": np.nan, "sessions": both})
    return Journey(
        _nodes(touchpoints, funnel, scored, features), pd.DataFrame(edges, columns=EDGE_COLUMNS), False
    )


def _label_events(config: FrictionConfig) -> list[str]:
    return list(config.label.events) if config.label.kind == "event" else []


def event_touchpoints(events: pd.DataFrame, taxonomy: Taxonomy) -> np.ndarray:
    """Touchpoint code per event (index into `taxonomy.touchpoints`): the data's `touchpoint`
    column where given, else the taxonomy's rules on event and page."""
    if "touchpoint" in events:
        codes, _ = taxonomy.map_names(events["touchpoint"].astype("str").to_numpy(dtype=object))
        return codes
    event_codes, event_names = pd.factorize(events["event"], use_na_sentinel=True)
    page_codes: np.ndarray | None = None
    pages: np.ndarray | None = None
    if "page" in events:
        page_codes, page_index = pd.factorize(events["page"], use_na_sentinel=True)
        pages = np.asarray(page_index, dtype=object)
    return taxonomy.map_codes(
        np.asarray(event_codes, np.int64), np.asarray(event_names, dtype=object), page_codes, pages
    )


def _journey_rows(events: pd.DataFrame, config: FrictionConfig) -> np.ndarray:
    """Which events are journey events (label events are outcomes, not steps)."""
    return ~events["event"].isin(_label_events(config)).to_numpy(dtype=bool)


def from_events(
    events: pd.DataFrame,
    config: FrictionConfig,
    taxonomy: Taxonomy,
    features: pd.DataFrame,
    scored: Scored,
    funnel: Sequence[str],
) -> Journey:
    """The transition graph of consecutive touchpoint visits over the feature table's sessions.

    Integer codes throughout (session position, touchpoint code): one sort of the kept events by
    (session, time), then bincounts; no per-event strings are built, so memory stays near the
    events' own size. Events at the same instant keep their input order.
    """
    session = pd.Index(scored.sessions["session_id"]).get_indexer(events["session_id"].astype("str"))
    keep = _journey_rows(events, config) & (session >= 0)
    touchpoint = event_touchpoints(events, taxonomy)[keep]
    session = session[keep]
    stamp = events["timestamp"].to_numpy()[keep]
    order = np.lexsort((stamp, session))
    session, touchpoint = session[order], touchpoint[order]
    width = len(taxonomy.touchpoints)
    step = (session[1:] == session[:-1]) & (touchpoint[1:] != touchpoint[:-1])
    pair = touchpoint[:-1][step] * width + touchpoint[1:][step]
    transitions = np.bincount(pair, minlength=width * width)
    # Sessions per pair: count each (session, pair) once.
    once = np.unique(session[1:][step].astype(np.int64) * (width * width) + pair) % (width * width)
    sessions = np.bincount(once, minlength=width * width)
    used = np.flatnonzero(transitions)
    names = np.asarray(taxonomy.touchpoints, dtype=object)
    edges = pd.DataFrame(
        {
            "source": names[used // width],
            "target": names[used % width],
            "transitions": transitions[used],
            "sessions": sessions[used],
        }
    )
    edges = edges.sort_values("transitions", ascending=False, kind="stable").reset_index(drop=True)
    return Journey(_nodes(scored.touchpoints, funnel, scored, features), edges[EDGE_COLUMNS], True)


def timelines_from_events(
    events: pd.DataFrame, config: FrictionConfig, taxonomy: Taxonomy, session_ids: Sequence[str], limit: int
) -> pd.DataFrame:
    """Each chosen session's first `limit` journey events, seconds from its first event."""
    chosen = events[
        events["session_id"].astype("str").isin(list(session_ids)) & _journey_rows(events, config)
    ]
    chosen = chosen.assign(
        session_id=chosen["session_id"].astype("str"),
        touchpoint=np.asarray(taxonomy.touchpoints, dtype=object)[event_touchpoints(chosen, taxonomy)],
    )
    chosen = chosen.sort_values(["session_id", "timestamp"], kind="stable")
    first = chosen.groupby("session_id")["timestamp"].transform("min")
    chosen["seconds"] = (chosen["timestamp"] - first).dt.total_seconds()
    chosen = chosen.groupby("session_id", sort=False).head(limit)
    for column in TIMELINE_COLUMNS:
        if column not in chosen:
            chosen[column] = None
    # In the riskiest-first order of `session_ids`.
    rank = {sid: i for i, sid in enumerate(session_ids)}
    chosen = chosen.sort_values("session_id", key=lambda ids: ids.map(rank), kind="stable")
    return chosen[TIMELINE_COLUMNS].reset_index(drop=True)


def timelines_from_features(
    features: pd.DataFrame, scored: Scored, rows: Sequence[int], funnel: Sequence[str]
) -> pd.DataFrame:
    """Per session and visited touchpoint (funnel order first): visits, dwell and contribution."""
    order = [t for t in funnel if t in scored.touchpoints] + [
        t for t in scored.touchpoints if t not in funnel
    ]
    records = []
    for row in rows:
        for touchpoint in order:
            visits = (
                features[f"{touchpoint}__visits"].iloc[row] if f"{touchpoint}__visits" in features else np.nan
            )
            if not scored.visited[touchpoint].iloc[row]:
                continue
            dwell = (
                features[f"{touchpoint}__dwell_s"].iloc[row]
                if f"{touchpoint}__dwell_s" in features
                else np.nan
            )
            records.append(
                {
                    "session_id": str(scored.sessions["session_id"].iloc[row]),
                    "touchpoint": touchpoint,
                    "visits": float(visits),
                    "dwell_s": float(dwell),
                    "contribution": float(scored.scopes[touchpoint].iloc[row]),
                }
            )
    return pd.DataFrame(records, columns=["session_id", "touchpoint", "visits", "dwell_s", "contribution"])
