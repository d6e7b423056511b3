"""Checks `train` runs before the fit, so that a mistake costs seconds rather than a whole fit:
a registered-model name MLflow or `models:/NAME@ALIAS` would refuse, and LightGBM parameters
(`[train.lightgbm] extra`) this machine cannot honour, such as `device_type = "gpu"` without a GPU."""

from __future__ import annotations

import json
import re

import numpy as np

from features.errors import ConfigError
from training.config import TrainConfig

__all__ = ["check_lightgbm_params", "check_model_name"]

# MLflow refuses `/` and `:`; `@` would make `models:/NAME@ALIAS` ambiguous.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# A fit this small takes milliseconds, and LightGBM checks its device and parameters first.
_PROBE_ROWS = 40


def check_model_name(name: str, flag: str = "--register") -> None:
    """Raise `ConfigError` unless `name` can be registered and addressed as `models:/NAME@ALIAS`."""
    if not _MODEL_NAME.fullmatch(name):
        raise ConfigError(
            f"{flag} {name!r} is not a valid model name: use 1 to 128 letters, digits, `.`, `_` "
            "or `-`, starting with a letter or digit (no `/`, `:`, `@` or spaces)"
        )


def check_lightgbm_params(config: TrainConfig, source: str = "config") -> None:
    """Raise `ConfigError` when LightGBM refuses the `[train.lightgbm]` parameters on a tiny fit."""
    import lightgbm as lgb

    if not config.lightgbm.extra:
        return  # the named parameters are validated by `TrainConfig` itself
    rng = np.random.default_rng(0)
    features = rng.normal(size=(_PROBE_ROWS, 2))
    labels = np.arange(_PROBE_ROWS) % 2
    params = config.lightgbm.to_lightgbm(_PROBE_ROWS) | {"objective": "binary", "verbose": -1}
    try:
        lgb.train(params, lgb.Dataset(features, labels), num_boost_round=1)
    except lgb.basic.LightGBMError as exc:
        extra = ", ".join(f"{key} = {json.dumps(value)}" for key, value in config.lightgbm.extra.items())
        raise ConfigError(
            f"{source}: LightGBM cannot train with [train.lightgbm] extra = {{ {extra} }} "
            f"on this machine: {exc}"
        ) from None
