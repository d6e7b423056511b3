"""Everything MLflow: runs, registry, aliases, the champion gate, and loading models back.

Embedded default: a SQLite store `<home>/mlflow.db` with artifacts in `<home>/mlartifacts`
(MLflow 3 refuses its old file store). `MLFLOW_TRACKING_URI` points it at any tracking server.
All calls go through an explicit `MlflowClient`; nothing sets MLflow's global URI, and nothing
happens at import time.

A model is logged as the plain `FrictionModel` directory under the run's `model/` artifacts
and registered with `create_model_version(source=<run artifacts>/model)`: no MLmodel flavor,
no pyfunc, no pickle. Loading `models:/NAME@champion` resolves the alias to a version,
downloads its files and runs `FrictionModel.load`, which verifies every hash first.
The run also keeps its holdout rows (`evaluation/holdout.parquet`) so a later `promote` can
re-score the champion on the challenger's newest holdout.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tempfile
import time
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from features.digests import file_sha256
from models.artifact import FrictionModel
from models.registry import (
    TrackingSettings,
    load_model,
    mlflow_client,
    model_versions,
    safe_environment,
)
from models.signing import Signer, Verifier
from training.config import GateConfig, TrainConfig
from training.errors import RegistryError
from training.evaluate import MODEL
from training.gate import gate, with_holdout_risk
from training.plots import write_plots
from training.train import TrainResult

__all__ = [
    "CHAMPION",
    "HOLDOUT_ARTIFACT",
    "MODEL_ARTIFACT",
    "PromotionDecision",
    "TrackingSettings",
    "ensure_store",
    "load_model",
    "log_training",
    "promote",
    "register",
]

CHAMPION = "champion"
MODEL_ARTIFACT = "model"
HOLDOUT_ARTIFACT = "evaluation/holdout.parquet"


def _experiment_id(client: Any, settings: TrackingSettings) -> str:
    found = client.get_experiment_by_name(settings.experiment)
    if found is not None:
        return str(found.experiment_id)
    return str(client.create_experiment(settings.experiment, artifact_location=settings.artifact_root()))


def ensure_store(settings: TrackingSettings) -> str:
    """Create the store (embedded: folder and database) and the experiment if needed; its id."""
    return _experiment_id(mlflow_client(settings), settings)


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "error_code", ""))


# -- logging a training run ------------------------------------------------------------------


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out |= _flatten(value, f"{name}.")
        else:
            out[name] = str(value)[:6000]
    return out


def _metric_key(*parts: str) -> str:
    # MLflow keys allow letters, digits, _ - . / and spaces.
    return ".".join(re.sub(r"[^0-9A-Za-z_\-./ ]", "_", p) for p in parts)


_PLAIN_PART = re.compile(r"[0-9A-Za-z_\-]{1,64}")


def _data_key_part(text: str) -> str:
    """A metric-key part for a value from the data (a segment or its value): the value itself
    when plain, else a slug of it, a space and a hash of the raw text (`https_t_co_x 3fa9c2d1e0aa`).
    Plain parts never hold a space, so no two values share a key, and no value (`https://t.co/x`,
    `..`) can make a key MLflow refuses, on any OS (Windows refuses `:`);
    `evaluation/segment_keys.csv` maps each key back to the raw value."""
    if _PLAIN_PART.fullmatch(text):
        return text
    slug = re.sub(r"[^0-9A-Za-z_\-]+", "_", text).strip("_")[:40] or "value"
    return f"{slug} {hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _segment_keys(segments: pd.DataFrame) -> pd.DataFrame:
    """segment, value (raw, as the data has them) -> the prefix of their metric keys."""
    pairs = segments[["segment", "value"]].astype(str).drop_duplicates().reset_index(drop=True)
    keys = [
        f"segment.{_data_key_part(s)}.{_data_key_part(v)}"
        for s, v in zip(pairs["segment"], pairs["value"], strict=True)
    ]
    return pairs.assign(metric_key_prefix=keys)


def _scalar_metrics(result: TrainResult) -> dict[str, float]:
    metrics = {
        k: float(v)
        for k, v in result.model.metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and v == v
    }
    segments = result.evaluation.segments
    if not segments.empty:
        model_rows = segments[segments["scorer"] == "model"]
        prefixes = _segment_keys(segments).set_index(["segment", "value"])["metric_key_prefix"]
        for row in model_rows.to_dict("records"):
            prefix = prefixes[(str(row["segment"]), str(row["value"]))]
            for metric, value in row.items():
                if metric not in ("segment", "value", "scorer") and pd.notna(value):
                    metrics[f"{prefix}.{_metric_key(str(metric))}"] = float(value)
    metrics |= {_metric_key("time", k): v for k, v in result.timings.items()}
    return metrics


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _schema(frame: pd.DataFrame) -> Any:
    # From dtypes, vectorized: MLflow's own inference visits every value (minutes at 1 M rows).
    from mlflow.types import ColSpec, DataType, Schema

    def kind(dtype: Any) -> Any:
        if pd.api.types.is_bool_dtype(dtype):
            return DataType.boolean
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return DataType.datetime
        if pd.api.types.is_integer_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
            return DataType.long
        if pd.api.types.is_float_dtype(dtype):
            return DataType.double
        return DataType.string

    # Every column may hold missing values (unknown labels, absent context): none is "required".
    return Schema([ColSpec(kind(t), str(c), required=False) for c, t in frame.dtypes.items()])


def _dataset_input(frame: pd.DataFrame, name: str, context: str, source: str | None, digest: str) -> Any:
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    class TableDataset(MetaDataset):
        """Schema from dtypes and the row count as the profile; the rows stay in their file."""

        @property
        def profile(self) -> Any:
            return {"num_rows": len(frame), "num_columns": frame.shape[1]}

        def to_dict(self) -> dict[str, str]:
            return {**super().to_dict(), "profile": json.dumps(self.profile)}

    with warnings.catch_warnings():
        # MLflow registers two equivalent local-file sources and warns that it picks one.
        warnings.simplefilter("ignore", UserWarning)
        resolved = resolve_dataset_source(source) if source else CodeDatasetSource(tags={})
    # Our digest covers every row (MLflow's samples the head; its column holds 36 characters).
    dataset = TableDataset(resolved, name=name, digest=digest[:32], schema=_schema(frame))
    return DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", context)])


def _write_evaluation(result: TrainResult, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    result.evaluation.table.rename_axis("scorer").to_csv(folder / "metrics_table.csv")
    result.evaluation.segments.to_csv(folder / "segments.csv", index=False)
    if not result.evaluation.segments.empty:
        _segment_keys(result.evaluation.segments).to_csv(folder / "segment_keys.csv", index=False)
    result.importance.to_csv(folder / "feature_importance.csv", index=False)
    holdout = with_holdout_risk(result.holdout, result.holdout_scores[MODEL])
    holdout.to_parquet(folder / Path(HOLDOUT_ARTIFACT).name, index=False)


def log_training(
    result: TrainResult,
    table: pd.DataFrame,
    config: TrainConfig,
    settings: TrackingSettings,
    *,
    features_path: Path | None = None,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    signer: Signer | None = None,
) -> str:
    """Record a training as one MLflow run (params, metrics, dataset inputs, artifacts, tags);
    returns the run id. With `signer`, the logged model folder is signed."""
    from mlflow.entities import Metric, Param

    started = time.perf_counter()
    client = mlflow_client(settings)
    card = result.model.card
    run_tags = {
        "friction.config_sha256": config.digest(),
        "friction.features_sha256": result.table_digest,
        "friction.calibration": result.model.calibrator.kind,
        **({"mlflow.source.git.commit": commit} if (commit := _git_commit()) else {}),
        **({"friction.features_path": str(features_path)} if features_path else {}),
        **dict(tags or {}),
    }
    run = client.create_run(_experiment_id(client, settings), run_name=run_name, tags=run_tags)
    run_id = str(run.info.run_id)
    try:
        params = _flatten(config.model_dump(mode="json")) | _flatten(card.params, "booster.")
        params |= {"features.count": str(len(result.model.manifest.features))}
        params |= {"booster.best_iteration": str(card.best_iteration)}
        stamp = int(time.time() * 1000)
        metrics = [Metric(k, v, stamp, 0) for k, v in _scalar_metrics(result).items()]
        param_list = [Param(k, v) for k, v in params.items()]
        for i in range(0, max(len(metrics), len(param_list)), 100):
            client.log_batch(run_id, metrics=metrics[i : i + 100], params=param_list[i : i + 100])
        source = str(features_path.resolve()) if features_path else None
        with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=1) as pool:
            folder = Path(tmp)
            # The holdout's Parquet encoding (C++, GIL released) overlaps drawing the plots (Python).
            evaluation = pool.submit(_write_evaluation, result, folder / "evaluation")
            result.model.save(folder / MODEL_ARTIFACT, signer=signer)
            client.log_artifacts(run_id, str(folder / MODEL_ARTIFACT), MODEL_ARTIFACT)
            write_plots(result, folder / "plots")
            client.log_artifacts(run_id, str(folder / "plots"), "plots")
            evaluation.result()
            # The holdout's digest is its artifact's sha256: the very file `promote` re-scores.
            holdout_sha256 = file_sha256(folder / HOLDOUT_ARTIFACT)
            client.log_inputs(
                run_id,
                datasets=[
                    _dataset_input(table, "features", "training", source, result.table_digest),
                    _dataset_input(result.holdout, "holdout", "holdout", None, holdout_sha256),
                ],
            )
            client.log_artifacts(run_id, str(folder / "evaluation"), "evaluation")
        seconds = time.perf_counter() - started
        client.log_batch(run_id, metrics=[Metric("time.logging_s", seconds, int(time.time() * 1000), 0)])
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    return run_id


# -- registry ----------------------------------------------------------------------------------


def register(run_id: str, name: str, settings: TrackingSettings) -> int:
    """Create a version of registered model `name` from the run's `model/` directory."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client(settings)
    try:
        client.create_registered_model(name, description="Friction: calibrated dissatisfaction risk")
    except MlflowException as exc:
        if _error_code(exc) != "RESOURCE_ALREADY_EXISTS":
            raise
    run = client.get_run(run_id)
    source = f"{run.info.artifact_uri.rstrip('/')}/{MODEL_ARTIFACT}"
    metrics = run.data.metrics
    tags = {f"friction.{k}": str(metrics[k]) for k in ("roc_auc", "ece", "brier") if k in metrics}
    version = client.create_model_version(name, source, run_id=run_id, tags=tags)
    return int(version.version)


def _champion(client: Any, name: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if _error_code(exc) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def _download_model(
    client: Any, version: Any, settings: TrackingSettings, folder: Path, verifier: Verifier | None = None
) -> FrictionModel:
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(
        artifact_uri=version.source, dst_path=str(folder), tracking_uri=settings.uri()
    )
    return FrictionModel.load(Path(local), verifier)


# -- promotion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromotionDecision:
    name: str
    promoted: bool
    challenger: int
    champion: int | None  # the champion after the decision
    previous_champion: int | None
    reason: str

    def message(self) -> str:
        head = (
            f"{self.name} v{self.challenger} is now {CHAMPION}"
            if self.promoted
            else (
                f"{self.name}: {CHAMPION} stays v{self.champion}"
                if self.champion is not None
                else f"{self.name}: no champion"
            )
        )
        return f"{head} ({self.reason})"


def _holdout(client: Any, version: Any, folder: Path) -> pd.DataFrame:
    if not version.run_id:
        raise RegistryError(f"version {version.version} has no run; its holdout cannot be found")
    try:
        path = client.download_artifacts(version.run_id, HOLDOUT_ARTIFACT, str(folder))
    except Exception as exc:  # MLflow raises several types for a missing artifact
        raise RegistryError(
            f"version {version.version}: run {version.run_id} has no {HOLDOUT_ARTIFACT} ({exc})"
        ) from None
    return pd.read_parquet(path)


def promote(
    name: str, settings: TrackingSettings, gate_config: GateConfig | None = None, force: bool = False
) -> PromotionDecision:
    """Move `champion` to the newest version if it beats the champion on its own (newest) holdout
    by the margin (the challenger's `[train.gate]` unless `gate_config` is given)."""
    client = mlflow_client(settings)
    newest = model_versions(client, name)[-1]
    current = _champion(client, name)
    previous = int(current.version) if current is not None else None
    challenger_version = int(newest.version)
    if previous == challenger_version:
        return PromotionDecision(name, False, challenger_version, previous, previous, "already the champion")
    with safe_environment(), tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        challenger = _download_model(client, newest, settings, folder / "challenger")
        champion = _download_model(client, current, settings, folder / "champion") if current else None
        config = gate_config or GateConfig.model_validate(
            challenger.card.training.get("config", {}).get("gate", {})
        )
        holdout = _holdout(client, newest, folder / "holdout")
        decision = gate(challenger, champion, holdout, config)
    promoted = decision.promote or force
    reason = decision.reason + ("; forced" if force and not decision.promote else "")
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, str(challenger_version))
    client.set_model_version_tag(name, str(challenger_version), "friction.gate", reason[:5000])
    after = challenger_version if promoted else previous
    return PromotionDecision(name, promoted, challenger_version, after, previous, reason)
