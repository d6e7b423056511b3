"""Can a feature table be trusted? `check_table` (before `train`, `score` and `report` read it):
is it the one its manifest describes, byte for byte? `check_built_with` (before training a model
that will carry the config to featurize raw events at scoring time): does it come from this
config? Either mismatch would train or score silently wrong."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pandas as pd

from features.config import CANONICAL_COLUMNS, FrictionConfig
from features.digests import file_sha256
from features.errors import ConfigError, FrictionError
from features.featurize import Featurizer
from models.manifest import feature_columns
from pipelines.writers import sweep_litter

__all__ = ["check_built_with", "check_table"]

_SHOWN = 5
CONTEXT_PREFIX = "context__"


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def check_built_with(table: pd.DataFrame, config: FrictionConfig, source: str = "the feature table") -> None:
    """Raise `ConfigError` unless every feature of `table` is one `config` produces and every
    touchpoint of its taxonomy has its columns (signals skipped for absent inputs may be missing)."""
    features = feature_columns(table)
    # Context features are `context__<column>`; the catalog is planned from the input columns.
    context = [name.removeprefix(CONTEXT_PREFIX) for name in features if name.startswith(CONTEXT_PREFIX)]
    featurizer = Featurizer(config)
    produced = set(featurizer.catalog([*CANONICAL_COLUMNS, *context]).names)
    if unknown := [name for name in features if name not in produced]:
        raise ConfigError(
            f"{source} has features this config does not produce ({_listed(unknown)}); "
            "it was built with another config: rebuild it with `friction features --config` on this one"
        )
    touchpoints = featurizer.taxonomy_.touchpoints
    if missing := [tp for tp in touchpoints if f"{tp}__visits" not in table.columns]:
        raise ConfigError(
            f"{source} lacks the touchpoint(s) {_listed(missing)} of this config's taxonomy; "
            "it was built with another config: rebuild it with `friction features --config` on this one"
        )


def check_table(path: Path) -> None:
    """Raise `FrictionError` when the feature table `path` differs from the digest its manifest
    (written with it by `friction features`) records: flipped bytes, or a table replaced on its
    own. An interrupted `friction features` commit is completed first. A table without a
    manifest (made elsewhere), or a folder of parts, is not checked."""
    if not path.is_file():
        return
    with contextlib.suppress(OSError):  # a read-only folder: the digest still refuses a mixed pair
        sweep_litter(path)
    manifest = path.with_suffix(".manifest.json")
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8")).get("table", {}).get("sha256")
    except FileNotFoundError:
        return
    except (OSError, ValueError, AttributeError) as exc:
        raise FrictionError(f"cannot read the feature table's manifest {manifest}: {exc}") from None
    if recorded is None:
        return  # written before tables recorded their digest
    found = file_sha256(path)
    if found != recorded:
        raise FrictionError(
            f"the feature table {path} does not match its manifest {manifest.name} "
            f"(sha256 {found[:12]}, recorded {str(recorded)[:12]}): it was changed or damaged "
            "after `friction features` wrote it; rebuild it with `friction features`"
        )
