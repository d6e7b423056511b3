"""A model ready to serve (`ServedModel`): loaded, its featurizer compiled, its playbook
validated. Scoring goes through the model itself (`models`): its design matrix, LightGBM,
the calibrator and its drivers, as batch scoring and the report do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from features.featurize import Featurizer
from models.artifact import FrictionModel
from serving.playbook import Playbook

__all__ = ["ServedModel"]


@dataclass(frozen=True, eq=False)
class ServedModel:
    """A model ready to serve: loaded, its featurizer compiled, its playbook validated."""

    model: FrictionModel
    name: str
    version: str
    source: str
    loaded_at: datetime
    featurizer: Featurizer
    context_names: tuple[str, ...]
    playbook: Playbook
    actions: dict[str, str | None]  # feature -> the playbook's action for a driver of it

    @classmethod
    def of(
        cls,
        model: FrictionModel,
        featurizer: Featurizer,
        context_names: tuple[str, ...],
        playbook: Playbook,
        *,
        name: str,
        version: str,
        source: str,
        loaded_at: datetime,
    ) -> ServedModel:
        words = model.words
        actions = {n: playbook.action(words.touchpoint(n), words.families[n]) for n in model.manifest.names}
        return cls(model, name, version, source, loaded_at, featurizer, context_names, playbook, actions)
