"""The wheel carries the data files the packages read: the default taxonomy loads from an
installed wheel, with no checkout beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "pipelines", "training", "models", "serving")
TAXONOMY = "features/data/taxonomy.toml"


def _wheel(out: Path) -> Path:
    """`pip wheel` of a copy of the project (building in place would leave build/ in the checkout)."""
    source = out / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*command, "-w", str(out / "dist"), str(source)], check=True, capture_output=True)
    [wheel] = (out / "dist").glob("friction-*.whl")
    return wheel


def test_the_wheel_ships_the_default_taxonomy(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        assert TAXONOMY in archive.namelist()
        archive.extractall(tmp_path / "site")
    # Only the unpacked wheel on the path, run from elsewhere: nothing of the checkout is reachable.
    code = (
        "import features.taxonomy as t; "
        "taxonomy = t.load_taxonomy(); "
        "print(t.__file__); print(taxonomy.source); print(','.join(taxonomy.funnel))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(tmp_path / "site")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, check=True
    )
    module, source, funnel = done.stdout.splitlines()
    site = str(tmp_path / "site")
    assert module.startswith(site)
    assert source == str(Path(site) / TAXONOMY)
    assert funnel.split(",")[:2] == ["home", "search"]
