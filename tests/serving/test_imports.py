"""The API's import graph: `serving` reads models through `models`, never through `training`,
so starting a worker loads neither the training stack nor MLflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# scikit-learn is not here: LightGBM imports it itself whenever it is installed.
NEVER = ("training", "optuna", "matplotlib", "mlflow", "shap", "pyspark")


def test_importing_the_app_loads_no_training_stack() -> None:
    code = "import json, sys, serving.app; print(json.dumps(sorted(sys.modules)))"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    loaded = json.loads(done.stdout)
    assert "serving.app" in loaded
    found = {top: [m for m in loaded if m == top or m.startswith(f"{top}.")] for top in NEVER}
    assert {top: names for top, names in found.items() if names} == {}
