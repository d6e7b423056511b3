"""Score sessions with the served model (serving.served): its featurizer, then the model's
one scoring path (`models`: design matrix from the featurizer's arrays, LightGBM, calibrator,
`models.explain.top_drivers` with each driver's risk without its friction), as batch scoring
does. Sessions scored together share featurizer and LightGBM calls (`shared_calls`): their
fixed cost per call is most of what one session costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from features.featurize import FeatureSet
from models.explain import Driver, top_drivers
from serving.columns import SessionInput, stacked
from serving.errors import NotScorableError
from serving.served import ServedModel

__all__ = ["DriverAction", "SessionScore", "score_each", "score_sessions", "shared_calls"]


@dataclass(frozen=True)
class DriverAction:
    driver: Driver
    action: str | None


@dataclass(frozen=True)
class SessionScore:
    session_id: str
    raw: float
    risk: float
    band: str
    drivers: list[DriverAction] | None
    events: int


def _not_scorable(session: SessionInput) -> NotScorableError:
    return NotScorableError(
        f"session {session.session_id!r} has no journey event to score: its {session.n_events} "
        "event(s) are all label events"
    )


def shared_calls(sessions: Sequence[SessionInput], limit: int) -> list[list[int]]:
    """Sessions (by position) that one featurizer call can take together, at most `limit` per call.

    The featurizer is vectorized: 8 sessions in one call cost about what 2 cost one by one.
    Sessions of one call must not meet in it: a repeated session id would merge two sessions,
    and two sessions of one user would count as each other's history. Either goes to a later
    call, so every session gets exactly the numbers it gets alone."""
    calls: list[tuple[list[int], set[str], set[str], tuple[str, ...]]] = []
    for i, session in enumerate(sessions):
        names = tuple(session.columns)
        for members, ids, users, columns in calls:
            if (
                len(members) < limit
                and columns == names
                and session.session_id not in ids
                and users.isdisjoint(session.users)
            ):
                break
        else:
            members, ids, users = [], set(), set()
            calls.append((members, ids, users, names))
        members.append(i)
        ids.add(session.session_id)
        users.update(session.users)
    return [members for members, *_ in calls]


@dataclass(frozen=True, eq=False)
class _Featurized:
    features: FeatureSet  # of the featurizer call that took the session
    at: int  # the session's row in them


def _featurize_together(
    served: ServedModel, sessions: Sequence[SessionInput]
) -> list[_Featurized | Exception]:
    """Each session's features from one featurizer call, or what went wrong with it."""
    try:
        features = served.featurizer(*stacked(sessions))
    except Exception as exc:
        if len(sessions) == 1:
            return [exc]
        # One session's bad input fails the whole call: alone, each gets its own outcome.
        return [found for session in sessions for found in _featurize_together(served, [session])]
    row_of = {session_id: i for i, session_id in enumerate(features.session_id.tolist())}
    return [
        _Featurized(features, row_of[s.session_id]) if s.session_id in row_of else _not_scorable(s)
        for s in sessions
    ]


def score_each(
    served: ServedModel,
    sessions: Sequence[SessionInput],
    explain: Sequence[bool],
    top: Sequence[int],
    per_call: int = 64,
) -> list[SessionScore | Exception]:
    """Risk, band and (where `explain`) the top drivers of each session, in input order; a
    session that cannot be scored gets its exception instead (the others are unaffected).

    Sessions are featurized up to `per_call` at a time (`shared_calls`), and each call's
    sessions are scored together."""
    done: dict[int, SessionScore | Exception] = {}
    for members in shared_calls(sessions, per_call):
        found = _featurize_together(served, [sessions[i] for i in members])
        by_call: dict[int, dict[int, _Featurized]] = {}
        for i, one in zip(members, found, strict=True):
            if isinstance(one, Exception):
                done[i] = one
            else:
                # Sessions split off a failed call were featurized alone: grouped by call.
                by_call.setdefault(id(one.features), {})[i] = one
        for featurized in by_call.values():
            done |= _score_rows(served, sessions, featurized, explain, top)
    return [done[i] for i in range(len(sessions))]


def score_sessions(
    served: ServedModel, sessions: Sequence[SessionInput], explain: Sequence[bool], top: Sequence[int]
) -> list[SessionScore]:
    """`score_each` for a request that fails as a whole: the first failing session raises."""
    scored = []
    for one in score_each(served, sessions, explain, top):
        if isinstance(one, Exception):
            raise one
        scored.append(one)
    return scored


def _score_rows(
    served: ServedModel,
    sessions: Sequence[SessionInput],
    featurized: dict[int, _Featurized],
    explain: Sequence[bool],
    top: Sequence[int],
) -> dict[int, SessionScore]:
    """Risk, band and drivers of sessions of one featurizer call (by session position)."""
    model = served.model
    features = next(iter(featurized.values())).features
    at = np.array([f.at for f in featurized.values()], dtype=np.intp)
    matrix = model.design(features)[at]
    raw = model.raw_of(matrix)
    risk = model.calibrator.apply(raw)
    band = model.band(risk)
    explained = [(k, i) for k, i in enumerate(featurized) if explain[i]]
    drivers: dict[int, list[DriverAction]] = {}
    if explained:
        chosen = np.array([k for k, _ in explained], dtype=np.intp)
        rows = matrix[chosen]
        found = top_drivers(
            model,
            features,
            model.contributions_of(rows),
            k=max(top[i] for _, i in explained),
            raw=raw[chosen],
            rows=at[chosen],
            matrix=rows,
            what_if=True,
        )
        for (_, i), listed in zip(explained, found, strict=True):
            drivers[i] = [DriverAction(d, served.actions[d.feature]) for d in listed[: top[i]]]
    return {
        i: SessionScore(
            sessions[i].session_id,
            float(raw[k]),
            float(risk[k]),
            str(band[k]),
            drivers.get(i),
            sessions[i].n_events,
        )
        for k, i in enumerate(featurized)
    }
