"""The pipelines modules import one another one way: no two of them import each other, not even
lazily inside a function (a lazy import hides a cycle, it does not remove it)."""

from __future__ import annotations

import ast
from pathlib import Path

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_two_pipelines_modules_import_each_other() -> None:
    modules = {f"pipelines.{p.stem}": _imports(p) for p in sorted(PIPELINES.glob("*.py"))}
    assert {"pipelines.jobs", "pipelines.reporting"} <= set(modules)
    mutual = sorted(
        (a, b) for a, imported in modules.items() for b in imported if a < b and a in modules.get(b, set())
    )
    assert mutual == []
