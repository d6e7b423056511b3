"""Reading a model folder without trusting it.

Every entry of the folder must be a regular file with a name the artifact expects: a symlink
(even one pointing inside the folder), a subfolder, a FIFO or an unknown file is refused before
anything is read. Each file's size is checked against its cap from `stat` before it is opened
(opened without following symlinks, and checked again on the open descriptor, so a swap between
the two cannot slip a bigger or other file in). JSON is parsed by pydantic-core, whose nesting
limit turns a deeply nested document into a one-line error instead of a `RecursionError`.
Errors name the file and the rule, never the file's content.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic_core
from pydantic import ValidationError

from models.errors import ModelIntegrityError

__all__ = ["parse_json", "problem", "read_capped", "read_folder"]

# Sizes far above any real artifact: model.txt holds the trees; the JSON files a few lists.
MIB = 1 << 20


def _describe(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_capped(path: Path, cap: int, source: str) -> bytes:
    """The bytes of regular file `path`, refused unread if it is a symlink, not a regular
    file, or larger than `cap` bytes."""
    name = path.name
    try:
        before = os.lstat(path)
    except OSError as exc:
        raise ModelIntegrityError(f"{source}: cannot read {name} ({exc.strerror})") from None
    if not stat.S_ISREG(before.st_mode):
        raise ModelIntegrityError(f"{source}: {name} is {_describe(before.st_mode)}; refusing the model")
    _check_size(name, before.st_size, cap, source)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ModelIntegrityError(f"{source}: cannot read {name} ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise ModelIntegrityError(f"{source}: {name} is {_describe(opened.st_mode)}; refusing the model")
        _check_size(name, opened.st_size, cap, source)
        data = handle.read(cap + 1)
    _check_size(name, len(data), cap, source)  # grew while being read
    return data


def _check_size(name: str, size: int, cap: int, source: str) -> None:
    if size > cap:
        raise ModelIntegrityError(
            f"{source}: {name} is {size:,} bytes, over its {cap:,}-byte limit; refusing the model"
        )


def read_folder(path: Path, caps: Mapping[str, int], source: str) -> dict[str, bytes]:
    """Every file of model folder `path`, each name in `caps` and each within its cap; any
    other entry (unknown name, subfolder, symlink, FIFO) refuses the folder before a byte is read."""
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except (NotADirectoryError, FileNotFoundError):
        raise ModelIntegrityError(f"{source}: not a model directory") from None
    except OSError as exc:
        raise ModelIntegrityError(f"{source}: cannot list the model directory ({exc.strerror})") from None
    for entry in entries:
        mode = entry.stat(follow_symlinks=False).st_mode
        if entry.name not in caps:
            what = "file" if stat.S_ISREG(mode) else _describe(mode)
            raise ModelIntegrityError(
                f"{source}: unexpected {what} {entry.name} in the model folder; "
                f"a model folder holds only {', '.join(sorted(caps))}"
            )
        if not stat.S_ISREG(mode):
            raise ModelIntegrityError(f"{source}: {entry.name} is {_describe(mode)}; refusing the model")
    return {entry.name: read_capped(Path(entry.path), caps[entry.name], source) for entry in entries}


def problem(exc: Exception) -> str:
    """What is wrong, without the input: pydantic's own messages quote the offending bytes."""
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors(include_input=False, include_url=False)[:3]:
            where = ".".join(str(p) for p in error["loc"])
            parts.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
        return "; ".join(parts)
    return type(exc).__name__ if isinstance(exc, UnicodeDecodeError) else str(exc).splitlines()[0][:200]


def parse_json(data: bytes, name: str, source: str) -> Any:
    """`data` parsed, or a `ModelIntegrityError` naming `name` (nesting limit included)."""
    try:
        return pydantic_core.from_json(data)
    except ValueError as exc:
        raise ModelIntegrityError(f"{source}: {name} is not valid JSON ({exc})") from None
