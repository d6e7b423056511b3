"""sha256 of input and output files: what identifies a dataset in manifests, model cards and
MLflow runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_sha256"]


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, streamed (what `sha256sum` says; files can exceed memory), or
    for a folder of parts the sha256 of their relative paths and digests in path order."""
    if not path.is_dir():
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    digest = hashlib.sha256()
    for part in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{part.relative_to(path).as_posix()}\0{file_sha256(part)}\n".encode())
    return digest.hexdigest()
