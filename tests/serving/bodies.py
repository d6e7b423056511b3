"""Request bodies from simulated events, with the user history a batch job derives for each
session (so the API can be held to the batch numbers exactly)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import pandas as pd

__all__ = ["CONTEXT", "body", "histories", "only_error", "score_body"]

TEXT = ("event", "page", "target", "touchpoint")
NUMBERS = ("x", "y", "load_ms", "value")


def _event(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"timestamp": pd.Timestamp(record["timestamp"]).isoformat()}
    for name in TEXT:
        if name in record and not pd.isna(record[name]):
            out[name] = str(record[name])
    for name in NUMBERS:
        if name in record and not pd.isna(record[name]):
            out[name] = float(record[name])
    return out


def histories(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per session: the `history` a batch over the whole table gives it — the user's sessions
    that started earlier, and the end of the latest of them (ties by start, then end)."""
    ordered = table.sort_values(["user_id", "session_start", "session_end"], kind="stable")
    out: dict[str, dict[str, Any]] = {}
    for _, rows in ordered.groupby("user_id", sort=False, observed=True):
        starts = rows["session_start"].to_numpy()
        ends = rows["session_end"].tolist()
        for i, session_id in enumerate(rows["session_id"].tolist()):
            earlier = int(np.searchsorted(starts, starts[i], side="left"))
            last = None if earlier == 0 else pd.Timestamp(ends[earlier - 1]).isoformat()
            out[str(session_id)] = {"prior_sessions": earlier, "last_session_end": last}
    return out


def score_body(
    events: pd.DataFrame,
    session_id: str,
    context: Sequence[str],
    history: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A `POST /v1/score` body with every event of `session_id` (label events included)."""
    rows = events[events["session_id"] == session_id]
    first = rows.iloc[0]
    body: dict[str, Any] = {
        "session_id": session_id,
        "user_id": str(first["user_id"]),
        "context": {name: str(first[name]) for name in context},
        "events": [_event(r) for r in rows.to_dict("records")],
    }
    if history is not None:
        body["history"] = history
    return body | extra


CONTEXT = {"platform": "web", "acquisition_channel": "paid", "customer_type": "new"}


def body(**changes: Any) -> dict[str, Any]:
    events = [
        {"timestamp": "2026-03-02T10:00:00Z", "event": "page_view", "page": "/"},
        {"timestamp": "2026-03-02T10:00:04Z", "event": "click", "page": "/", "target": "nav", "x": 3, "y": 4},
        {"timestamp": "2026-03-02T10:00:09Z", "event": "page_view", "page": "/cart", "load_ms": 700},
    ]
    return {"session_id": "s-1", "user_id": "u-1", "events": events, "context": CONTEXT} | changes


def only_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert set(error) == {"type", "loc", "msg"}  # never the input back
    return dict(error)
