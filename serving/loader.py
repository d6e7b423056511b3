"""Model loading for the API, and hot reload.

A reference is a model directory, `runs:/RUN_ID/model`, or `models:/NAME@ALIAS` /
`models:/NAME/VERSION`; `models.registry` resolves and reads it (sha256-verified plain files,
no pickle). `ModelHolder.refresh` looks at what the reference points to now (the alias's
version, or the directory's hash manifest) and, when it changed, loads that version, prepares
it and smoke-scores it in a worker thread; only a version that passes replaces the served one,
in one attribute assignment, so a request sees either the old model or the new, whole.
A failure is logged and counted; the old model keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from features.errors import FrictionError
from models import registry
from models.artifact import FrictionModel
from models.registry import MLFLOW_SAFE_ENVIRONMENT, Resolved, load_model
from models.signing import Verifier
from serving.columns import event_fields, from_request, stacked
from serving.errors import ModelLoadError
from serving.heap import freeze_heap
from serving.metrics import Metrics
from serving.playbook import load_playbook
from serving.schemas.requests import EventIn
from serving.served import ServedModel
from serving.session_scores import score_sessions

__all__ = ["ModelHolder", "harden_mlflow", "load_served", "prepare", "resolve", "smoke"]

log = logging.getLogger("friction.serving")


def harden_mlflow() -> None:
    """MLflow's unsafe switches off for the whole process (models.registry)."""
    os.environ.update(MLFLOW_SAFE_ENVIRONMENT)


def resolve(ref: str) -> Resolved:
    """`models.registry.resolve`, its failure a `ModelLoadError`."""
    try:
        return registry.resolve(ref)
    except FrictionError as exc:
        where = "" if ref.startswith(("runs:/", "models:/")) else "model directory "
        raise ModelLoadError(f"{where}{exc}") from None


def prepare(model: FrictionModel, resolved: Resolved, source: str, playbook_path: Path | None) -> ServedModel:
    """Compile the model's featurizer and validate the playbook (`smoke` then checks the
    featurizer produces every feature the model reads)."""
    featurizer = model.featurizer()
    assert model.featurizer_config is not None  # featurizer() raised otherwise
    context_names = tuple(model.featurizer_config.events.context_columns())
    return ServedModel.of(
        model,
        featurizer,
        context_names,
        load_playbook(model, playbook_path),
        name=resolved.name,
        version=resolved.version,
        source=source,
        loaded_at=datetime.now(UTC),
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
    # A known category for every context column, so the category codes are exercised too.
    context: dict[str, str | None] = {
        f.name.removeprefix("context__"): f.categories[0] if f.categories else None
        for f in manifest.features
        if f.kind == "categorical"
    }
    session = from_request("smoke", "smoke-user", event_fields(events), context, None, served.context_names)
    [scored] = score_sessions(served, [session], explain=[True], top=[3])
    if not 0.0 <= scored.risk <= 1.0:
        raise ModelLoadError(f"smoke score: risk {scored.risk!r} is not a probability")
    model = served.model
    contributions = model.contributions_of(model.design(served.featurizer(*stacked([session]))))
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
        smoke(served)
    except ModelLoadError:
        raise
    except FrictionError as exc:
        raise ModelLoadError(f"model {ref} ({resolved.name} {resolved.version}): {exc}") from None
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
            freeze_heap()  # the new model frozen too, and the old one's cycles reclaimed
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
