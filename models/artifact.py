"""`FrictionModel`: a calibrated LightGBM model as a directory of plain files.

    model.txt          LightGBM text model (best iteration only)
    calibrator.json    raw log-odds -> calibrated probability (models.calibrator)
    features.json      the feature manifest: names, kinds, category lists, catalog
    metrics.json       the holdout evaluation, baselines included
    card.json          risk bands and training provenance
    featurizer.json    the featurizer config (taxonomy inlined) the features were built with,
                       or null: how scoring turns raw events into the same features
    MANIFEST.json      sha256 of every file above
    SIGNATURE.json     optional: a signature over MANIFEST.json's bytes (models.signing)

`load` refuses a folder holding anything else (a symlink, a subfolder, a FIFO, an unknown file)
and reads each file only after checking its size against its cap (models.folder); then it checks
the signature when a verifier is given, the set of files and each hash, and only then parses the
bytes it checked. Nothing is pickled; nothing is executed from the directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.config import FrictionConfig
from features.errors import FrictionError
from features.featurize import FeatureSet, Featurizer
from models.calibrator import Calibrator
from models.card import ModelCard
from models.errors import ModelIntegrityError
from models.folder import MIB, parse_json, problem, read_capped, read_folder
from models.manifest import Design, FeatureManifest, FeatureWords
from models.signing import SIGNATURE_FILE, Signer, Verifier, signature_bytes

__all__ = [
    "ARTIFACT_FILES",
    "BASE_VALUE",
    "FEATURIZER_FILE",
    "HASHES_FILE",
    "SIGNATURE_FILE",
    "FrictionModel",
    "json_bytes",
    "manifest_bytes",
]

MODEL_FILE = "model.txt"
CALIBRATOR_FILE = "calibrator.json"
FEATURES_FILE = "features.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "card.json"
FEATURIZER_FILE = "featurizer.json"
HASHES_FILE = "MANIFEST.json"
ARTIFACT_FILES: tuple[str, ...] = (
    MODEL_FILE,
    CALIBRATOR_FILE,
    FEATURES_FILE,
    METRICS_FILE,
    CARD_FILE,
    FEATURIZER_FILE,
)
HASH_ALGORITHM = "sha256"
# Per-file size caps, checked before a file is read: far above any real model, far below
# what would exhaust a server's memory.
FILE_CAPS: dict[str, int] = {
    MODEL_FILE: 1024 * MIB,
    CALIBRATOR_FILE: 64 * MIB,
    FEATURES_FILE: 64 * MIB,
    METRICS_FILE: 16 * MIB,
    CARD_FILE: 16 * MIB,
    FEATURIZER_FILE: 16 * MIB,
    HASHES_FILE: MIB,
    SIGNATURE_FILE: 64 * 1024,
}
# Column of `contributions` holding the expected raw score (SHAP base value).
BASE_VALUE = "__base__"


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, NaN/inf to null (strict JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_bytes(data: Any) -> bytes:
    return (json.dumps(_plain(data), indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def _dumped(config: FrictionConfig | None) -> dict[str, Any] | None:
    return None if config is None else config.model_dump(mode="json")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FrictionModel:
    booster: lgb.Booster
    calibrator: Calibrator
    manifest: FeatureManifest
    card: ModelCard
    metrics: Mapping[str, Any] = field(default_factory=dict)
    # The config the training features were built with; None for models trained on a feature
    # table alone (they score feature tables, not raw events).
    featurizer_config: FrictionConfig | None = None

    # -- prediction -------------------------------------------------------------------------
    @cached_property
    def design(self) -> Design:
        """The manifest compiled once: feature table or `FeatureSet` -> design matrix."""
        return Design(self.manifest)

    @cached_property
    def words(self) -> FeatureWords:
        """Each feature's scope, family and catalog entry, worked out once."""
        return self.manifest.words()

    def raw_of(self, matrix: np.ndarray) -> np.ndarray:
        """Uncalibrated log-odds of each row of a design matrix (`design`)."""
        out = self.booster.predict(matrix, raw_score=True, num_threads=_threads(matrix))
        return np.asarray(out, dtype=np.float64)

    def contributions_of(self, matrix: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions of each row of a design matrix: one column per feature, then
        the base value; a row sums to its `raw_of`."""
        out = self.booster.predict(matrix, pred_contrib=True, num_threads=_threads(matrix))
        return np.asarray(out, dtype=np.float64)

    def predict_raw(self, features: pd.DataFrame | FeatureSet, strict: bool = True) -> np.ndarray:
        """Uncalibrated log-odds per row (what SHAP contributions add up to)."""
        return self.raw_of(self.design(features, strict=strict))

    def predict_proba(self, features: pd.DataFrame | FeatureSet, strict: bool = True) -> np.ndarray:
        """Calibrated probability of dissatisfaction per row."""
        return self.calibrator.apply(self.predict_raw(features, strict=strict))

    def contributions(self, features: pd.DataFrame, strict: bool = True) -> pd.DataFrame:
        """Per-feature SHAP contributions to the raw log-odds, plus the base value column;
        each row sums to `predict_raw` (TreeSHAP, LightGBM `pred_contrib`)."""
        values = self.contributions_of(self.design(features, strict=strict))
        return pd.DataFrame(values, index=features.index, columns=[*self.manifest.names, BASE_VALUE])

    def band(self, risk: np.ndarray) -> np.ndarray:
        return self.card.bands.band(risk)

    def with_metrics(self, metrics: Mapping[str, Any]) -> FrictionModel:
        return dataclasses.replace(self, metrics=dict(metrics))

    def with_featurizer(self, config: FrictionConfig) -> FrictionModel:
        """This model carrying `config`, its taxonomy inlined (no file needed to score events)."""
        return dataclasses.replace(self, featurizer_config=config.self_contained())

    @cached_property
    def _compiled_featurizer(self) -> Featurizer | None:
        return None if self.featurizer_config is None else Featurizer(self.featurizer_config)

    def featurizer(self) -> Featurizer:
        """The featurizer that built the training features (compiled once per model)."""
        if self._compiled_featurizer is None:
            raise FrictionError(
                "this model carries no featurizer config (it was trained from a feature table alone); "
                "score a feature table instead of raw events, or retrain with `friction train --config`"
            )
        return self._compiled_featurizer

    # -- files ------------------------------------------------------------------------------
    def files(self) -> dict[str, bytes]:
        """The artifact's files as bytes (what `save` writes and `MANIFEST.json` hashes)."""
        return {
            MODEL_FILE: self.booster.model_to_string().encode(),
            CALIBRATOR_FILE: json_bytes(self.calibrator.model_dump()),
            FEATURES_FILE: json_bytes(self.manifest.model_dump()),
            METRICS_FILE: json_bytes(dict(self.metrics)),
            CARD_FILE: json_bytes(self.card.model_dump()),
            FEATURIZER_FILE: json_bytes({"config": _dumped(self.featurizer_config)}),
        }

    def signed_files(self, signer: Signer | None = None) -> dict[str, bytes]:
        """`files()` plus `MANIFEST.json` with their hashes (and, with `signer`, `SIGNATURE.json`
        over the manifest): what `from_files` accepts."""
        files = self.files()
        hashes = {"algorithm": HASH_ALGORITHM, "files": {n: _sha256(d) for n, d in sorted(files.items())}}
        manifest = json_bytes(hashes)
        signature = {} if signer is None else {SIGNATURE_FILE: signature_bytes(signer, manifest)}
        return files | {HASHES_FILE: manifest} | signature

    def save(self, path: Path, signer: Signer | None = None) -> Path:
        """Write the directory atomically: a temp folder beside it, renamed into place; signed
        when `signer` is given."""
        path = Path(path)
        if path.exists() and not _replaceable(path):
            raise FrictionError(
                f"refusing to overwrite {path}: it exists and is not a Friction model directory"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            for name, data in self.signed_files(signer).items():
                (staging / name).write_bytes(data)
            _swap_in(staging, path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: Path, verifier: Verifier | None = None) -> FrictionModel:
        """Read the folder's files (each entry checked, each size capped), verify the signature
        (with `verifier`) and every hash against `MANIFEST.json`, then parse the verified bytes."""
        return cls.from_files(_read_files(Path(path)), source=str(path), verifier=verifier)

    @classmethod
    def from_files(
        cls, files: Mapping[str, bytes], source: str = "model", verifier: Verifier | None = None
    ) -> FrictionModel:
        """A model from its files' bytes (`signed_files()`, or a directory read whole), the
        signature (with `verifier`) and hashes checked first: how Spark executors rebuild a
        model shipped to them."""
        files = _verified(files, source, verifier)
        try:
            manifest = FeatureManifest.model_validate(parse_json(files[FEATURES_FILE], FEATURES_FILE, source))
            calibrator = Calibrator.model_validate(
                parse_json(files[CALIBRATOR_FILE], CALIBRATOR_FILE, source)
            )
            card = ModelCard.model_validate(parse_json(files[CARD_FILE], CARD_FILE, source))
            metrics = parse_json(files[METRICS_FILE], METRICS_FILE, source)
            raw_config = parse_json(files[FEATURIZER_FILE], FEATURIZER_FILE, source)["config"]
            config = None if raw_config is None else FrictionConfig.model_validate(raw_config)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelIntegrityError(f"{source}: a model file does not parse: {problem(exc)}") from None
        if not isinstance(metrics, dict):
            raise ModelIntegrityError(f"{source}: {METRICS_FILE} must hold a JSON object")
        try:
            booster = lgb.Booster(model_str=files[MODEL_FILE].decode())
        except (UnicodeDecodeError, lgb.basic.LightGBMError):
            # LightGBM's message quotes the line it failed on: not repeated here.
            raise ModelIntegrityError(f"{source}: {MODEL_FILE} is not a LightGBM text model") from None
        if booster.num_feature() != len(manifest.features):
            raise ModelIntegrityError(
                f"{source}: {MODEL_FILE} reads {booster.num_feature()} features but {FEATURES_FILE} "
                f"lists {len(manifest.features)}"
            )
        return cls(booster, calibrator, manifest, card, metrics, featurizer_config=config)


# Matrices up to this many rows are predicted on one thread: starting OpenMP's workers costs
# more than a few rows (the numbers are the same either way: each row is one thread's sum).
_ONE_THREAD_ROWS = 256


def _threads(matrix: np.ndarray) -> int:
    """LightGBM's `num_threads`: 1 for a few rows, else 0 (OpenMP's default)."""
    return 1 if len(matrix) <= _ONE_THREAD_ROWS else 0


def _replaceable(path: Path) -> bool:
    return path.is_dir() and ((path / HASHES_FILE).is_file() or not any(path.iterdir()))


def _swap_in(staging: Path, path: Path) -> None:
    if not path.exists():
        os.replace(staging, path)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
    os.replace(path, retired / path.name)
    try:
        os.replace(staging, path)
    except OSError:
        os.replace(retired / path.name, path)
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def _read_files(path: Path) -> dict[str, bytes]:
    """Every file of a model directory, each entry checked and each size capped before it is
    read (the set is checked against the manifest later)."""
    return read_folder(path, FILE_CAPS, str(path))


def manifest_bytes(path: Path) -> bytes:
    """The `MANIFEST.json` of model folder `path` (size-capped, symlinks refused): what
    identifies a model version without loading it."""
    return read_capped(Path(path) / HASHES_FILE, FILE_CAPS[HASHES_FILE], str(path))


def _verified(files: Mapping[str, bytes], source: str, verifier: Verifier | None) -> dict[str, bytes]:
    """The artifact files, once the signature holds (with `verifier`), `MANIFEST.json` lists
    exactly them under the expected algorithm, and every hash matches."""
    if HASHES_FILE not in files:
        raise ModelIntegrityError(f"{source}: {HASHES_FILE} is missing; refusing an unverified model")
    if oversized := sorted(n for n, d in files.items() if n in FILE_CAPS and len(d) > FILE_CAPS[n]):
        raise ModelIntegrityError(
            f"{source}: {oversized[0]} is over its {FILE_CAPS[oversized[0]]:,}-byte limit"
        )
    if verifier is not None:
        verifier.check(files[HASHES_FILE], files.get(SIGNATURE_FILE), source)
    parsed = parse_json(files[HASHES_FILE], HASHES_FILE, source)
    recorded = parsed.get("files") if isinstance(parsed, dict) else None
    if recorded is None:
        raise ModelIntegrityError(f"{source}: {HASHES_FILE} is not a valid hash manifest")
    algorithm = parsed.get("algorithm")
    if algorithm != HASH_ALGORITHM:
        shown = repr(algorithm)[:40]
        raise ModelIntegrityError(
            f"{source}: {HASHES_FILE} records algorithm {shown}; only {HASH_ALGORITHM!r} is accepted"
        )
    if not isinstance(recorded, dict) or sorted(recorded) != sorted(ARTIFACT_FILES):
        listed = sorted(recorded)[:10] if isinstance(recorded, dict) else type(recorded).__name__
        listed = repr(listed)[:300]  # names from the file: shown, but never at length
        raise ModelIntegrityError(
            f"{source}: {HASHES_FILE} must list exactly {', '.join(ARTIFACT_FILES)}; got {listed}"
        )
    present = set(files) - {HASHES_FILE, SIGNATURE_FILE}
    if extra := sorted(present - set(ARTIFACT_FILES)):
        raise ModelIntegrityError(f"{source}: unexpected file(s) {', '.join(extra)} not in {HASHES_FILE}")
    if missing := sorted(set(ARTIFACT_FILES) - present):
        raise ModelIntegrityError(f"{source}: missing file(s) {', '.join(missing)}")
    for name in ARTIFACT_FILES:
        if _sha256(files[name]) != recorded[name]:
            raise ModelIntegrityError(
                f"{source}: {name} differs from its sha256 in {HASHES_FILE}; not loaded"
            )
    return {name: files[name] for name in ARTIFACT_FILES}
