"""The playbook: which action a product app should take for a driver of risk.

`[playbook]` in friction.toml maps a touchpoint (`payment = "offer_alternative_payment"`) or a
signal family (`rage_clicks = "open_chat"`) to an action key. A driver takes the action of its
touchpoint, else of its family: where the customer is says more about what helps than how
the trouble shows. Keys must name a touchpoint or a family of the model's catalog; anything
else is a configuration error when the model is loaded, never a silent miss at request time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from features.config import load_config
from features.errors import ConfigError
from features.schema import did_you_mean
from models.artifact import FrictionModel
from models.explain import NON_TOUCHPOINT_SCOPES, family_of, scope_of

__all__ = ["Playbook", "load_playbook"]


@dataclass(frozen=True)
class Playbook:
    actions: Mapping[str, str]

    def action(self, touchpoint: str | None, family: str) -> str | None:
        if touchpoint is not None and touchpoint in self.actions:
            return self.actions[touchpoint]
        return self.actions.get(family)


def _known_keys(model: FrictionModel) -> tuple[set[str], set[str]]:
    touchpoints = set(scope_of(model).values()) - set(NON_TOUCHPOINT_SCOPES)
    return touchpoints, set(family_of(model).values())


def load_playbook(model: FrictionModel, path: Path | None = None) -> Playbook:
    """The playbook of `path` (a friction.toml) if given, else the model's own; validated
    against the model's catalog."""
    if path is not None:
        actions, source = load_config(path).playbook, f"{path} [playbook]"
    elif model.featurizer_config is not None:
        actions, source = model.featurizer_config.playbook, "the model's [playbook]"
    else:
        actions, source = {}, "no playbook"
    touchpoints, families = _known_keys(model)
    allowed = sorted(touchpoints | families)
    for key in actions:
        if key not in touchpoints and key not in families:
            hint = did_you_mean(key, allowed)
            raise ConfigError(
                f"{source}: `{key}` is neither a touchpoint nor a signal family of the model{hint}; "
                f"allowed: {', '.join(allowed)}"
            )
    return Playbook(dict(actions))
