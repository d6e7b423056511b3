"""The flows the CLI wires: train (+ log, + register, + promote), each step optional."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.config import FrictionConfig
from features.digests import file_sha256
from models.signing import Signer
from training.config import TrainConfig
from training.tracking import PromotionDecision, TrackingSettings, log_training, promote, register
from training.train import TrainResult, train

__all__ = ["TrainOutcome", "train_and_track"]


@dataclass(frozen=True)
class TrainOutcome:
    result: TrainResult
    model_dir: Path | None = None
    run_id: str | None = None
    version: int | None = None
    promotion: PromotionDecision | None = None
    timings: dict[str, float] = field(default_factory=dict)


def train_and_track(
    table: pd.DataFrame,
    config: TrainConfig | None = None,
    settings: TrackingSettings | None = None,
    *,
    out: Path | None = None,
    register_as: str | None = None,
    promote_after: bool = False,
    track: bool = True,
    truth: pd.DataFrame | None = None,
    catalog: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]] | None = None,
    features_path: Path | None = None,
    tune_trials: int | None = None,
    run_name: str | None = None,
    featurizer_config: FrictionConfig | None = None,
    signer: Signer | None = None,
) -> TrainOutcome:
    """Train; save to `out`; log an MLflow run unless `track` is false; register as
    `register_as`; then, if `promote_after`, run the champion gate on that name.
    `features_path`: the Parquet file (or folder) `table` was read from, unchanged; its sha256
    identifies the data in the card and the run.
    With `featurizer_config` (the config the table was built with) the model can score raw events.
    With `signer`, the saved and the logged model folders are signed (models.signing)."""
    config = config or TrainConfig()
    if (register_as or promote_after) and not track:
        raise ValueError("registering or promoting needs tracking (track=True)")
    started = time.perf_counter()
    digest = file_sha256(features_path) if features_path is not None else None
    digest_s = time.perf_counter() - started
    result = train(
        table, config, truth=truth, catalog=catalog, tune_trials=tune_trials, features_sha256=digest
    )
    if featurizer_config is not None:
        result = dataclasses.replace(result, model=result.model.with_featurizer(featurizer_config))
    timings = dict(result.timings)
    if digest is not None:
        timings["file_digest_s"] = digest_s
    started = time.perf_counter()
    model_dir = result.model.save(out, signer=signer) if out is not None else None
    timings["save_s"] = time.perf_counter() - started
    run_id = version = decision = None
    if track:
        settings = settings or TrackingSettings()
        started = time.perf_counter()
        run_id = log_training(
            result, table, config, settings, features_path=features_path, run_name=run_name, signer=signer
        )
        timings["logging_s"] = time.perf_counter() - started
        if register_as:
            started = time.perf_counter()
            version = register(run_id, register_as, settings)
            timings["register_s"] = time.perf_counter() - started
            if promote_after:
                decision = promote(register_as, settings)
    return TrainOutcome(result, model_dir, run_id, version, decision, timings)
