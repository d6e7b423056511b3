"""Model loading for the API, and hot reload.

A reference is a model directory, `runs:/RUN_ID/model`, or `models:/NAME@ALIAS` /
`models:/NAME/VERSION`; `training.tracking.load_model` reads it (sha256-verified plain files,
no pickle). `ModelHolder.refresh` looks at what the reference points to now (the alias's
version, or the directory's hash manifest) and, when it changed, loads that version, prepares
it and smoke-scores it in a worker thread; only a version that passes replaces the served one,
in one attribute assignment, so a request sees either the old model or the new, whole.
A failure is logged and counted; the old model keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from features.errors import FrictionError
from models.artifact import FrictionModel, manifest_bytes
from models.signing import Verifier
from serving.columns import EVENT_COLUMNS, event_fields, from_request
from serving.errors import ModelLoadError
from serving.heap import settle
from serving.metrics import Metrics
from serving.playbook import load_playbook
from serving.schemas.requests import EventIn
from serving.scoring import featurize, score_sessions
from serving.served import DesignMatrix, ServedModel, feature_words, words
from serving.single_row import RowPredictor
from training.tracking import TrackingSettings, load_model

__all__ = [
    "MLFLOW_SAFE_ENVIRONMENT",
    "ModelHolder",
    "Resolved",
    "harden_mlflow",
    "prepare",
    "resolve",
    "smoke",
]

log = logging.getLogger("friction.serving")

# MLflow's switches for unpickling models and for executing code it deserializes (custom
# scorers): both off in this process. Friction never calls either; this makes sure nothing can.
MLFLOW_SAFE_ENVIRONMENT = {
    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
    "MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS": "false",
}


def harden_mlflow() -> None:
    os.environ.update(MLFLOW_SAFE_ENVIRONMENT)


@dataclass(frozen=True)
class Resolved:
    """What a reference points to now: a name, a version, the reference that loads it, and how
    the API names where it came from (`source`: the registry URI, or for a folder the sha256 of
    its MANIFEST.json; never a filesystem path)."""

    name: str
    version: str
    load_ref: str
    source: str = ""

    def __post_init__(self) -> None:
        if not self.source:
            object.__setattr__(self, "source", self.load_ref)


def _mlflow_client() -> Any:
    from mlflow import MlflowClient

    settings = TrackingSettings()
    return MlflowClient(tracking_uri=settings.uri(), registry_uri=settings.uri())


def resolve(ref: str) -> Resolved:
    """Cheap: one registry call for `models:/`, one small file read for a directory."""
    if ref.startswith("runs:/"):
        run_id = ref.removeprefix("runs:/").split("/", 1)[0]
        return Resolved(f"run-{run_id}", run_id, ref)
    if not ref.startswith("models:/"):
        path = Path(ref)
        try:
            digest = hashlib.sha256(manifest_bytes(path)).hexdigest()
        except FrictionError as exc:
            raise ModelLoadError(f"model directory {exc}") from None
        return Resolved(path.resolve().name, f"sha256:{digest[:12]}", ref, f"sha256:{digest}")
    from mlflow.exceptions import MlflowException

    spec = ref.removeprefix("models:/").strip("/")
    name = spec.split("@", 1)[0] if "@" in spec else spec.rpartition("/")[0]
    if "@" not in spec and not spec.endswith("/latest"):
        return Resolved(name, spec.rpartition("/")[2], ref)
    try:
        client = _mlflow_client()
        if "@" in spec:
            version = client.get_model_version_by_alias(name, spec.split("@", 1)[1]).version
        else:
            found = client.search_model_versions(f"name = '{name}'")
            version = max((int(v.version) for v in found), default=None)
    except MlflowException as exc:
        raise ModelLoadError(f"`{ref}` does not resolve to a model version: {exc.message}") from None
    if version is None:
        raise ModelLoadError(f"`{ref}`: registered model `{name}` has no versions")
    return Resolved(name, str(version), f"models:/{name}/{version}")


def prepare(model: FrictionModel, resolved: Resolved, source: str, playbook_path: Path | None) -> ServedModel:
    """Compile the model's featurizer, check it produces every feature, validate the playbook."""
    featurizer = model.featurizer()
    assert model.featurizer_config is not None  # featurizer() raised otherwise
    context_names = tuple(model.featurizer_config.events.context_columns())
    catalog = featurizer.catalog([*EVENT_COLUMNS, *context_names])
    scopes, families = words(model)
    playbook = load_playbook(model, playbook_path)
    return ServedModel(
        model=model,
        name=resolved.name,
        version=resolved.version,
        source=source,
        loaded_at=datetime.now(UTC),
        featurizer=featurizer,
        context_names=context_names,
        design=DesignMatrix(model.manifest, catalog),
        names=tuple(model.manifest.names),
        playbook=playbook,
        scopes=scopes,
        families=families,
        words=feature_words(model, playbook, scopes, families),
        raw_row=RowPredictor(model.booster, "raw"),
        contrib_row=RowPredictor(model.booster, "contrib"),
    )


def smoke(served: ServedModel) -> None:
    """Score a small fixed session and check the numbers; raise `ModelLoadError` if any is off."""
    signals = served.featurizer.config.signals
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    events = [
        EventIn(timestamp=start, event=signals.page_view_event, page="/", load_ms=900.0),
        EventIn(
            timestamp=start + timedelta(seconds=4),
            event=signals.click_event,
            page="/",
            target="t",
            x=5.0,
            y=5.0,
        ),
        EventIn(timestamp=start + timedelta(seconds=30), event=signals.page_view_event, page="/cart"),
    ]
    manifest = served.model.manifest
    # A known category for every context column, so the category codes are checked too.
    context: dict[str, str | None] = {
        f.name.removeprefix("context__"): f.categories[0] if f.categories else None
        for f in manifest.features
        if f.kind == "categorical"
    }
    session = from_request("smoke", "smoke-user", event_fields(events), context, None, served.context_names)
    [scored] = score_sessions(served, [session], explain=[True], top=[3])
    if not 0.0 <= scored.risk <= 1.0:
        raise ModelLoadError(f"smoke score: risk {scored.risk!r} is not a probability")
    features = featurize(served, session)
    reference = manifest.matrix(features.frame, strict=False)
    if not np.array_equal(served.design(features), reference, equal_nan=True):
        raise ModelLoadError("smoke score: the API's design matrix differs from the model manifest's")
    booster = served.model.booster
    raw = booster.predict(reference, raw_score=True, num_threads=1)
    contributions = booster.predict(reference, pred_contrib=True, num_threads=1)
    # The single-row path must give Booster.predict's numbers, bit for bit.
    row = np.ascontiguousarray(reference[0], dtype=np.float64)
    if not (
        np.array_equal(served.raw_row(row), raw)
        and np.array_equal(served.contrib_row(row), contributions[0])
        and raw[0] == scored.raw
    ):
        raise ModelLoadError("smoke score: LightGBM's single-row path differs from Booster.predict")
    if not np.isclose(float(np.sum(contributions)), scored.raw, rtol=0.0, atol=1e-6):
        raise ModelLoadError("smoke score: SHAP contributions do not add up to the raw score")


def load_served(
    ref: str, playbook_path: Path | None, resolved: Resolved | None = None, verifier: Verifier | None = None
) -> ServedModel:
    """Load (its signature checked by `verifier`), prepare and smoke-score what `ref` points to
    (blocking: run it in a thread)."""
    resolved = resolved or resolve(ref)
    try:
        model = load_model(resolved.load_ref, verifier=verifier)
        served = prepare(model, resolved, resolved.source, playbook_path)
    except FrictionError as exc:
        raise ModelLoadError(f"model {ref} ({resolved.name} {resolved.version}): {exc}") from None
    smoke(served)
    return served


class ModelHolder:
    """The model being served (None until the first load), swapped whole on reload."""

    def __init__(
        self,
        ref: str,
        playbook_path: Path | None,
        metrics: Metrics,
        *,
        freeze_heap: bool = False,
        verifier: Verifier | None = None,
    ) -> None:
        self.ref, self.playbook_path, self.metrics = ref, playbook_path, metrics
        self.freeze_heap, self.verifier = freeze_heap, verifier
        self.current: ServedModel | None = None

    def set(self, served: ServedModel) -> None:
        self.current = served  # one assignment: requests see the old model or the new one
        self.metrics.serving(served.name, served.version)

    def refresh(self) -> bool:
        """Load the version the reference points to now, if new; True when it was swapped in.
        Failures are logged and counted, and leave the served model as it was."""
        try:
            resolved = resolve(self.ref)
            if self.current is not None and resolved.version == self.current.version:
                return False
            served = load_served(self.ref, self.playbook_path, resolved, self.verifier)
        except Exception as exc:  # a broken version must never take the server down
            self.metrics.reload_failures.inc()
            reason = str(exc) if isinstance(exc, FrictionError) else type(exc).__name__
            log.error("model reload failed", extra={"fields": {"model_ref": self.ref, "reason": reason}})
            return False
        previous = self.current.version if self.current else None
        self.set(served)
        if self.freeze_heap:
            settle()  # the new model frozen too, and the old one's cycles reclaimed
        self.metrics.reloads.inc()
        log.info(
            "model swapped in",
            extra={"fields": {"model": served.name, "version": served.version, "previous": previous}},
        )
        return True

    async def poll(self, interval_s: float) -> None:
        """Refresh every `interval_s` seconds until cancelled (the app's lifespan owns the task)."""
        while True:
            await asyncio.sleep(interval_s)
            await asyncio.to_thread(self.refresh)
