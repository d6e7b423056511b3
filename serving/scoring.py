"""Score sessions with the served model (serving.served): its own featurizer, then LightGBM,
the calibrator and TreeSHAP, on the design matrix gathered straight from the featurizer's
arrays. Sessions scored together share featurizer calls (`shared_calls`): its fixed cost per
call is most of what one session costs.

Drivers are chosen as `models.explain.top_drivers` chooses them (positive contributions,
strongest first) and worded by its `sentence`; a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from features.featurize import FeatureSet
from models.explain import Driver, risk_points, sentence, top_positions
from serving.columns import SessionInput, stacked
from serving.errors import NotScorableError
from serving.served import FeatureWords, ServedModel

__all__ = ["DriverAction", "Scored", "featurize", "score_each", "score_sessions", "shared_calls"]


@dataclass(frozen=True)
class DriverAction:
    driver: Driver
    action: str | None


@dataclass(frozen=True)
class Scored:
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
    row: np.ndarray  # its design row


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
    matrix = served.design(features)
    row_of = {session_id: i for i, session_id in enumerate(features.session_id.tolist())}
    return [
        _Featurized(features, row_of[s.session_id], matrix[row_of[s.session_id]])
        if s.session_id in row_of
        else _not_scorable(s)
        for s in sessions
    ]


def featurize(served: ServedModel, session: SessionInput) -> FeatureSet:
    """One session's features (a one-row `FeatureSet`), or its error raised."""
    [found] = _featurize_together(served, [session])
    if isinstance(found, Exception):
        raise found
    return found.features


def score_each(
    served: ServedModel,
    sessions: Sequence[SessionInput],
    explain: Sequence[bool],
    top: Sequence[int],
    per_call: int = 64,
) -> list[Scored | Exception]:
    """Risk, band and (where `explain`) the top drivers of each session, in input order; a
    session that cannot be scored gets its exception instead (the others are unaffected).

    Sessions are featurized up to `per_call` at a time (`shared_calls`), then scored one row
    at a time through LightGBM's single-row path (serving.single_row): the same numbers as
    `Booster.predict` on the whole matrix, without its per-call setup."""
    done: dict[int, Scored | Exception] = {}
    for members in shared_calls(sessions, per_call):
        found = _featurize_together(served, [sessions[i] for i in members])
        featurized = {}
        for i, one in zip(members, found, strict=True):
            if isinstance(one, Exception):
                done[i] = one
            else:
                featurized[i] = one
        if featurized:
            done |= _score_rows(served, sessions, featurized, explain, top)
    return [done[i] for i in range(len(sessions))]


def score_sessions(
    served: ServedModel, sessions: Sequence[SessionInput], explain: Sequence[bool], top: Sequence[int]
) -> list[Scored]:
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
) -> dict[int, Scored]:
    """Risk, band and drivers of the sessions of one featurizer call (by position): raw scores
    row by row, the calibration, the choice of drivers and their risk points once for all."""
    raw = np.array([served.raw_row(f.row)[0] for f in featurized.values()])
    risk = served.model.calibrator.apply(raw)
    band = served.model.band(risk)
    explained = [(k, i) for k, i in enumerate(featurized) if explain[i]]
    drivers = _drivers(served, featurized, explained, raw, top) if explained else {}
    return {
        i: Scored(
            sessions[i].session_id,
            float(raw[k]),
            float(risk[k]),
            str(band[k]),
            drivers.get(i),
            sessions[i].n_events,
        )
        for k, i in enumerate(featurized)
    }


def _value(words: FeatureWords, features: FeatureSet, at: int, row: np.ndarray, j: int) -> float | str | None:
    if words.categorical:
        found = features.context[words.name][at]
        return None if found is None else str(found)
    number = float(row[j])
    return None if np.isnan(number) else number


def _drivers(
    served: ServedModel,
    featurized: dict[int, _Featurized],
    explained: list[tuple[int, int]],
    raw: np.ndarray,
    top: Sequence[int],
) -> dict[int, list[DriverAction]]:
    """Each explained session's `top` strongest positive contributions, strongest first, chosen
    by `models.explain.top_positions` as batch explanations are (`explained`: (row in `raw`,
    session position) pairs)."""
    block = np.vstack([served.contrib_row(featurized[i].row)[:-1] for _, i in explained])
    positions, valid = top_positions(block, max(top[i] for _, i in explained), positive_only=True)
    shares = np.take_along_axis(block, positions, axis=1)
    points = risk_points(served.model, raw[[k for k, _ in explained]][:, None], shares)
    out = {}
    for r, (_, i) in enumerate(explained):
        found, drivers = featurized[i], []
        for j, ok, share, pts in zip(
            positions[r, : top[i]].tolist(),
            valid[r, : top[i]].tolist(),
            shares[r, : top[i]].tolist(),
            points[r, : top[i]].tolist(),
            strict=True,
        ):
            if not ok:
                continue
            words = served.words[j]
            value = _value(words, found.features, found.at, found.row, j)
            driver = Driver(
                feature=words.name,
                touchpoint=words.touchpoint,
                family=words.family,
                value=value,
                contribution=share,
                risk_points=pts,
                sentence=sentence(words.entry, words.name, value, share, pts),
            )
            drivers.append(DriverAction(driver, words.action))
        out[i] = drivers
    return out
