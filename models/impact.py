"""Counterfactual impact: how many dissatisfied sessions removing some friction would spare.

A scope is a touchpoint (`payment`), a signal family (`rage_clicks`) or both
(`payment,rage_clicks`). Its friction is the catalog's friction features in it
(`features.catalog.is_friction`); exposure (visits, dwell, exit, context...) is kept as it was.
For every session with friction in the scope, the counterfactual sets those counts to their
no-friction value, 0 (a missing count stays missing: nothing was observed, nothing is
removed), and lowers the session-wide totals that sum them (`session__stalls`,
`funnel__regressions`) by what was removed, so the row stays one the featurizer could write.

    cf = counterfactual(model, features, [Scope("payment"), Scope(family="errors")])
    cf.risk_without(0)                    # every session's calibrated risk without it
    impact(cf, groups=days_and_segments)  # avoided = sum of (risk - risk without) [95 % interval]

The impact of a scope is the sum over sessions of calibrated risk minus counterfactual risk:
the expected number of dissatisfied sessions avoided; its share is that over the sum of the
risk (all predicted dissatisfaction). Sessions without friction in a scope are not re-scored
(their difference is 0), and the rest of every scope are scored together, in a few batched
`predict_proba` calls, never one per session. Intervals resample the per-session differences
(`models.bootstrap`), never re-scoring. Batch scoring, the report and the API call this module.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from features.catalog import is_friction, total_of
from features.errors import ConfigError
from features.schema import did_you_mean
from models.artifact import FrictionModel
from models.bootstrap import bootstrap_totals, percentile_interval
from models.errors import FeatureMismatchError
from models.manifest import NON_TOUCHPOINT_SCOPES, Design

__all__ = [
    "IMPACT_COLUMNS",
    "Counterfactual",
    "FrictionMap",
    "Scope",
    "counterfactual",
    "friction_map",
    "impact",
    "parse_scope",
    "risk_without_drivers",
    "scope_of_feature",
]

ALL = "all"
# The columns of `impact`, after the grouping columns `group` and `value`.
IMPACT_COLUMNS: tuple[str, ...] = (
    "scope",
    "touchpoint",
    "family",
    "sessions",
    "sessions_with_friction",
    "predicted_dissatisfied",
    "avoided",
    "avoided_low",
    "avoided_high",
    "share",
    "share_low",
    "share_high",
)
# Stacked counterfactual rows per `predict_proba` call: bounds memory on large tables.
_BATCH_ROWS = 100_000
# A change of risk this small is float rounding between two scoring paths (a given `risk` comes
# from summed contributions), not an effect: a row whose trees ignore the friction changes by 0.
_ROUNDING = 1e-9


@dataclass(frozen=True)
class Scope:
    """Friction at a touchpoint, of a family, or of a family at a touchpoint."""

    touchpoint: str | None = None
    family: str | None = None

    @property
    def name(self) -> str:
        return ",".join(part for part in (self.touchpoint, self.family) if part)


@dataclass(frozen=True)
class FrictionMap:
    """The model's friction features, where they are and what they count (from its catalog)."""

    features: tuple[str, ...]  # numeric friction features, in model order
    at: tuple[int, ...]  # their columns in the model's design matrix
    touchpoint: Mapping[str, str | None]  # feature -> its touchpoint (None: session-wide)
    family: Mapping[str, str]
    totals: Mapping[str, str]  # session-wide total -> the per-touchpoint family it sums

    @property
    def touchpoints(self) -> list[str]:
        return list(dict.fromkeys(t for t in self.touchpoint.values() if t is not None))

    @property
    def families(self) -> list[str]:
        return list(dict.fromkeys(self.family[f] for f in self.features if f not in self.totals))

    def pairs(self) -> list[Scope]:
        """Every (touchpoint, family) with a friction feature, in model order."""
        return [
            Scope(touchpoint, self.family[f])
            for f in self.features
            if (touchpoint := self.touchpoint[f]) is not None
        ]

    def allowed(self) -> list[str]:
        return [*self.touchpoints, *self.families, *(s.name for s in self.pairs())]

    def columns(self, scope: Scope) -> list[str]:
        """The friction features a scope sets to 0 (a family takes its session-wide totals too)."""
        return [
            f
            for f in self.features
            if (scope.touchpoint is None or self.touchpoint[f] == scope.touchpoint)
            and (
                scope.family is None
                or self.family[f] == scope.family
                or (scope.touchpoint is None and self.totals.get(f) == scope.family)
            )
        ]


# Per model (keyed by its compiled design, which lives as long as it): the API asks for every
# explained request.
_FRICTION_MAPS: weakref.WeakKeyDictionary[Design, FrictionMap] = weakref.WeakKeyDictionary()


def friction_map(model: FrictionModel) -> FrictionMap:
    """The model's friction features, worked out once per model."""
    found = _FRICTION_MAPS.get(model.design)
    if found is None:
        found = _FRICTION_MAPS[model.design] = _friction_map(model)
    return found


def _friction_map(model: FrictionModel) -> FrictionMap:
    scopes, families = model.words.scopes, model.words.families
    catalog = model.manifest.catalog
    at = [
        i
        for i, spec in enumerate(model.manifest.features)
        if spec.kind == "numeric" and is_friction(spec.name, catalog.get(spec.name))
    ]
    names = [model.manifest.features[i].name for i in at]
    return FrictionMap(
        features=tuple(names),
        at=tuple(at),
        touchpoint={n: None if scopes[n] in NON_TOUCHPOINT_SCOPES else scopes[n] for n in names},
        family={n: families[n] for n in names},
        totals={
            n: t for n in names if scopes[n] in NON_TOUCHPOINT_SCOPES and (t := total_of(n, catalog.get(n)))
        },
    )


def parse_scope(model: FrictionModel, text: str) -> Scope:
    """`payment`, `rage_clicks` or `payment,rage_clicks` -> its Scope; a one-line ConfigError
    naming the allowed scopes otherwise."""
    found = friction_map(model)
    parts = [p.strip() for p in str(text).split(",")]
    scope: Scope | None = None
    if len(parts) == 1 and parts[0] in found.touchpoints:
        scope = Scope(parts[0])
    elif len(parts) == 1 and parts[0] in found.families:
        scope = Scope(family=parts[0])
    elif len(parts) == 2 and Scope(parts[0], parts[1]) in found.pairs():
        scope = Scope(parts[0], parts[1])
    if scope is None:
        allowed = found.allowed()
        hint = did_you_mean(str(text), allowed) or did_you_mean(parts[-1], found.families + found.touchpoints)
        touchpoints, families = ", ".join(found.touchpoints) or "none", ", ".join(found.families) or "none"
        raise ConfigError(
            f"unknown scope {text!r}{hint}: a scope is a touchpoint ({touchpoints}), a friction family "
            f"({families}) or `touchpoint,family` where that touchpoint has that friction"
        )
    return scope


@dataclass(frozen=True, eq=False)
class Counterfactual:
    """Every session's calibrated risk, and per scope the risk of the sessions with friction
    in it once that friction is removed."""

    scopes: tuple[Scope, ...]
    risk: np.ndarray  # (sessions,) as scored
    rows: tuple[np.ndarray, ...]  # per scope: positions of the sessions with friction in it
    without: tuple[np.ndarray, ...]  # per scope: their risk without it

    def risk_without(self, i: int) -> np.ndarray:
        """Every session's risk with scope i's friction removed (as is where it had none)."""
        out = self.risk.copy()
        out[self.rows[i]] = self.without[i]
        return out

    def avoided(self, i: int) -> np.ndarray:
        """Per session: risk minus risk without scope i's friction (0 where it had none)."""
        out = np.zeros_like(self.risk)
        out[self.rows[i]] = self.risk[self.rows[i]] - self.without[i]
        return out

    @cached_property
    def names(self) -> list[str]:
        return [s.name for s in self.scopes]


def _positive_rows(found: FrictionMap, features: pd.DataFrame | np.ndarray, column: str) -> np.ndarray:
    if isinstance(features, np.ndarray):
        values = features[:, found.at[found.features.index(column)]]
    else:
        values = features[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.flatnonzero(values > 0)


def counterfactual(
    model: FrictionModel,
    features: pd.DataFrame | np.ndarray,
    scopes: Sequence[Scope],
    risk: np.ndarray | None = None,
    within: Sequence[np.ndarray] | None = None,
) -> Counterfactual:
    """Re-score the sessions with friction in each scope without it, all scopes stacked in
    batched `predict_proba` calls. `features`: a feature table, or its design matrix
    (`model.design`) when the caller has built it; `risk`: the sessions' calibrated risk when
    already scored; `within`: per scope, the only sessions (positions) to consider (the others
    keep their risk)."""
    return _counterfactual(model, friction_map(model), features, scopes, risk, within)


def _counterfactual(
    model: FrictionModel,
    found: FrictionMap,
    features: pd.DataFrame | np.ndarray,
    scopes: Sequence[Scope],
    risk: np.ndarray | None,
    within: Sequence[np.ndarray] | None,
) -> Counterfactual:
    zeroed = [found.columns(s) for s in scopes]
    if unknown := [s.name for s, columns in zip(scopes, zeroed, strict=True) if not columns]:
        allowed = ", ".join(found.allowed())
        raise ConfigError(f"scope {unknown[0]!r} holds no friction feature of this model; allowed: {allowed}")
    if isinstance(features, np.ndarray):
        _check_matrix(model, features)
    else:
        model.manifest.check(features, strict=False)
        features = features.reset_index(drop=True)
    if risk is not None:
        base = np.asarray(risk, dtype=np.float64)
    elif isinstance(features, np.ndarray):
        base = model.calibrator.apply(model.raw_of(features))
    else:
        base = model.predict_proba(features, strict=False)
    cache: dict[str, np.ndarray] = {}
    rows: list[np.ndarray] = []
    for columns in zeroed:
        for column in columns:
            if column not in cache:
                cache[column] = _positive_rows(found, features, column)
        hit = [cache[c] for c in columns]
        found_rows = np.unique(np.concatenate(hit)) if hit else np.zeros(0, dtype=np.int64)
        if within is not None:
            found_rows = np.intersect1d(found_rows, np.asarray(within[len(rows)], dtype=np.int64))
        rows.append(found_rows)
    job_scope = np.repeat(np.arange(len(rows), dtype=np.int64), [len(r) for r in rows])
    job_row = np.concatenate(rows or [np.zeros(0, dtype=np.int64)]).astype(np.int64)
    scored = np.empty(len(job_row))
    for start in range(0, len(job_row), _BATCH_ROWS):
        end = start + _BATCH_ROWS
        scored[start:end] = _score_without(
            model, features, found, zeroed, job_scope[start:end], job_row[start:end]
        )
    scored = np.where(np.abs(base[job_row] - scored) <= _ROUNDING, base[job_row], scored)
    bounds = np.cumsum([0, *(len(r) for r in rows)])
    without = tuple(scored[bounds[i] : bounds[i + 1]] for i in range(len(rows)))
    return Counterfactual(tuple(scopes), base, tuple(rows), without)


def _check_matrix(model: FrictionModel, matrix: np.ndarray) -> None:
    width = len(model.manifest.features)
    if matrix.ndim != 2 or matrix.shape[1] != width:
        raise FeatureMismatchError(
            f"a design matrix of this model has {width} columns (`model.design`), got shape {matrix.shape}"
        )


def scope_of_feature(model: FrictionModel, name: str) -> Scope | None:
    """The friction a driver stands for: its family at its touchpoint, all of a family for a
    session-wide total, None for exposure."""
    return _scope_in(friction_map(model), name)


def _scope_in(found: FrictionMap, name: str) -> Scope | None:
    if name not in found.touchpoint:
        return None
    touchpoint = found.touchpoint[name]
    if touchpoint is None:
        return Scope(family=found.totals.get(name, found.family[name]))
    return Scope(touchpoint, found.family[name])


def risk_without_drivers(
    model: FrictionModel,
    features: pd.DataFrame | np.ndarray,
    drivers: Sequence[Sequence[str | None]],
    risk: np.ndarray | None = None,
) -> np.ndarray:
    """(sessions x k): each session's risk with its i-th driver's friction removed (`drivers`:
    per session, k feature names or None), NaN where the driver is exposure or absent.
    `features`: a feature table or its design matrix (`counterfactual`). One `counterfactual`
    call for the whole batch, re-scoring only the (session, driver) pairs asked."""
    found = friction_map(model)
    width = max((len(row) for row in drivers), default=0)
    out = np.full((len(drivers), width), np.nan)
    asked: dict[Scope, list[tuple[int, int]]] = {}
    for row, names in enumerate(drivers):
        for i, name in enumerate(names):
            scope = None if name is None else _scope_in(found, name)
            if scope is not None:
                asked.setdefault(scope, []).append((row, i))
    if not asked:
        return out
    scopes = list(asked)
    rows = [np.unique([r for r, _ in asked[s]]) for s in scopes]
    cf = _counterfactual(model, found, features, scopes, risk, rows)
    for k, scope in enumerate(scopes):
        at, slot = np.asarray(asked[scope], dtype=np.int64).T
        out[at, slot] = cf.risk_without(k)[at]
    return out


def _score_without(
    model: FrictionModel,
    features: pd.DataFrame | np.ndarray,
    found: FrictionMap,
    columns: Sequence[Sequence[str]],
    job_scope: np.ndarray,
    job_row: np.ndarray,
) -> np.ndarray:
    """Calibrated risk of the given (scope, session) jobs, each session without its scope's
    friction (`columns`: per scope, the friction features it sets to 0)."""
    if isinstance(features, np.ndarray):
        matrix = features[job_row]
    else:
        matrix = model.design(features.take(job_row), strict=False)
    friction = list(found.features)
    position = {name: j for j, name in enumerate(friction)}
    at_column = np.asarray(found.at, dtype=np.intp)
    block = matrix[:, at_column]
    for i in np.unique(job_scope):
        at = np.flatnonzero(job_scope == i)
        zeroed = np.asarray([position[c] for c in columns[int(i)]], dtype=np.int64)
        values = block[np.ix_(at, zeroed)]
        removed = np.where(values > 0, values, 0.0)
        block[np.ix_(at, zeroed)] = np.where(values > 0, 0.0, values)
        for total, family in found.totals.items():
            if position[total] in zeroed:
                continue
            summed = [k for k, j in enumerate(zeroed.tolist()) if found.family[friction[j]] == family]
            if summed:
                column = block[at, position[total]]
                block[at, position[total]] = np.maximum(column - removed[:, summed].sum(axis=1), 0.0)
    matrix[:, at_column] = block
    out: np.ndarray = model.calibrator.apply(model.raw_of(matrix))
    return out


def _codes(groups: pd.DataFrame | None, n: int) -> list[tuple[str, np.ndarray, pd.Index]]:
    """(grouping name, group code per session, group values): all sessions first."""
    out = [(ALL, np.zeros(n, dtype=np.int64), pd.Index([ALL]))]
    if groups is None:
        return out
    for column in groups.columns:
        codes, values = pd.factorize(groups[column].reset_index(drop=True), sort=True, use_na_sentinel=False)
        out.append((str(column), np.asarray(codes, dtype=np.int64), pd.Index(values)))
    return out


def impact(
    cf: Counterfactual,
    groups: pd.DataFrame | None = None,
    draws: int = 1_000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per scope for all sessions (`group` and `value` = "all"), then per value of each
    column of `groups` (aligned with the sessions: a day, a platform...): sessions, sessions with
    friction in the scope, predicted dissatisfied (sum of risk), avoided (sum of risk minus risk
    without) and its share of the predicted, each with a bootstrap interval over sessions at
    `level` (`draws` = 0: no interval). Most avoided first within each group value."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 0:
        raise ConfigError(f"the number of bootstrap draws must be an integer >= 0, got {draws!r}")
    n = len(cf.risk)
    groupings = _codes(groups, n)
    # Per scope, the differences of the sessions that had its friction only (the rest are 0): a
    # dense column per scope is built only for the bootstrap.
    differences = [cf.risk[rows] - without for rows, without in zip(cf.rows, cf.without, strict=True)]
    samples: list[np.ndarray | None] = [None] * len(groupings)
    if draws and n:
        values = np.column_stack([cf.risk, *(cf.avoided(i) for i in range(len(cf.scopes)))])
        samples = list(bootstrap_totals(values, [(c, len(v)) for _, c, v in groupings], draws, seed))
    frames: list[pd.DataFrame] = []
    order = {name: k for k, (name, _, _) in enumerate(groupings)}
    for (name, codes, labels), drawn in zip(groupings, samples, strict=True):
        size = len(labels)
        sessions = np.bincount(codes, minlength=size)
        predicted = np.bincount(codes, weights=cf.risk, minlength=size)
        low = high = share_low = share_high = np.full((size, len(cf.scopes)), np.nan)
        if drawn is not None:
            low, high = percentile_interval(drawn[:, :, 1:], level)
            with np.errstate(invalid="ignore", divide="ignore"):
                share_low, share_high = percentile_interval(drawn[:, :, 1:] / drawn[:, :, :1], level)
        for i, scope in enumerate(cf.scopes):
            total = np.bincount(codes[cf.rows[i]], weights=differences[i], minlength=size)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(predicted > 0, total / predicted, np.nan)
            frames.append(
                pd.DataFrame(
                    {
                        "_group": order[name],
                        "_value": np.arange(size),
                        "group": name,
                        "value": labels,
                        "scope": scope.name,
                        "touchpoint": scope.touchpoint,
                        "family": scope.family,
                        "sessions": sessions,
                        "sessions_with_friction": np.bincount(codes[cf.rows[i]], minlength=size),
                        "predicted_dissatisfied": predicted,
                        "avoided": total,
                        "avoided_low": low[:, i],
                        "avoided_high": high[:, i],
                        "share": share,
                        "share_low": share_low[:, i],
                        "share_high": share_high[:, i],
                    }
                )
            )
    columns = ["group", "value", *IMPACT_COLUMNS]
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["_group", "_value", "avoided"], ascending=[True, True, False], kind="stable")
    return out.reset_index(drop=True)[columns]
