"""Atomic outputs: write to a temporary file beside the target, then rename it over it.

A reader never sees a half-written file, and a failed job leaves the old output intact.
Outputs that belong together (a feature table and its manifest) are committed as one: both
are written to temporary files, a journal naming the renames is written, then they are
renamed. A run killed after the journal is completed (rolled forward) by whoever looks next,
so readers see the old pair or the new one, never a mix.

Temporary files, spill folders and journals are named `.TARGET.PID.XXXXXXXX.{tmp,spill,commit}`
after the target and the process that owns them: the next run on the same target removes
those whose process no longer exists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.crashpoints import reached

__all__ = [
    "atomic_path",
    "commit_together",
    "json_text",
    "scratch_folder",
    "staged_path",
    "sweep_litter",
    "write_json",
    "write_parquet",
    "write_parquet_file",
    "write_text",
]

_JOURNAL = ".commit"


def _owned(target: Path) -> re.Pattern[str]:
    """Names this module gives to the temporary entries of `target` (also nested ones, such as
    a temporary file of a temporary file); group 1 is the owner's pid."""
    return re.compile(rf"^\.+{re.escape(target.name)}\.(\d+)\.[a-z0-9_]{{8}}\.(?:tmp|spill|commit)")


def _prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _roll_forward(journal: Path) -> None:
    """Finish the renames a killed commit had written down (each is done at most once)."""
    try:
        renames = json.loads(journal.read_text(encoding="utf-8"))["renames"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # not a journal this module wrote whole: left as litter, removed below
    for staged, target in renames:
        # Renames stay inside the folder, and only move this module's temporary files.
        if not (_plain(staged) and _plain(target) and _owned(Path(target)).match(staged)):
            return
    for staged, target in renames:
        if (journal.parent / staged).exists():
            os.replace(journal.parent / staged, journal.parent / target)
    journal.unlink(missing_ok=True)


def _plain(name: object) -> bool:
    return isinstance(name, str) and name not in {"", ".", ".."} and Path(name).name == name


def sweep_litter(target: Path, folder: Path | None = None) -> list[Path]:
    """Complete the interrupted commits of `target` and remove its temporary files and spill
    folders whose owner process is gone (in `folder`, default the target's); returns what was
    removed. Entries of live processes, this one included, are left alone."""
    folder = folder or target.parent
    pattern = _owned(target)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    dead = [name for name in names if (m := pattern.match(name)) and not _alive(int(m.group(1)))]
    for name in dead:
        if name.endswith(_JOURNAL):
            _roll_forward(folder / name)
    removed = []
    for name in dead:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink(missing_ok=True)
        else:
            continue  # renamed into place by a journal above
        removed.append(path)
    return removed


@contextmanager
def staged_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`, named for this process; it is removed on the way
    out unless the caller renamed it (`atomic_path`, `commit_together`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_litter(target)
    fd, name = tempfile.mkstemp(prefix=_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `target` on success."""
    with staged_path(target) as tmp:
        yield tmp
        os.replace(tmp, target)


def scratch_folder(target: Path, folder: Path | None = None) -> Path:
    """A new spill folder for the job writing `target` (in `folder`, default the target's),
    named for this process; the caller removes it."""
    where = folder or target.parent
    where.mkdir(parents=True, exist_ok=True)
    sweep_litter(target, where)
    return Path(tempfile.mkdtemp(prefix=_prefix(target), suffix=".spill", dir=where))


def commit_together(staged: Mapping[Path, Path]) -> None:
    """Rename each staged file (value) onto its target (key), all in one folder, as one commit:
    a journal is written first, so a kill part-way is completed by the next `sweep_litter`."""
    folders = {path.parent.resolve() for path in (*staged, *staged.values())}
    if len(folders) != 1:
        raise ValueError(f"a commit renames within one folder; got {sorted(map(str, folders))}")
    first = next(iter(staged))
    renames = [[tmp.name, target.name] for target, tmp in staged.items()]
    with staged_path(first) as tmp:
        tmp.write_text(json.dumps({"renames": renames}), encoding="utf-8")
        journal = tmp.with_name(tmp.name.removesuffix(".tmp") + _JOURNAL)
        os.replace(tmp, journal)
    reached("commit:journal-written")
    for index, (target, tmp) in enumerate(staged.items()):
        os.replace(tmp, target)
        reached(f"commit:renamed-{index + 1}")
    journal.unlink()


def write_parquet_file(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame as Parquet (zstd), without the pandas index, to `path` as it is."""
    with warnings.catch_warnings():
        # pyarrow 25 reads tz-aware columns through Series.values, deprecated in pandas 3.1;
        # the written type stays timestamp[us, tz=UTC].
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
        table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="zstd")


def json_text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def _write(target: Path, writer: Callable[[Path], Any]) -> Path:
    with atomic_path(target) as tmp:
        writer(tmp)
    return target


def write_parquet(frame: pd.DataFrame, target: Path) -> Path:
    """Write a frame as Parquet (zstd), without the pandas index, atomically."""
    return _write(target, lambda tmp: write_parquet_file(frame, tmp))


def write_text(text: str, target: Path) -> Path:
    return _write(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(data: Any, target: Path) -> Path:
    return write_text(json_text(data), target)
