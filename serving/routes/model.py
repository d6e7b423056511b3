"""`GET /v1/model`: what is being served — name, version, features, thresholds, metrics, playbook."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from serving import deps
from serving.schemas.responses import FeatureOut, ModelOut, ThresholdsOut
from serving.security import GuardedRoute

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["model"], route_class=GuardedRoute)


def _text(entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    return None if value is None else str(value)


@router.get("/model", response_model=ModelOut)
async def model_info(request: Request) -> ModelOut:
    served = deps.served(request)
    model = served.model
    features = []
    for spec in model.manifest.features:
        entry = dict(model.manifest.catalog.get(spec.name, {}))
        features.append(
            FeatureOut(
                name=spec.name,
                kind=spec.kind,
                touchpoint=_text(entry, "touchpoint"),
                family=model.words.families.get(spec.name),
                meaning=_text(entry, "meaning"),
                unit=_text(entry, "unit"),
            )
        )
    bands = model.card.bands
    return ModelOut(
        name=served.name,
        version=served.version,
        source=served.source,
        loaded_at=served.loaded_at,
        features=features,
        context=list(served.context_names),
        thresholds=ThresholdsOut(medium=bands.medium, high=bands.high),
        metrics=dict(model.metrics),
        playbook=dict(served.playbook.actions),
    )
