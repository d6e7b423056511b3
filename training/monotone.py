"""Which features the booster is held monotone (+1) in: the counts of friction.

A friction signal counts occurrences of something that went wrong (an error, a rage-click
burst, a slow load, a move back in the funnel), so one more can never make a session less
at risk; left free, the trees learn small dips from noise (a 2nd payment error lowering the
risk by a point or two), which an app acting on the risk must not see. Shape features
(visits, dwell, duration, hour, pace, context) stay free: more of them can mean either.

Which features are friction is the catalog's marking (`features.catalog.is_friction`: the
entry's role; for models saved before roles, the family from the catalog or the featurizer's
naming, `<scope>__<family>`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from features.catalog import FRICTION_FAMILIES, is_friction
from models.manifest import FeatureManifest

__all__ = ["FRICTION_FAMILIES", "friction_counts", "is_friction_count", "monotone_constraints"]


def is_friction_count(name: str, entry: Mapping[str, Any] | None = None) -> bool:
    """True for a count of friction (`entry`: its catalog record, when known)."""
    return is_friction(name, entry)


def friction_counts(manifest: FeatureManifest) -> list[str]:
    """The manifest's numeric features that count friction, in feature order."""
    return [
        spec.name
        for spec in manifest.features
        if spec.kind == "numeric" and is_friction_count(spec.name, manifest.catalog.get(spec.name))
    ]


def monotone_constraints(manifest: FeatureManifest) -> list[int]:
    """LightGBM's `monotone_constraints`: +1 on each friction count, 0 elsewhere (categoricals
    cannot be constrained)."""
    constrained = set(friction_counts(manifest))
    return [1 if spec.name in constrained else 0 for spec in manifest.features]
