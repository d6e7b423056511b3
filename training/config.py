"""Training configuration: a typed, frozen object (the `[train]` section of `friction.toml`).

Class imbalance: the booster minimises plain log loss (`class_weight = "none"`), because
reweighting distorts probabilities that calibration would then have to undo, and ranking
quality barely moves; imbalance is handled by proper scoring plus calibration, and shown
by PR-AUC and precision/recall in the top 5 % and 10 %. `"balanced"` (scale_pos_weight =
negatives / positives) stays available; calibration maps its scores back to probabilities.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator

from features.errors import ConfigError
from features.schema import did_you_mean
from features.section import Section
from models.card import RiskBands

__all__ = ["GateConfig", "LightGBMParams", "TrainConfig", "TuneConfig", "train_config_from"]

Scalar = int | float | str | bool
# Booster parameters training sets itself (binary objective, its early-stopping metrics, the seed,
# the monotone constraints `monotone_friction` derives from the features, under any of their names).
_FIXED_PARAMETERS = frozenset(
    {"objective", "metric", "seed", "monotone_constraints", "monotone_constraint", "mc"}
)


class LightGBMParams(Section):
    learning_rate: float = Field(default=0.05, gt=0.0, le=1.0)
    # "auto": capacity that fits the data (`capacity`). Friction risk is mostly additive over
    # touchpoints, so small regularised trees; with a few thousand sessions, smaller still.
    num_leaves: int | Literal["auto"] = Field(default="auto")
    min_child_samples: int | Literal["auto"] = Field(default="auto")
    # Randomised split thresholds: a strong regulariser where sessions are few, and no loss with many.
    extra_trees: bool = True
    feature_fraction: float = Field(default=0.5, gt=0.0, le=1.0)
    bagging_fraction: float = Field(default=0.8, gt=0.0, le=1.0)
    bagging_freq: int = Field(default=1, ge=0)
    lambda_l2: float = Field(default=10.0, ge=0.0)
    max_bin: int = Field(default=255, ge=2)
    cat_smooth: float = Field(default=10.0, ge=0.0)
    # How LightGBM enforces `[train] monotone_friction`. On the simulator (200 k sessions, fit
    # time / holdout ROC-AUC; unconstrained 3.7 s / 0.7351): "basic" over-constrains and needs
    # more rounds (5.1 s / 0.7348), "intermediate" 4.1 s / 0.7349, "advanced" 14.8 s / 0.7349.
    monotone_constraints_method: Literal["basic", "intermediate", "advanced"] = "intermediate"
    num_boost_round: int = Field(default=2000, ge=1)
    # 0: LightGBM's default (all cores). "auto": one thread below `capacity`'s threshold, where
    # threads cost more in synchronisation than they bring, else all cores.
    num_threads: int | Literal["auto"] = Field(default="auto")
    # Any other LightGBM parameter, passed through as is.
    extra: dict[str, Scalar] = Field(default_factory=dict)

    @field_validator("extra")
    @classmethod
    def _not_a_named_or_fixed_parameter(cls, extra: dict[str, Scalar]) -> dict[str, Scalar]:
        # A named field set twice would be silently overridden; the objective and metrics are fixed.
        clashes = sorted(set(extra) & (set(cls.model_fields) | _FIXED_PARAMETERS))
        if clashes:
            raise ValueError(
                f"{clashes} cannot be passed through `extra`: set named parameters directly; "
                f"{sorted(_FIXED_PARAMETERS)} are fixed by training"
            )
        return extra

    @field_validator("num_leaves", "min_child_samples", "num_threads")
    @classmethod
    def _at_least(cls, value: int | str, info: ValidationInfo) -> int | str:
        least = {"num_leaves": 2, "min_child_samples": 1, "num_threads": 0}[str(info.field_name)]
        if isinstance(value, int) and value < least:
            raise ValueError(f'must be an integer >= {least} or "auto"')
        return value

    def capacity(self, sessions: int) -> dict[str, int]:
        """`num_leaves`, `min_child_samples` and `num_threads` for a fit on `sessions` rows.
        "auto": a leaf needs half the square root of the sessions (between 10 and 200), so a
        cluster of a few dozen sessions can still be split off in a small data set while a
        large one keeps its leaves broad; below 100,000 sessions trees keep 3 leaves (nearly
        additive, as friction mostly is), else 7; below 20,000 sessions one thread."""
        leaves = self.num_leaves if self.num_leaves != "auto" else (3 if sessions < 100_000 else 7)
        child = self.min_child_samples
        if child == "auto":
            child = int(min(200, max(10, round(math.sqrt(sessions) / 2))))
        threads = self.num_threads if self.num_threads != "auto" else (1 if sessions < 20_000 else 0)
        return {"num_leaves": int(leaves), "min_child_samples": int(child), "num_threads": int(threads)}

    def to_lightgbm(self, sessions: int) -> dict[str, Any]:
        exclude = {"num_boost_round", "extra", "num_leaves", "min_child_samples", "num_threads"}
        params = self.model_dump(exclude=exclude)
        return {**params, **self.capacity(sessions), **self.extra}


class TuneConfig(Section):
    """Optuna search (TPE + median pruning on validation log loss) when trials > 0."""

    trials: int = Field(default=0, ge=0)
    timeout_s: float = Field(default=900.0, gt=0.0)
    # Rounds per trial are capped to keep a trial cheap; the final fit uses num_boost_round.
    max_rounds: int = Field(default=1000, ge=10)


class GateConfig(Section):
    """A challenger replaces the champion only if `metric` on the newest holdout improves by `margin`."""

    metric: Literal["roc_auc", "pr_auc", "log_loss", "brier"] = "roc_auc"
    margin: float = Field(default=0.002, ge=0.0)


class TrainConfig(Section):
    seed: int = 0
    # Latest share of labelled sessions held out (by session start).
    holdout_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    # Drop from the training period every session of a user seen in the holdout (a model for new
    # customers). Off by default: the served model also knows a returning customer's past.
    holdout_user_disjoint: bool = False
    # Rolling-origin backtests over the training period (each fold learns from the past only);
    # 0 turns them off.
    backtest_folds: int = Field(default=4, ge=0, le=20)
    # Bootstrap resamples of the holdout behind each metric's 95 % interval; 0 turns them off.
    bootstrap_rounds: int = Field(default=200, ge=0, le=10_000)
    # After evaluation, refit the shipped model on every labelled session (rounds scaled to the data).
    refit: bool = True
    # Latest share of the remaining (training-period) sessions used for early stopping and calibration.
    validation_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    # Also keep validation users out of train. Off by default: validation only stops boosting
    # and fits the calibrator, and user-disjointness costs training rows (the holdout stays disjoint).
    validation_user_disjoint: bool = False
    early_stopping_rounds: int = Field(default=50, ge=1)
    class_weight: Literal["none", "balanced"] = "none"
    # Hold the risk non-decreasing in every friction count (errors, rage clicks, funnel
    # regressions...: `training.monotone`), so one more never lowers a session's risk.
    monotone_friction: bool = True
    calibration: Literal["auto", "none", "isotonic", "platt"] = "auto"
    lightgbm: LightGBMParams = Field(default_factory=LightGBMParams)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    bands: RiskBands = Field(default_factory=RiskBands)
    # Explicit feature list; default: every non-meta column of the feature table.
    features: list[str] | None = None
    segments: list[str] = Field(default_factory=lambda: ["platform", "customer_type"])
    top_fractions: list[float] = Field(default_factory=lambda: [0.05, 0.10])
    ece_bins: int = Field(default=15, ge=2)
    # The logistic-regression baseline trains on at most this many sessions (it is a yardstick).
    baseline_max_rows: int = Field(default=50_000, ge=100)
    # Each of train, validation and holdout needs this many sessions of each class.
    min_per_class: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _fractions(self) -> TrainConfig:
        bad = [f for f in self.top_fractions if not 0.0 < f <= 1.0]
        if bad:
            raise ValueError(f"`top_fractions` must lie in (0, 1]; got {bad}")
        return self

    def digest(self) -> str:
        """sha256 of the canonical JSON form: the same settings give the same hash."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


# The `[train]` table's own name in error messages: keys read `train.lightgbm.num_leaves`.
TABLE = "train"
# Pydantic tags each member of a union it tried (`extra`'s int | float | str | bool) in the location.
_UNION_MEMBERS = frozenset({"int", "float", "str", "bool"})


def train_config_from(table: Mapping[str, Any], source: str = "config") -> TrainConfig:
    """Validate the `[train]` table of `friction.toml` (from `source`, named in errors) into a
    `TrainConfig`; an empty table gives the defaults."""
    try:
        return TrainConfig.model_validate(dict(table))
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors():
            key, text = _describe(error)
            problems.setdefault(key, f"{source}: {text}")  # a union reports each member: keep one
        raise ConfigError("; ".join(problems.values())) from None


def _describe(error: Any) -> tuple[str, str]:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    if _in_extra(loc):
        key = _key(loc[:-1])
        return key, f"`{key}`: must be a number, a string or a boolean (got {error.get('input')!r})"
    key = _key(loc)
    if error["type"] == "extra_forbidden":
        allowed = sorted(_section_at(loc[:-1]).model_fields)
        hint = did_you_mean(str(loc[-1]), allowed)
        return key, f"unknown key `{key}`{hint}; allowed here: {', '.join(allowed)}"
    got = error.get("input")
    shown = "" if isinstance(got, dict) else f" (got {got!r})"
    if error["type"] == "literal_error" and isinstance(got, str):
        expected = str(error.get("ctx", {}).get("expected", ""))
        shown += did_you_mean(got, [part.strip(" '") for part in expected.replace(" or ", ",").split(",")])
    return key, f"`{key}`: {str(error['msg']).removeprefix('Value error, ')}{shown}"


def _key(loc: tuple[str | int, ...]) -> str:
    """`train.lightgbm.num_leaves`, `train.segments[1]`: the key as the user wrote it."""
    key = TABLE
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key


def _in_extra(loc: tuple[str | int, ...]) -> bool:
    """`lightgbm.extra.<name>.<member>`: a passthrough value of a type LightGBM cannot take."""
    return len(loc) == 4 and loc[:2] == ("lightgbm", "extra") and loc[3] in _UNION_MEMBERS


def _section_at(path: tuple[str | int, ...]) -> type[BaseModel]:
    """The section model that owns the keys at `path` (a run of nested table names)."""
    model: type[BaseModel] = TrainConfig
    for part in path:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return model
