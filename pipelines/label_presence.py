"""How often the label's events occur, told by `validate` before `train` needs them.

For `[label] kind = "event"` the share of sessions holding a label event is the label rate;
for `kind = "absence"` the events are the ones whose absence is the label. Sessions are
counted by session id; the rows of a user without a session id count as one more session
of that user (their gap sessions are derived later, by the featurizer).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.labels import LabelConfig

__all__ = ["LabelPresence", "label_presence"]

_SHOWN_NAMES = 5


@dataclass(frozen=True)
class LabelPresence:
    kind: str
    names: tuple[str, ...]
    reached: str | None
    events: int  # rows holding one of the label's events
    sessions_with: int
    sessions: int
    frequent: tuple[str, ...]  # the data's most frequent event names, for the warning

    @property
    def rate(self) -> float:
        return self.sessions_with / self.sessions if self.sessions else 0.0

    def as_rows(self) -> dict[str, str]:
        named = ", ".join(self.names)
        shares = f"{self.sessions_with:,} of {self.sessions:,} ({self.rate:.2%})"
        if self.kind == "event":
            return {"label events": f"{self.events:,} ({named})", "sessions with one (label rate)": shares}
        return {
            f"label: no {named} after {self.reached}": f"{self.events:,} events",
            "sessions with one": shares,
        }

    def warning(self) -> str | None:
        """One line when the label cannot be learned from this data, else None."""
        if self.events:
            return None
        names = ", ".join(f"`{name}`" for name in self.names)
        frequent = ", ".join(self.frequent)
        if self.kind == "event":
            return (
                f"warning: the label events never occur: {names} in 0 of {self.sessions:,} sessions "
                f"(label rate 0.00%); `train` needs dissatisfied sessions: name this data's events in "
                f"[label] events (its most frequent: {frequent})"
            )
        return (
            f"warning: {names} never occur, so every session reaching `{self.reached}` would be "
            f"dissatisfied (label rate 100% of them); name this data's events in [label] events "
            f"(its most frequent: {frequent})"
        )


def label_presence(events: pd.DataFrame, label: LabelConfig) -> LabelPresence | None:
    """The label's events in canonical events; None for the kinds that do not use events."""
    if label.kind not in ("event", "absence") or events.empty:
        return None
    session = _session_key(events)
    hit = events["event"].isin(label.events).to_numpy()
    counts = events["event"].value_counts()
    return LabelPresence(
        kind=label.kind,
        names=tuple(label.events),
        reached=label.reached,
        events=int(hit.sum()),
        sessions_with=int(session[hit].nunique()),
        sessions=int(session.nunique()),
        frequent=tuple(str(name) for name in counts.index[:_SHOWN_NAMES]),
    )


def _session_key(events: pd.DataFrame) -> pd.Series:
    users = "user:" + events["user_id"].astype("str") if "user_id" in events else None
    if "session_id" not in events:
        assert users is not None  # the adapter requires one of the ids
        return users
    sessions = "session:" + events["session_id"].astype("str")
    return sessions if users is None else sessions.fillna(users)
