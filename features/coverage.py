"""How much of the data the config understands: `friction validate`, `features` and `init` say it.

For canonical events and a config (its preset's vocabulary and signal names applied, as the
featurizer applies them): the share of events at each touchpoint (and in `other`, with the
event names and URL templates that land there most), which signals are off and why (a
missing column, `disabled`, or no event of the kind they look for), the label rate, and the
sessions that hold no journey event. Label events are counted apart: they are the outcome,
never a touchpoint visit. Rules run once per distinct event and page (the taxonomy's own
`map_codes`), never per event.

The label rate is told before `train` needs it, for the kinds that use events: for
`kind = "event"` the share of sessions holding a label event; for `kind = "absence"` the
share of the sessions reaching `reached` that hold none of the events (order is not
checked here; the featurizer also drops what follows the first of them). Sessions are
counted by session id; the rows of a user without a session id count as one more session
of that user (their gap sessions are derived later, by the featurizer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.config import FrictionConfig
from features.labels import reached_code
from features.presets import with_preset
from features.signals import EVENT_KINDS, SIGNALS, select_signals
from features.taxonomy import OTHER, Taxonomy, load_taxonomy
from features.tokens import url_template

__all__ = ["OTHER_WARNING_SHARE", "Coverage", "LabelCoverage", "measure_coverage"]

# Above this share of events in `other`, the touchpoint features miss much of the journey.
OTHER_WARNING_SHARE = 0.20
_TOP = 5
_LABEL_EVENT_KINDS = ("event", "absence")


@dataclass(frozen=True)
class LabelCoverage:
    """The label's events in the data (`[label]` kinds "event" and "absence")."""

    kind: str
    names: tuple[str, ...]
    reached: str | None  # kind = "absence": the touchpoint whose visitors are labelled
    events: int  # rows holding one of the label's events
    base: int  # sessions the label is defined on: all of them, or those reaching `reached`
    dissatisfied: int  # among them: holding a label event ("event"), holding none ("absence")
    frequent: tuple[tuple[str, int], ...]  # the data's most frequent event names, for the warning
    unit: str = "sessions"

    @property
    def rate(self) -> float | None:
        return self.dissatisfied / self.base if self.base else None

    def rows(self) -> dict[str, str]:
        named = ", ".join(self.names)
        rows = {"label events": f"{self.events:,} ({named}; not touchpoint visits)"}
        among = self.unit if self.kind == "event" else f"{self.unit} reaching {self.reached}"
        counted = f"{self.dissatisfied:,} of {self.base:,}"
        if self.kind == "absence":
            counted += f" hold no {named}"
        rate = self.rate
        rows["label rate"] = f"{'n/a' if rate is None else format(rate, '.1%')} of {among} ({counted})"
        return rows

    def warning(self) -> str | None:
        """One line when `train` could not learn from this label, else None."""
        frequent = ", ".join(f"{name} ({count:,})" for name, count in self.frequent)
        fix = f"name this data's events in [label] events (its most frequent: {frequent})"
        names = ", ".join(f"`{name}`" for name in self.names)
        if self.kind == "absence" and not self.base:
            return (
                f"no {self.unit[:-1]} reaches `{self.reached}`, so the label is unknown for every "
                f"one; set [label] reached to a touchpoint this data reaches"
            )
        if self.events:
            return None
        if self.kind == "event":
            return (
                f"the label events never occur: {names} in 0 of {self.base:,} {self.unit} "
                f"(label rate 0.0%); `train` needs dissatisfied {self.unit}: {fix}"
            )
        return (
            f"{names} never occur, so all {self.base:,} {self.unit} reaching `{self.reached}` "
            f"would be dissatisfied (label rate 100.0%); {fix}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "events": list(self.names),
            "reached": self.reached,
            "label_events": self.events,
            "sessions": self.base,
            "dissatisfied": self.dissatisfied,
            "rate": self.rate,
        }


@dataclass(frozen=True)
class Coverage:
    events: int
    touchpoints: dict[str, int]  # journey events per touchpoint, taxonomy order, `other` last
    label_events: int
    sessions: int | None  # None when the events carry neither session nor user ids
    label: LabelCoverage | None  # None for the label kinds that use no events
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
        return None if self.label is None else self.label.rate

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
        if self.label is not None and (warning := self.label.warning()) is not None:
            found.append(warning)
        return found

    def as_rows(self) -> dict[str, Any]:
        """What a job prints: label -> value."""
        rows: dict[str, Any] = {}
        for touchpoint, count in self.touchpoints.items():
            share = count / self.events if self.events else 0.0
            rows[f"touchpoint {touchpoint}"] = f"{count:,} events ({share:.1%})"
        if self.label is not None:
            rows |= self.label.rows()
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
            "label": None if self.label is None else self.label.as_json(),
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


def measure_coverage(events: pd.DataFrame, config: FrictionConfig) -> Coverage:
    """Coverage of canonical `events` under `config`, its preset applied as the featurizer does."""
    config = with_preset(config)
    taxonomy = load_taxonomy(config.touchpoints)
    n = len(events)
    event_codes, names = _codes(events["event"])
    touchpoint = _touchpoint_codes(events, taxonomy, event_codes, names)
    label_names = set(config.label.events) if config.label.kind in _LABEL_EVENT_KINDS else set()
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

    keys = _session_keys(events)
    unit = "sessions" if "session_id" in events.columns else "users"
    sessions = without_journey = label = None
    if keys is not None:
        valid = keys >= 0
        sessions = int(keys[valid].max() + 1) if valid.any() else 0
        placed = np.zeros(sessions, dtype=bool)
        placed[keys[valid & journey & (touchpoint != taxonomy.other)]] = True
        without_journey = int((~placed).sum())
        if label_names:
            reached = reached_code(config.label, taxonomy.touchpoints)
            at_reached = None if reached is None else valid & journey & (touchpoint == reached)
            label = _label_coverage(
                config, keys, sessions, valid & label_row, at_reached, event_codes, names, unit
            )

    return Coverage(
        events=n,
        touchpoints=per_touchpoint,
        label_events=int(label_row.sum()),
        sessions=sessions,
        label=label,
        sessions_without_journey=without_journey,
        signals_off=_signals_off(events, config, names),
        unmapped_events=[(str(e), int(c)) for e, c in top_events.items()],
        unmapped_templates=top_templates,
        session_unit=unit,
    )


def _session_keys(events: pd.DataFrame) -> np.ndarray | None:
    """A dense session code per row (-1 without any id): the session id, else the user's rows
    without one as one more session of that user; None when neither column exists."""
    if "session_id" not in events.columns and "user_id" not in events.columns:
        return None
    key = np.full(len(events), -1, dtype=np.int64)
    offset = 0
    if "session_id" in events.columns:
        key, uniques = _codes(events["session_id"])
        offset = len(uniques)
    if "user_id" in events.columns:
        users, _ = _codes(events["user_id"])
        key = np.where((key < 0) & (users >= 0), offset + users, key)
    dense = np.full(len(key), -1, dtype=np.int64)
    known = key >= 0
    dense[known] = pd.factorize(key[known])[0]
    return dense


def _label_coverage(
    config: FrictionConfig,
    keys: np.ndarray,
    sessions: int,
    label_row: np.ndarray,
    at_reached: np.ndarray | None,
    event_codes: np.ndarray,
    names: np.ndarray,
    unit: str,
) -> LabelCoverage:
    holding = np.zeros(sessions, dtype=bool)
    holding[keys[label_row]] = True
    if at_reached is None:  # kind = "event"
        base, dissatisfied = sessions, int(holding.sum())
    else:
        reached = np.zeros(sessions, dtype=bool)
        reached[keys[at_reached]] = True
        base, dissatisfied = int(reached.sum()), int((reached & ~holding).sum())
    counts = np.bincount(event_codes[event_codes >= 0], minlength=len(names))
    order = np.argsort(-counts, kind="stable")[:_TOP]
    return LabelCoverage(
        kind=config.label.kind,
        names=tuple(config.label.events),
        reached=config.label.reached,
        events=int(label_row.sum()),
        base=base,
        dissatisfied=dissatisfied,
        frequent=tuple((str(names[i]), int(counts[i])) for i in order if counts[i]),
        unit=unit,
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
