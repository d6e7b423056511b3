"""Atomic outputs: write to a temporary file beside the target, then rename over it.

A reader never sees a half-written file, and a failed job leaves the old output intact.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["atomic_path", "write_json", "write_parquet", "write_text"]


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `target` on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _write(target: Path, writer: Callable[[Path], Any]) -> Path:
    with atomic_path(target) as tmp:
        writer(tmp)
    return target


def write_parquet(frame: pd.DataFrame, target: Path) -> Path:
    """Write a frame as Parquet (zstd), without the pandas index."""
    with warnings.catch_warnings():
        # pyarrow 25 reads tz-aware columns through Series.values, deprecated in pandas 3.1;
        # the written type stays timestamp[us, tz=UTC].
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
        table = pa.Table.from_pandas(frame, preserve_index=False)
    return _write(target, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def write_text(text: str, target: Path) -> Path:
    return _write(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(data: Any, target: Path) -> Path:
    return write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", target)
