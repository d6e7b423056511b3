"""The one featurizer: a batch of events -> one row of moment features per session.

The local engine, the Spark engine and the API all call `Featurizer` (or `featurize`).
The batch must hold whole sessions, or whole users when sessions are derived. The
events are laid out once session by session in time order; everything after is numpy
segment arithmetic (one weighted bincount over session x feature column, reduceat over
sessions), with no Python loop per event or per session. Events sharing a timestamp are
ordered by their content, so neither the input row order nor the ids can change a
feature. Rows come out sorted by session id.

User-history features (`session__prior_sessions`, `session__days_since_last`) come from
the user's earlier sessions in the batch, plus an optional `history` frame describing
each user's sessions *before* the batch (`user_id`, `prior_sessions`,
`last_session_end`), which is how the API scores one session and matches the batch.

Fast path for one session (the API): pass a mapping of column -> numpy array (text as
object arrays, `timestamp` as datetime64[us]) rather than a DataFrame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from features.catalog import Catalog, build_catalog
from features.config import FrictionConfig
from features.errors import DataQualityError, SchemaError
from features.labels import absence_labels, column_labels, event_cutoff, reached_code
from features.presets import with_preset
from features.schema import TIMESTAMP_DTYPE, did_you_mean
from features.sessions import (
    FLOAT_COLUMNS,
    MISSING_TIME,
    US_PER_S,
    Journey,
    Layout,
    Table,
    lay_out,
    lengths,
    offsets,
    run_starts,
)
from features.signals import Signal, select_signals
from features.taxonomy import Taxonomy, load_taxonomy

__all__ = ["EventsLike", "FeatureSet", "Featurizer", "featurize"]

EventsLike = pd.DataFrame | Mapping[str, Any]
CANONICAL = frozenset(
    {"session_id", "user_id", "timestamp", "event", "touchpoint", "page", "target", *FLOAT_COLUMNS}
)
_DAY_US = 86_400 * US_PER_S
_HOUR_US = 3_600 * US_PER_S


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """One row per session: ids, start/end, features in catalog order, and the label.

    `start_us`/`end_us` (the table's `session_start`/`session_end`) are the first and last
    journey events the features saw, so after the label cutoff. `counts` reconciles rows:
    events_in = events_used + label_events + events_after_cutoff.
    """

    session_id: np.ndarray
    user_id: np.ndarray
    start_us: np.ndarray
    end_us: np.ndarray
    values: np.ndarray  # float64, one column per numeric catalog entry
    context: dict[str, np.ndarray]  # object values per categorical catalog entry
    label: np.ndarray
    label_known: np.ndarray
    catalog: Catalog
    skipped_signals: dict[str, str]
    counts: dict[str, int]
    unknown_touchpoints: tuple[str, ...] = ()

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.catalog.names

    def __len__(self) -> int:
        return len(self.session_id)

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The feature table: ids, `session_start`/`session_end`, features, `label`, `label_known`."""
        numeric = pd.DataFrame(self.values, columns=[e.name for e in self.catalog.numeric], copy=False)
        head = pd.DataFrame(
            {
                "session_id": pd.array(self.session_id, dtype="str"),
                "user_id": pd.array(self.user_id, dtype="str"),
                "session_start": pd.to_datetime(self.start_us, unit="us", utc=True).astype(TIMESTAMP_DTYPE),
                "session_end": pd.to_datetime(self.end_us, unit="us", utc=True).astype(TIMESTAMP_DTYPE),
            }
        )
        context = pd.DataFrame(
            {name: pd.Categorical(values) for name, values in self.context.items()}, index=numeric.index
        )
        tail = pd.DataFrame({"label": self.label, "label_known": self.label_known})
        return pd.concat([head, numeric, context, tail], axis=1)

    def manifest(self) -> dict[str, Any]:
        """What a reader of the feature table needs: features with their words, skips, counts."""
        return {
            "features": self.catalog.to_records(),
            "skipped_signals": dict(self.skipped_signals),
            "unknown_touchpoints": list(self.unknown_touchpoints),
            "counts": dict(self.counts),
        }


@dataclass(frozen=True)
class _Plan:
    """What a featurizer computes for one set of input columns (cached per column set)."""

    signals: tuple[Signal, ...]
    skipped: dict[str, str]
    context: tuple[str, ...]
    catalog: Catalog
    label_column: str | None
    names: tuple[str, ...]  # numeric features, in column order
    index: dict[str, int]
    # Output column of (measure, touchpoint code), len(names) where the catalog has none;
    # measures are visits, exit, each signal, then dwell_s.
    column_of: np.ndarray
    visits: np.ndarray  # the visits columns, touchpoint order
    revisits: np.ndarray  # the revisits columns, same order
    totals: tuple[tuple[int, np.ndarray], ...]  # (session-wide total, its per-touchpoint columns)
    session_columns: np.ndarray  # the columns of `_SESSION_COLUMNS`


_SESSION_COLUMNS = (
    "session__events",
    "session__duration_s",
    "session__touchpoints",
    "session__visits",
    "session__pace_epm",
    "session__max_gap_s",
    "session__hour",
    "session__weekday",
    "funnel__deepest_stage",
)
_MEASURES = ("visits", "exit")  # counted per touchpoint before the signals; dwell_s comes last


def _columns(
    taxonomy: Taxonomy, signals: Sequence[Signal], index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(column of each (measure, touchpoint), visits columns, revisits columns).

    A measure the catalog leaves out at a touchpoint points past the last feature, to a
    scratch column that is dropped, so counting needs no filtering.
    """
    measures = (*_MEASURES, *(s.name for s in signals), "dwell_s")
    column_of = np.full((len(measures), len(taxonomy.touchpoints)), len(index), dtype=np.int64)
    for k, measure in enumerate(measures):
        for code, touchpoint in enumerate(taxonomy.touchpoints):
            column_of[k, code] = index.get(f"{touchpoint}__{measure}", len(index))
    revisits = np.array([index[f"{tp}__revisits"] for tp in taxonomy.touchpoints], dtype=np.int64)
    return column_of, column_of[0].copy(), revisits


def _totals(
    signals: Sequence[Signal], index: dict[str, int], column_of: np.ndarray
) -> tuple[tuple[int, np.ndarray], ...]:
    """Session-wide totals summed from a signal's per-touchpoint columns."""
    names = [s.name for s in signals]
    out = []
    for total, signal in (("session__stalls", "stalls"), ("funnel__regressions", "funnel_regressions")):
        if total in index and signal in names:
            columns = column_of[len(_MEASURES) + names.index(signal)]
            out.append((index[total], columns[columns < len(index)]))
    return tuple(out)


class Featurizer:
    """Built once from the config (taxonomy compiled, signals chosen), then called per batch."""

    def __init__(self, config: FrictionConfig | None = None) -> None:
        # The preset's signal names and event vocabulary, where the config leaves them unset.
        self.config = with_preset(config if config is not None else FrictionConfig())
        self.taxonomy_: Taxonomy = load_taxonomy(self.config.touchpoints)
        self.label_events_ = frozenset(self.config.label.events)
        self.reached_ = reached_code(self.config.label, self.taxonomy_.touchpoints)
        self._plans: dict[tuple[str, ...], _Plan] = {}

    def plan(self, columns: Sequence[str]) -> _Plan:
        key = tuple(columns)
        found = self._plans.get(key)
        if found is None:
            label = self.config.label
            label_column = label.column if label.kind == "column" else None
            context = tuple(c for c in columns if c not in CANONICAL and c != label_column)
            signals, skipped = select_signals(self.config.signals, columns)
            taxonomy = self.taxonomy_
            catalog = build_catalog(
                taxonomy.touchpoints, taxonomy.funnel, signals, self.config.signals, context
            )
            names = tuple(e.name for e in catalog.numeric)
            index = {name: i for i, name in enumerate(names)}
            column_of, visits, revisits = _columns(taxonomy, signals, index)
            found = _Plan(
                signals,
                skipped,
                context,
                catalog,
                label_column,
                names,
                index,
                column_of,
                visits,
                revisits,
                _totals(signals, index, column_of),
                np.array([index[name] for name in _SESSION_COLUMNS], dtype=np.int64),
            )
            self._plans[key] = found
        return found

    def catalog(self, columns: Sequence[str]) -> Catalog:
        """The features produced from events with these columns."""
        return self.plan(columns).catalog

    def schema(self, columns: Sequence[str]) -> dict[str, str]:
        """Output column -> dtype for events with these columns (for engines that declare it)."""
        head = {
            "session_id": "str",
            "user_id": "str",
            "session_start": TIMESTAMP_DTYPE,
            "session_end": TIMESTAMP_DTYPE,
        }
        features = {e.name: e.dtype for e in self.catalog(columns)}
        return head | features | {"label": "float64", "label_known": "bool"}

    def __call__(self, events: EventsLike, history: EventsLike | None = None) -> FeatureSet:
        """Featurize a batch of whole sessions (or whole users, when sessions are derived)."""
        table = Table(events)
        plan = self.plan(table.names)
        # Passed on unnamed, so the full layout can be freed once the label cutoff is applied.
        return _featurize(
            self, plan, lay_out(table, self.config.sessions, plan.context, plan.label_column), history
        )


def featurize(
    events: EventsLike, config: FrictionConfig | None = None, history: EventsLike | None = None
) -> FeatureSet:
    """One-off featurization; build a `Featurizer` once to featurize many batches."""
    return Featurizer(config)(events, history)


def _featurize(featurizer: Featurizer, plan: _Plan, lay: Layout, history: EventsLike | None) -> FeatureSet:
    config = featurizer.config
    taxonomy = featurizer.taxonomy_
    label_events = featurizer.label_events_
    is_label = np.array([name in label_events for name in lay.event_names], dtype=bool)[lay.event]
    keep, labelled = (
        event_cutoff(lay.starts, lay.ts, is_label, lay.session)
        if config.label.kind in ("event", "absence")
        else (~is_label, np.zeros(len(lay.starts), dtype=bool))
    )
    label = labelled.astype(np.float64) if config.label.kind == "event" else np.full(len(lay.starts), np.nan)
    if plan.label_column is not None and plan.label_column in lay.floats:
        label = column_labels(lay.floats[plan.label_column], lay.starts, plan.label_column)
    counts = {
        "events_in": lay.n_rows,
        "label_events": int(is_label.sum()),
        "events_after_cutoff": int((~is_label & ~keep).sum()),
        "sessions_in": len(lay.starts),
    }
    alive = offsets(np.bincount(lay.session[keep], minlength=len(lay.starts)) > 0)
    kept = lay if keep.all() else lay.compress(keep, alive)
    del lay, keep, is_label
    counts |= {
        "events_used": kept.n_rows,
        "sessions_without_journey_events": counts["sessions_in"] - len(alive),
    }
    if len(alive) == 0:
        return _empty(plan, counts)
    touchpoint, unknown = _touchpoints(taxonomy, kept)
    journey = Journey(
        starts=kept.starts,
        ts=kept.ts,
        event=kept.event,
        event_names=kept.event_names,
        touchpoint=touchpoint,
        touchpoints=taxonomy.touchpoints,
        stages=taxonomy.stages,
        page=kept.codes.get("page"),
        target=kept.codes.get("target"),
        x=kept.floats.get("x"),
        y=kept.floats.get("y"),
        load_ms=kept.floats.get("load_ms"),
        value=kept.floats.get("value"),
    )
    if featurizer.reached_ is not None:
        label[alive] = absence_labels(touchpoint, journey.session, featurizer.reached_, labelled[alive])
    values = _moments(journey, plan, featurizer)
    users = kept.session_users
    start, end = kept.ts[kept.starts], kept.ts[journey.ends]
    prior, days = _history(users, start, end, history)
    values[:, plan.index["session__prior_sessions"]] = prior
    values[:, plan.index["session__days_since_last"]] = days
    context = {f"context__{name}": kept.first_values(name) for name in plan.context}
    label, known = label[alive], ~np.isnan(label[alive])
    by_id = _id_order(kept.session_ids)
    order: np.ndarray | slice = slice(None) if by_id is None else by_id  # in id order already: no copies
    counts |= {
        "sessions": len(alive),
        "sessions_labelled": int(known.sum()),
        "dissatisfied": int((label == 1).sum()),
    }
    return FeatureSet(
        session_id=kept.session_ids[order],
        user_id=users[order],
        start_us=start[order],
        end_us=end[order],
        values=values[order],
        context={name: v[order] for name, v in context.items()},
        label=label[order],
        label_known=known[order],
        catalog=plan.catalog,
        skipped_signals=plan.skipped,
        counts=counts,
        unknown_touchpoints=unknown,
    )


def _empty(plan: _Plan, counts: dict[str, int]) -> FeatureSet:
    nothing = np.empty(0, dtype=object)
    return FeatureSet(
        session_id=nothing,
        user_id=nothing,
        start_us=np.empty(0, np.int64),
        end_us=np.empty(0, np.int64),
        values=np.empty((0, len(plan.catalog.numeric))),
        context={e.name: nothing for e in plan.catalog.categorical},
        label=np.empty(0),
        label_known=np.empty(0, bool),
        catalog=plan.catalog,
        skipped_signals=plan.skipped,
        counts=counts | {"sessions": 0, "sessions_labelled": 0, "dissatisfied": 0},
    )


def _id_order(ids: np.ndarray) -> np.ndarray | None:
    """The row order by session id; None when the rows are in that order already."""
    if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])):
        return None
    return np.argsort(ids, kind="stable")


def _touchpoints(taxonomy: Taxonomy, lay: Layout) -> tuple[np.ndarray, tuple[str, ...]]:
    """Touchpoint code per event: the data's `touchpoint` column where given, else the taxonomy."""
    derived = taxonomy.map_codes(lay.event, lay.event_names, lay.codes.get("page"), lay.uniques.get("page"))
    given = lay.codes.get("touchpoint")
    if given is None:
        return derived, ()
    present = given >= 0
    used = np.unique(given[present])  # the column's codes may be shared with other columns
    codes, unknown = taxonomy.map_names(lay.uniques["touchpoint"][used])
    lookup = np.full(len(lay.uniques["touchpoint"]), taxonomy.other, dtype=np.int64)
    lookup[used] = codes
    derived[present] = lookup[given[present]]
    return derived, tuple(unknown)


def _moments(j: Journey, plan: _Plan, featurizer: Featurizer) -> np.ndarray:
    """The numeric features, one row per session, in catalog order.

    Each counted measure (visits, exits, every signal) is a list of event offsets, and dwell
    time is a weight on every event: one weighted bincount over (session, output column)
    fills all the per-touchpoint features at once, straight into the output layout.
    """
    n, width = j.n_sessions, len(plan.names) + 1  # + the scratch column
    config = featurizer.config.signals
    counted = [j.visit_starts, j.ends, *(signal.compute(j, config) for signal in plan.signals)]
    counted.append(np.arange(j.n_events))  # dwell: every event, weighted by its gap
    # All measures in one pass (a few numpy calls whatever the number of signals):
    # key = session row offset + output column of (measure, touchpoint of the event).
    at = np.concatenate(counted)
    measure = np.repeat(np.arange(len(counted)), [len(c) for c in counted])
    keys = plan.column_of[measure, j.touchpoint[at]]
    if n > 1:
        keys += j.session[at] * width
    del at, measure
    weight = np.ones(len(keys))
    weight[-j.n_events :] = j.gap_after / US_PER_S
    out = np.bincount(keys, weights=weight, minlength=n * width).reshape(n, width)[:, :-1]
    visits = out[:, plan.visits]
    out[:, plan.revisits] = np.maximum(visits - 1.0, 0.0)

    start, end = j.ts[j.starts], j.ts[j.ends]
    duration = (end - start) / US_PER_S
    n_events = lengths(j.starts, j.n_events).astype(np.float64)
    # One assignment for the session-wide columns (in `_SESSION_COLUMNS` order).
    out[:, plan.session_columns] = np.stack(
        [
            n_events,
            duration,
            (visits > 0).sum(axis=1),
            visits.sum(axis=1),
            np.divide(n_events * 60.0, duration, out=np.full(n, np.nan), where=duration > 0),
            np.maximum.reduceat(j.gap_after, j.starts) / US_PER_S,
            (start // _HOUR_US) % 24,
            (start // _DAY_US + 3) % 7,  # 1970-01-01 was a Thursday
            np.maximum.reduceat(j.stages[j.touchpoint], j.starts) + 1.0,
        ],
        axis=1,
    )
    for total, columns in plan.totals:
        out[:, total] = out[:, columns].sum(axis=1)
    return out


def _history(
    users: np.ndarray, start: np.ndarray, end: np.ndarray, history: EventsLike | None
) -> tuple[np.ndarray, np.ndarray]:
    """(prior sessions, days since the previous session) per session; NaN without a user id.

    Sessions of one user are ordered by start; ties in start share their count, so the
    result never depends on session ids.
    """
    n = len(users)
    prior, days = np.full(n, np.nan), np.full(n, np.nan)
    known = offsets(users != np.array(None))  # user ids are text or None
    if known.size == 0:
        return prior, days
    hist_prior, hist_end = _history_lookup(users[known], history)
    if known.size == 1:  # one session, as the API scores: all its history is the caller's
        order, s, rank, previous_end = np.zeros(1, np.int64), start[known], np.zeros(1, np.int64), hist_end
    else:
        user_codes = pd.factorize(users[known])[0]
        order = np.lexsort((end[known], start[known], user_codes))
        u, s, e = user_codes[order], start[known][order], end[known][order]
        index = np.arange(known.size)
        new_user = run_starts(u)
        new_start = new_user | run_starts(s)
        user_first = np.maximum.accumulate(np.where(new_user, index, 0))
        group_first = np.maximum.accumulate(np.where(new_start, index, 0))
        rank = group_first - user_first
        previous_end = np.where(rank > 0, e[np.maximum(group_first - 1, 0)], hist_end[order])
    gap_days = np.maximum(s - previous_end, 0) / _DAY_US
    prior[known[order]] = rank + hist_prior[order]
    days[known[order]] = np.where(previous_end == MISSING_TIME, np.nan, gap_days)
    return prior, days


def _history_lookup(users: np.ndarray, history: EventsLike | None) -> tuple[np.ndarray, np.ndarray]:
    """Per session: the user's sessions before the batch, and the end of the last one (MISSING_TIME)."""
    prior = np.zeros(len(users))
    last_end = np.full(len(users), MISSING_TIME, dtype=np.int64)
    if history is None:
        return prior, last_end
    table = Table(history)
    for name in ("user_id", "prior_sessions", "last_session_end"):
        if name not in table.names:
            hint = did_you_mean(name, table.names)
            raise SchemaError(f"history lacks the column `{name}`{hint}; it has: {', '.join(table.names)}")
    ids = np.asarray(table.raw("user_id"), dtype=object)
    counts = table.floats("prior_sessions")
    if len(ids) <= 8 and len(users) <= 8:  # the API's one session and one history row: plain lists
        listed = ids.tolist()
        if any(not isinstance(u, str) and pd.isna(u) for u in listed):
            raise DataQualityError("history `user_id` is empty on some rows")
        if len(set(listed)) < len(listed):
            repeated = next(u for k, u in enumerate(listed) if u in listed[:k])
            raise DataQualityError(f"history has more than one row for user `{repeated}`")
        at = np.array([listed.index(u) if u in listed else -1 for u in users.tolist()], np.int64)
    else:
        index = pd.Index(ids)
        if index.hasnans:
            raise DataQualityError("history `user_id` is empty on some rows")
        if index.has_duplicates:
            repeated = ids[np.argmax(index.duplicated())]
            raise DataQualityError(f"history has more than one row for user `{repeated}`")
        at = index.get_indexer(users)
    if not bool((counts >= 0).all()):  # NaN fails too
        raise DataQualityError("history `prior_sessions` must be a count >= 0 on every row")
    found = at >= 0
    rows = at[found]
    prior[found] = counts[rows]
    last_end[found] = table.timestamps("last_session_end", allow_missing=True)[rows]
    return prior, last_end
