"""Where a job may write: never over one of its own inputs.

A command's output written over its input destroys the data it was reading (a CSV replaced by
Parquet bytes). `check_targets` refuses, before anything is read or written, an output that is
(or resolves to, through symlinks, `..` or a hard link) an input, lies inside an input folder
(it would join the dataset it was computed from), or, for an output folder that is replaced
whole, contains an input.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from features.errors import ConfigError

__all__ = ["check_targets"]


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def _inside(inner: Path, outer: Path) -> bool:
    return inner.resolve().is_relative_to(outer.resolve())


def check_targets(
    outputs: Mapping[str, Path | None], inputs: Mapping[str, Path | None], *, folders: bool = False
) -> None:
    """Raise a one-line `ConfigError` if an output (flag -> path) would overwrite an input
    (flag -> path). `folders`: the outputs are folders replaced whole."""
    for out_flag, out in outputs.items():
        if out is None:
            continue
        for in_flag, source in inputs.items():
            if source is None:
                continue
            if _same(out, source):
                raise ConfigError(
                    f"{out_flag} {out} is the same path as {in_flag} {source}: writing it would destroy "
                    f"the input; choose another {out_flag}"
                )
            if source.is_dir() and _inside(out, source):
                raise ConfigError(
                    f"{out_flag} {out} lies inside the {in_flag} folder {source}: it would become part of "
                    f"the input; choose a path outside it"
                )
            if folders and _inside(source, out):
                raise ConfigError(
                    f"{in_flag} {source} lies inside the {out_flag} folder {out}, which is replaced "
                    f"whole; choose another {out_flag}"
                )
