"""Explanations: sessions/s of exact TreeSHAP contributions, LightGBM's `pred_contrib` (2 threads)
next to `shap.TreeExplainer` on the same booster, in the same run; tree shape reported.

Models are trained on the journey simulator's world (int(100_000 * scale) sessions, at least
2,000) through the real featurizer. Two tree shapes:

- `product`: the default training config (small regularised trees, early stopping), the
  model `friction train` ships; its rows also time `explain()` end to end (contributions,
  sums by touchpoint and family, 3 driver sentences per session).
- `deep`: 300 trees of up to 255 leaves, depth <= 10 (the issue's reference shape).

For each shape three ways to the same numbers, on int(20_000 * scale) sessions (at least 500;
int(1_000 * scale), at least 200, for `deep`), best wall time of 2 runs each:
`pred_contrib` (LightGBM C++, num_threads=2); `shap.TreeExplainer(booster)(X)`, which for a
LightGBM booster hands the work to `pred_contrib` itself; and shap's own C TreeSHAP (the
explainer's shortcut bypassed), which cannot read categorical splits, so these two shapes are
trained on the numeric features only (the context columns left out). `max_abs_diff` is the
largest difference from `pred_contrib`; `ratio` is each row's sessions/s over pred_contrib's.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.config import load_config
from features.featurize import Featurizer
from models.artifact import FrictionModel
from models.explain import explain
from pipelines.simulator import simulate, write_world
from training.config import LightGBMParams, TrainConfig
from training.train import train

SEED = 11
THREADS = 2


def _shap() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # shap 0.51 x matplotlib colormaps
        import shap
    return shap


def _depth(node: dict[str, Any]) -> int:
    if "left_child" not in node:  # a leaf
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def tree_shape(booster: lgb.Booster) -> dict[str, Any]:
    trees = booster.dump_model()["tree_info"]
    leaves = [tree["num_leaves"] for tree in trees]
    depths = [_depth(tree["tree_structure"]) for tree in trees]
    return {
        "trees": len(trees),
        "mean_leaves": float(np.mean(leaves)),
        "max_leaves": int(max(leaves)),
        "mean_depth": float(np.mean(depths)),
        "max_depth": int(max(depths)),
    }


def _timed(work: Callable[[], Any], repeats: int = 2) -> tuple[Any, float]:
    """The result and the best wall time of `repeats` runs (the cores are shared: best is least disturbed)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        out = work()
        best = min(best, time.perf_counter() - started)
    return out, best


def _world(n_sessions: int, folder: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    world = simulate(n_sessions, seed=SEED)
    config = load_config(write_world(world, folder)["config"])
    featurizer = Featurizer(config)
    catalog = featurizer.catalog(list(world.events.columns)).to_records()
    return featurizer(world.events).frame, catalog


def _numeric_booster(
    model: FrictionModel, table: pd.DataFrame, params: dict[str, Any], rounds: int
) -> lgb.Booster:
    """A booster of the given shape on the model's numeric features (shap's own TreeSHAP needs them)."""
    numeric = [f.name for f in model.manifest.features if f.kind == "numeric"]
    known = table["label_known"].to_numpy(dtype=bool)
    data = lgb.Dataset(table.loc[known, numeric].to_numpy(np.float64), table.loc[known, "label"].to_numpy())
    base = {"objective": "binary", "verbose": -1, "num_threads": THREADS, "seed": SEED}
    return lgb.train(base | params, data, num_boost_round=rounds)


def _compare(shape: str, booster: lgb.Booster, matrix: np.ndarray) -> list[dict[str, Any]]:
    shap = _shap()
    exact, seconds = _timed(lambda: booster.predict(matrix, pred_contrib=True, num_threads=THREADS))
    rows = [("lightgbm pred_contrib", exact[:, :-1], seconds)]
    wrapper = shap.TreeExplainer(booster)
    values, seconds = _timed(lambda: wrapper(matrix).values)
    rows.append(("shap.TreeExplainer (delegates to pred_contrib)", values, seconds))
    own = shap.TreeExplainer(booster)
    own.model.model_type = "internal"  # skip the shortcut: shap's own C TreeSHAP
    values, seconds = _timed(lambda: own(matrix, check_additivity=False).values)
    rows.append(("shap.TreeExplainer own TreeSHAP", values, seconds))
    shape_info = tree_shape(booster)
    reference = len(matrix) / rows[0][2]
    return [
        {
            "benchmark": f"explain_{shape}",
            "method": method,
            "sessions": len(matrix),
            "features": matrix.shape[1],
            **shape_info,
            "seconds": seconds,
            "sessions_per_s": len(matrix) / seconds,
            "ratio": len(matrix) / seconds / reference,
            "max_abs_diff": float(np.abs(values - exact[:, :-1]).max()),
        }
        for method, values, seconds in rows
    ]


def run(scale: float) -> list[dict[str, Any]]:
    n_train = max(2_000, int(100_000 * scale))
    n_explain = max(500, int(20_000 * scale))
    n_deep = max(200, int(1_000 * scale))  # deep trees explain ~20-40 sessions/s here
    with tempfile.TemporaryDirectory() as tmp:
        table, catalog = _world(n_train, Path(tmp))
    product = train(table, TrainConfig(lightgbm=LightGBMParams(num_threads=THREADS)), catalog=catalog).model
    rows_explained = table.head(n_explain)
    # The shipped model, categorical context included: contributions, then explain() end to end.
    matrix = product.manifest.matrix(rows_explained)
    _, contrib_s = _timed(lambda: product.booster.predict(matrix, pred_contrib=True, num_threads=THREADS))
    _, explain_s = _timed(lambda: explain(product, rows_explained, top=3))
    rows: list[dict[str, Any]] = [
        {
            "benchmark": "explain_product_model",
            "method": method,
            "sessions": n_explain,
            "features": len(product.manifest.features),
            **tree_shape(product.booster),
            "seconds": seconds,
            "sessions_per_s": n_explain / seconds,
            "ratio": contrib_s / seconds,
        }
        for method, seconds in (("lightgbm pred_contrib", contrib_s), ("explain() with 3 drivers", explain_s))
    ]
    numeric = [f.name for f in product.manifest.features if f.kind == "numeric"]
    plain = rows_explained[numeric].to_numpy(np.float64)
    product_params = LightGBMParams(num_threads=THREADS).to_lightgbm(1_000_000)
    shapes = {
        "product": (product_params, product.booster.num_trees()),
        "deep": ({"num_leaves": 255, "max_depth": 10, "learning_rate": 0.05, "min_data_in_leaf": 20}, 300),
    }
    for shape, (params, rounds) in shapes.items():
        sample = plain if shape == "product" else plain[:n_deep]
        rows += _compare(shape, _numeric_booster(product, table, params, rounds), sample)
    return rows


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 0.02), indent=2))
