"""How much of the data the config understands: `friction validate`, `features` and `init` say it.

For canonical events and a config: the share of events at each touchpoint (and in `other`,
with the event names and URL templates that land there most), which signals are off and
why (a missing column, `disabled`, or no event of the kind they look for), the label rate,
and the sessions that hold no journey event. Label events are counted apart: they are the
outcome, never a touchpoint visit. Rules run once per distinct event and page (the
taxonomy's own `map_codes`), never per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.config import FrictionConfig
from features.signals import EVENT_KINDS, SIGNALS, select_signals
from features.taxonomy import OTHER, Taxonomy
from features.tokens import url_template

__all__ = ["OTHER_WARNING_SHARE", "Coverage", "measure_coverage"]

# Above this share of events in `other`, the touchpoint features miss much of the journey.
OTHER_WARNING_SHARE = 0.20
_TOP = 5


@dataclass(frozen=True)
class Coverage:
    events: int
    touchpoints: dict[str, int]  # journey events per touchpoint, taxonomy order, `other` last
    label_events: int
    sessions: int | None  # None when the events carry neither session nor user ids
    label_sessions: int | None  # sessions holding a label event (kind = "event" only)
    sessions_without_journey: int | None
    signals_off: dict[str, str]  # signal -> why
    unmapped_events: list[tuple[str, int]] = field(default_factory=list)
    unmapped_templates: list[tuple[str, int]] = field(default_factory=list)
    session_unit: str = "sessions"  # "users" when sessions are only derived later

    @property
    def other_share(self) -> float:
        return self.touchpoints.get(OTHER, 0) / self.events if self.events else 0.0

    @property
    def label_rate(self) -> float | None:
        if self.label_sessions is None or not self.sessions:
            return None
        return self.label_sessions / self.sessions

    def warnings(self) -> list[str]:
        """One line per problem worth acting on."""
        found: list[str] = []
        if self.other_share > OTHER_WARNING_SHARE:
            names = ", ".join(f"{n} ({c:,})" for n, c in self.unmapped_events) or "none"
            pages = ", ".join(f"{t} ({c:,})" for t, c in self.unmapped_templates) or "none"
            found.append(
                f"{self.other_share:.0%} of events map to no touchpoint (`other`); top event names: "
                f"{names}; top URL templates: {pages}. Add [[touchpoints.rules]] or run `friction init`"
            )
        if self.label_sessions == 0:
            found.append("no session holds a label event: [label] events never occur in this data")
        return found

    def as_rows(self) -> dict[str, Any]:
        """What a job prints: label -> value."""
        rows: dict[str, Any] = {}
        for touchpoint, count in self.touchpoints.items():
            share = count / self.events if self.events else 0.0
            rows[f"touchpoint {touchpoint}"] = f"{count:,} events ({share:.1%})"
        if self.label_events:
            rows["label events"] = f"{self.label_events:,} events (not touchpoint visits)"
        if (rate := self.label_rate) is not None:
            rows["label rate"] = f"{rate:.1%} of {self.session_unit} ({self.label_sessions:,})"
        if self.sessions_without_journey is not None and self.sessions:
            share = self.sessions_without_journey / self.sessions
            rows[f"{self.session_unit} without journey events"] = (
                f"{self.sessions_without_journey:,} ({share:.1%})"
            )
        for name, why in self.signals_off.items():
            rows[f"signal {name}"] = f"off: {why}"
        return rows

    def as_json(self) -> dict[str, Any]:
        """The manifest's `coverage` entry."""
        return {
            "events": self.events,
            "touchpoints": self.touchpoints,
            "other_share": self.other_share,
            "label_events": self.label_events,
            "session_unit": self.session_unit,
            "sessions": self.sessions,
            "label_rate": self.label_rate,
            "sessions_without_journey": self.sessions_without_journey,
            "signals_off": self.signals_off,
            "unmapped_events": [list(pair) for pair in self.unmapped_events],
            "unmapped_templates": [list(pair) for pair in self.unmapped_templates],
            "warnings": self.warnings(),
        }


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values.astype("str"), use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)


def _touchpoint_codes(
    events: pd.DataFrame, taxonomy: Taxonomy, event_codes: np.ndarray, names: np.ndarray
) -> np.ndarray:
    page_codes, pages = _codes(events["page"]) if "page" in events.columns else (None, None)
    derived = taxonomy.map_codes(event_codes, names, page_codes, pages)
    if "touchpoint" not in events.columns:
        return derived
    given_codes, given = _codes(events["touchpoint"])
    known, _ = taxonomy.map_names(given) if len(given) else (np.empty(0, np.int64), [])
    lookup = np.append(np.asarray(known, dtype=np.int64), -1)
    from_column = lookup[given_codes]
    return np.where(from_column >= 0, from_column, derived)


def measure_coverage(events: pd.DataFrame, config: FrictionConfig, taxonomy: Taxonomy) -> Coverage:
    """Coverage of canonical `events` under `config` (its `taxonomy` compiled once by the caller)."""
    n = len(events)
    event_codes, names = _codes(events["event"])
    touchpoint = _touchpoint_codes(events, taxonomy, event_codes, names)
    label_names = set(config.label.events) if config.label.kind == "event" else set()
    label_row = np.append(np.isin(names.astype(str), list(label_names)), False)[event_codes]
    journey = ~label_row
    counts = np.bincount(touchpoint[journey], minlength=len(taxonomy.touchpoints))
    per_touchpoint = {name: int(counts[code]) for code, name in enumerate(taxonomy.touchpoints)}

    unmapped = journey & (touchpoint == taxonomy.other)
    top_events = events["event"][unmapped].astype("str").value_counts().head(_TOP)
    top_templates: list[tuple[str, int]] = []
    if "page" in events.columns:
        pages = events["page"][unmapped].dropna().astype("str").value_counts()
        by_template = pages.groupby([url_template(p) for p in pages.index]).sum()
        top_templates = [
            (str(t), int(c)) for t, c in by_template.sort_values(ascending=False).head(_TOP).items()
        ]

    key_column = next((c for c in ("session_id", "user_id") if c in events.columns), None)
    sessions = label_sessions = without_journey = None
    if key_column is not None:
        keys, _ = _codes(events[key_column])
        valid = keys >= 0
        sessions = int(keys[valid].max() + 1) if valid.any() else 0
        placed = np.zeros(sessions, dtype=bool)
        placed[keys[valid & journey & (touchpoint != taxonomy.other)]] = True
        without_journey = int((~placed).sum())
        if label_names:
            labelled = np.zeros(sessions, dtype=bool)
            labelled[keys[valid & label_row]] = True
            label_sessions = int(labelled.sum())

    return Coverage(
        events=n,
        touchpoints=per_touchpoint,
        label_events=int(label_row.sum()),
        sessions=sessions,
        label_sessions=label_sessions,
        sessions_without_journey=without_journey,
        signals_off=_signals_off(events, config, names),
        unmapped_events=[(str(e), int(c)) for e, c in top_events.items()],
        unmapped_templates=top_templates,
        session_unit="sessions" if key_column == "session_id" else "users",
    )


def _signals_off(events: pd.DataFrame, config: FrictionConfig, names: np.ndarray) -> dict[str, str]:
    """Signals that cannot fire on this data, and why."""
    _, skipped = select_signals(config.signals, events.columns)
    present = {kind: bool(config.signals.event_match(kind).flags(names).any()) for kind in EVENT_KINDS}
    off = dict(skipped)
    for signal in SIGNALS:
        if signal.name in off:
            continue
        absent = [kind for kind in signal.kinds if not present[kind]]
        if absent:
            off[signal.name] = (
                f"no `{absent[0]}` event in the data (set `{absent[0]}_events` or "
                f"`{absent[0]}_event_pattern` in [signals])"
            )
    return off
