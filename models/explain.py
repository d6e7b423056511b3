"""Explanations of a `FrictionModel`'s risk: exact TreeSHAP contributions (log-odds), summed by
touchpoint and by signal family, and the top drivers of each session as short sentences.

    contributions = model.contributions(features)     # one column per feature + `__base__`
    by_touchpoint(model, contributions)                # one column per scope (touchpoint,
                                                       # session, funnel, context)
    top_drivers(model, features, contributions)        # k `Driver`s per session (what_if=True:
                                                       # each with the risk without its friction)
    explain(model, features)                           # all of it, index aligned with the input

Every aggregate is a sum of contribution columns, so `__base__` plus the scopes (or the
families) of a row equals its raw score. Sentences take their words from the feature catalog
(`model.manifest.catalog`: meaning, unit, family), never from per-feature strings here.
Aggregations are matrix products over all sessions at once; only the driver sentences are
formatted one by one (k per session).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ConfigError
from features.featurize import FeatureSet
from models.artifact import BASE_VALUE, FrictionModel
from models.errors import FeatureMismatchError
from models.impact import risk_without_drivers
from models.manifest import NON_TOUCHPOINT_SCOPES

__all__ = [
    "DRIVER_FIELDS",
    "NON_TOUCHPOINT_SCOPES",
    "Driver",
    "Explanation",
    "by_family",
    "by_touchpoint",
    "describe",
    "driver_columns",
    "driver_table",
    "explain",
    "family_of",
    "risk_points",
    "scope_names",
    "scope_of",
    "sentence",
    "top_drivers",
    "top_positions",
]

_PARENTHESES = re.compile(r"\s*\([^)]*\)")


@dataclass(frozen=True)
class Driver:
    """One reason a session's risk is what it is."""

    feature: str  # catalog name, e.g. "payment__errors"
    touchpoint: str | None
    family: str  # catalog family, e.g. "errors"
    value: float | str | None  # the feature's value in this session (None when missing)
    contribution: float  # log-odds (TreeSHAP): what this feature adds to the raw score
    # Effect on the calibrated risk, in percentage points: 100 x (calibrated(raw) -
    # calibrated(raw - contribution)), i.e. how much lower the risk would be if this feature's
    # contribution were taken out and every other one kept. It goes through the calibrator, so
    # it is not additive: the points of several drivers need not sum to the risk minus the base.
    risk_points: float
    sentence: str  # e.g. "2 error events at payment: +0.90 log-odds (about +14 points of risk)"
    # The calibrated risk of the session with this driver's friction removed, the rest kept
    # (`models.impact.risk_without_drivers`); None for an exposure driver (nothing went wrong
    # to remove) or when not asked (`what_if=False`).
    risk_without: float | None = None


@dataclass(frozen=True, eq=False)
class Explanation:
    """A batch of sessions explained; every frame and series has the input's index."""

    raw: pd.Series  # log-odds, == contributions.sum(axis=1)
    risk: pd.Series  # calibrated probability
    band: pd.Series  # risk band name (the model card's thresholds)
    contributions: pd.DataFrame  # per feature, plus `__base__`
    touchpoints: pd.DataFrame  # `by_touchpoint`: one column per scope
    families: pd.DataFrame  # `by_family`: one column per signal family
    drivers: list[list[Driver]]  # `top_drivers`, one list per row


# -- words from the catalog ------------------------------------------------------------------


def scope_of(model: FrictionModel) -> dict[str, str]:
    """Feature -> its touchpoint, or `session`/`funnel`/`context` for the other scopes
    (`models.manifest.FeatureWords`)."""
    return dict(model.words.scopes)


def family_of(model: FrictionModel) -> dict[str, str]:
    """Feature -> its signal family (catalog), else the part of the name after `__`."""
    return dict(model.words.families)


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def _seconds(value: float) -> str:
    return f"{value / 60:.1f} min" if value >= 120 else f"{_number(round(value, 1))} s"


@functools.lru_cache(maxsize=4096)
def _plain_meaning(meaning: str) -> str:
    """The meaning without its asides: parentheses, and anything after `;` or `:`."""
    return re.split(r"[;:]", _PARENTHESES.sub("", meaning), maxsplit=1)[0].strip()


def describe(entry: Mapping[str, Any], name: str, value: float | str | None) -> str:
    """What a feature's value says, in the catalog's words, for each kind of unit."""
    unit = str(entry.get("unit", ""))
    meaning = _plain_meaning(str(entry.get("meaning") or name))
    if unit == "category" or isinstance(value, str):
        return f"{entry.get('family') or name} is {'unknown' if value is None else value}"
    if value is None:
        return f"{meaning}: missing"
    number = float(value)
    if unit == "count":
        return f"{_number(number)} {meaning}"
    if unit == "0/1":
        statement = meaning.removeprefix("1 when ").removeprefix("1 if ")
        return statement if number >= 0.5 else f"{statement}: no"
    if unit == "seconds":
        return f"{meaning}: {_seconds(number)}"
    if unit == "stage":
        return f"{meaning}: stage {_number(number)}"
    if not unit or "(" in unit:  # e.g. "hour (UTC)": the meaning already says what it counts
        return f"{meaning}: {_number(number)}"
    return f"{meaning}: {_number(number)} {unit}"


def sentence(
    entry: Mapping[str, Any], name: str, value: float | str | None, contribution: float, points: float
) -> str:
    """`<what the value says>: +0.90 log-odds (about +14 points of risk)`."""
    shown = f"{points:+.0f}" if abs(points) >= 0.95 else f"{points:+.1f}"  # never "+1.0" beside "+1"
    return f"{describe(entry, name, value)}: {contribution:+.2f} log-odds (about {shown} points of risk)"


# -- aggregation -----------------------------------------------------------------------------


def _feature_block(model: FrictionModel, contributions: pd.DataFrame) -> np.ndarray:
    names = model.manifest.names
    if missing := [n for n in names if n not in contributions.columns]:
        raise FeatureMismatchError(
            f"contributions lack {len(missing)} of the model's feature column(s), e.g. `{missing[0]}`; "
            "pass the frame `model.contributions(features)` returns"
        )
    block: np.ndarray = contributions[names].to_numpy(dtype=np.float64)
    return block


def _group(
    model: FrictionModel, contributions: pd.DataFrame, groups: Mapping[str, str], order: Sequence[str]
) -> pd.DataFrame:
    """Sum the contribution columns of each group, column by column in the model's order.

    Not as a matrix product: BLAS sums in an order that depends on the number of rows, so a
    row's sums would change in the last bits with the batch it is scored in."""
    position = {group: i for i, group in enumerate(order)}
    block = np.ascontiguousarray(_feature_block(model, contributions).T)  # a row per feature
    summed = np.zeros((len(order), block.shape[1]))
    for i, name in enumerate(model.manifest.names):
        summed[position[groups[name]]] += block[i]
    return pd.DataFrame(summed.T, index=contributions.index, columns=list(order))


def scope_names(model: FrictionModel) -> list[str]:
    """The columns of `by_touchpoint`: touchpoints in catalog order, then session, funnel, context."""
    return _scope_order(scope_of(model))


def _scope_order(scopes: Mapping[str, str]) -> list[str]:
    seen = list(dict.fromkeys(scopes.values()))
    touchpoints = [s for s in seen if s not in NON_TOUCHPOINT_SCOPES]
    return touchpoints + [s for s in NON_TOUCHPOINT_SCOPES if s in seen]


def by_touchpoint(model: FrictionModel, contributions: pd.DataFrame) -> pd.DataFrame:
    """Log-odds per scope (each touchpoint, then session, funnel, context) for every row;
    a row plus its `__base__` equals its raw score."""
    scopes = scope_of(model)
    return _group(model, contributions, scopes, _scope_order(scopes))


def by_family(model: FrictionModel, contributions: pd.DataFrame) -> pd.DataFrame:
    """Log-odds per signal family (errors, rage_clicks, dwell_s, ...), summed over scopes."""
    families = family_of(model)
    return _group(model, contributions, families, list(dict.fromkeys(families.values())))


def risk_points(model: FrictionModel, raw: np.ndarray, contribution: np.ndarray) -> np.ndarray:
    """Percentage points of calibrated risk a contribution accounts for (see `Driver.risk_points`);
    `raw` broadcasts against `contribution`."""
    raw = np.asarray(raw, dtype=np.float64)
    contribution = np.asarray(contribution, dtype=np.float64)
    with_it = model.calibrator.apply(raw)
    without = model.calibrator.apply(raw - contribution)
    out: np.ndarray = 100.0 * (with_it - without)
    return out


# -- drivers ---------------------------------------------------------------------------------


def top_positions(block: np.ndarray, k: int, positive_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """(column of each row's k strongest contributions, strongest first; which of them count)."""
    key = np.where(block > 0, block, -np.inf) if positive_only else np.abs(block)
    width = min(k, block.shape[1])
    if width == 0 or block.shape[0] == 0:
        return np.zeros((block.shape[0], width), dtype=np.int64), np.zeros(
            (block.shape[0], width), dtype=bool
        )
    # Negated keys: argpartition/argsort find the largest; stable sort keeps ties in column order.
    candidates = np.argpartition(-key, width - 1, axis=1)[:, :width]
    order = np.argsort(-np.take_along_axis(key, candidates, axis=1), axis=1, kind="stable")
    positions = np.take_along_axis(candidates, order, axis=1)
    chosen = np.take_along_axis(key, positions, axis=1)
    return positions, (chosen > 0) & np.isfinite(chosen)


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"the number of drivers must be an integer >= 1, got {k!r}")


@dataclass(frozen=True)
class _Top:
    """The top k drivers of every row, as (rows x k) arrays."""

    feature: np.ndarray  # object: catalog name, None where a row has fewer drivers
    value: list[list[float | str | None]]  # [row][i]
    contribution: np.ndarray  # NaN where there is no driver
    points: np.ndarray
    sentence: list[list[str | None]]  # [row][i]
    without: np.ndarray  # risk without each driver's friction; NaN: exposure, no driver or not asked


def _top(
    model: FrictionModel,
    features: pd.DataFrame | FeatureSet,
    contributions: pd.DataFrame | np.ndarray,
    k: int,
    positive_only: bool,
    raw: np.ndarray | None,
    rows: np.ndarray | None = None,
    matrix: np.ndarray | None = None,
    what_if: bool = False,
) -> _Top:
    """The top k of every row of `contributions`: a frame, or `model.contributions_of`'s array
    (features, then the base value). `rows`: the rows of `features` they describe (all);
    `matrix`: their design matrix, when the caller has it; `what_if`: each driver's
    `risk_without` too, from that matrix, so batch scoring and the API get the same figures."""
    _check_k(k)
    if isinstance(contributions, pd.DataFrame):
        block = _feature_block(model, contributions)
        base = contributions[BASE_VALUE].to_numpy(dtype=np.float64)
    else:
        block, base = contributions[:, :-1], contributions[:, -1]
    if raw is None:
        raw = block.sum(axis=1) + base
    positions, valid = top_positions(block, k, positive_only)
    chosen = np.take_along_axis(block, positions, axis=1)
    contribution = np.where(valid, chosen, np.nan)
    points = np.where(valid, risk_points(model, np.asarray(raw)[:, None], chosen), np.nan)
    names = model.words.names
    feature: np.ndarray = np.where(valid, names[positions], np.asarray(None, dtype=object))
    if matrix is None:
        matrix = model.design(features, strict=False)
        if rows is not None:
            matrix = matrix[rows]
    value = _chosen_values(model, features, rows, matrix, positions, valid)
    without = np.full(positions.shape, np.nan)
    if what_if:
        risk = model.calibrator.apply(np.asarray(raw, dtype=np.float64))
        without = risk_without_drivers(model, matrix, feature.tolist(), risk=risk)
    entries = model.words.entries
    texts: list[list[str | None]] = []
    # The one loop per row: k short strings each.
    for row, row_values in enumerate(value):
        texts.append(
            [
                sentence(entries[f], f, v, float(c), float(pts)) if f is not None else None
                for f, v, c, pts in zip(feature[row], row_values, contribution[row], points[row], strict=True)
            ]
        )
    return _Top(
        feature=feature,
        value=value,
        contribution=contribution,
        points=points,
        sentence=texts,
        without=without,
    )


# The columns `driver_table` writes per driver, with their dtypes.
DRIVER_FIELDS: tuple[tuple[str, str], ...] = (
    ("feature", "str"),
    ("touchpoint", "str"),
    ("family", "str"),
    ("value", "str"),
    ("contribution", "float64"),
    ("risk_points", "float64"),
    ("sentence", "str"),
    ("risk_without", "float64"),
)


def driver_columns(k: int) -> dict[str, str]:
    """Column -> dtype of `driver_table(..., k)`: `driver_<i>_<field>` for i = 1..k."""
    return {f"driver_{i}_{name}": dtype for i in range(1, k + 1) for name, dtype in DRIVER_FIELDS}


def driver_table(
    model: FrictionModel,
    features: pd.DataFrame,
    contributions: pd.DataFrame,
    k: int = 3,
    positive_only: bool = True,
    raw: np.ndarray | None = None,
) -> pd.DataFrame:
    """The top k drivers of every row as flat columns, index aligned with `features`:
    `driver_<i>_feature`, `_touchpoint`, `_family`, `_value` (as text), `_contribution`,
    `_risk_points`, `_sentence`, `_risk_without` for i = 1..k; missing where a row has fewer
    drivers (and `_risk_without` where the driver is exposure: see `Driver.risk_without`).

    `positive_only`: only features that raise the risk, strongest first; otherwise the largest
    |contribution| either way. Flat columns, so a BI tool reads them as they are. `raw`
    defaults to the row sums of `contributions` (base included).
    """
    top = _top(model, features, contributions, k, positive_only, raw, what_if=True)
    words = model.words
    out: dict[str, Any] = {}
    for i in range(k):
        feature: list[str | None] = (
            top.feature[:, i].tolist() if i < top.feature.shape[1] else [None] * len(features)
        )
        prefix = f"driver_{i + 1}_"
        out[prefix + "feature"] = pd.array(feature, dtype="str")
        out[prefix + "touchpoint"] = pd.array(
            [None if f is None else words.touchpoint(f) for f in feature], dtype="str"
        )
        out[prefix + "family"] = pd.array(
            [None if f is None else words.families[f] for f in feature], dtype="str"
        )
        out[prefix + "value"] = pd.array(
            [_value_text(row[i]) if i < len(row) else None for row in top.value], dtype="str"
        )
        out[prefix + "contribution"] = top.contribution[:, i] if i < top.feature.shape[1] else np.nan
        out[prefix + "risk_points"] = top.points[:, i] if i < top.feature.shape[1] else np.nan
        out[prefix + "sentence"] = pd.array(
            [row[i] if i < len(row) else None for row in top.sentence], dtype="str"
        )
        out[prefix + "risk_without"] = top.without[:, i] if i < top.without.shape[1] else np.nan
    return pd.DataFrame(out, index=features.index)


def _float_or_none(values: np.ndarray, row: int, i: int) -> float | None:
    if math.isnan(values[row, i]):
        return None
    return float(values[row, i])


def _value_text(value: float | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return _number(value)


def _chosen_values(
    model: FrictionModel,
    features: pd.DataFrame | FeatureSet,
    rows: np.ndarray | None,
    matrix: np.ndarray,
    positions: np.ndarray,
    valid: np.ndarray,
) -> list[list[float | str | None]]:
    """The value of each chosen (row, feature) as a Python object, None when missing or not chosen:
    numerics from the design matrix, categoricals as the text the session carried (an unseen
    category is still named)."""
    picked = np.take_along_axis(matrix, positions, axis=1)
    text: dict[int, Any] = {}
    for i, name, _ in model.design.lookups:
        column = features.context[name] if isinstance(features, FeatureSet) else features[name].astype(object)
        found = np.asarray(column, dtype=object)
        text[i] = found if rows is None else found[rows]
    out: list[list[float | str | None]] = []
    for row, (places, oks, numbers) in enumerate(
        zip(positions.tolist(), valid.tolist(), picked.tolist(), strict=True)
    ):
        values: list[float | str | None] = []
        for place, ok, number in zip(places, oks, numbers, strict=True):
            if not ok:
                values.append(None)
            elif place in text:
                cell = text[place][row]
                values.append(None if pd.isna(cell) else str(cell))
            else:
                values.append(None if math.isnan(number) else number)
        out.append(values)
    return out


def top_drivers(
    model: FrictionModel,
    features: pd.DataFrame | FeatureSet,
    contributions: pd.DataFrame | np.ndarray,
    k: int = 3,
    positive_only: bool = True,
    raw: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    matrix: np.ndarray | None = None,
    what_if: bool = False,
) -> list[list[Driver]]:
    """Up to k drivers per row of `contributions`, strongest first (see `driver_table`).

    `features`: a feature table, or the featurizer's `FeatureSet`; `contributions`: a frame
    (`model.contributions`) or an array (`model.contributions_of`); `rows`: which rows of
    `features` they describe (all of them by default); `raw` defaults to their row sums;
    `matrix`: their design matrix (`model.design`), built here when not given; `what_if`:
    fill each driver's `risk_without` (one batched counterfactual for all rows)."""
    top = _top(model, features, contributions, k, positive_only, raw, rows, matrix, what_if)
    words = model.words
    drivers: list[list[Driver]] = []
    for row in range(len(top.value)):
        found = []
        for i, feature in enumerate(top.feature[row].tolist()):
            if feature is None:
                break
            found.append(
                Driver(
                    feature=feature,
                    touchpoint=words.touchpoint(feature),
                    family=words.families[feature],
                    value=top.value[row][i],
                    contribution=float(top.contribution[row, i]),
                    risk_points=float(top.points[row, i]),
                    sentence=str(top.sentence[row][i]),
                    risk_without=_float_or_none(top.without, row, i),
                )
            )
        drivers.append(found)
    return drivers


def explain(model: FrictionModel, features: pd.DataFrame, top: int = 3) -> Explanation:
    """Raw score, calibrated risk, band, contributions, their sums by scope and by family, and
    the top drivers of every row of a feature table (index aligned with it)."""
    _check_k(top)
    contributions = model.contributions(features)
    raw = model.predict_raw(features)
    risk = model.calibrator.apply(raw)
    return Explanation(
        raw=pd.Series(raw, index=features.index, name="raw"),
        risk=pd.Series(risk, index=features.index, name="risk"),
        band=pd.Series(model.band(risk), index=features.index, name="band", dtype="str"),
        contributions=contributions,
        touchpoints=by_touchpoint(model, contributions),
        families=by_family(model, contributions),
        drivers=top_drivers(model, features, contributions, k=top),
    )
