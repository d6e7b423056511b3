"""Counterfactual impact next to scoring once, in the same run (issue 16's bar: impact for all
touchpoints under 3x the time of scoring the sessions once).

A model trained with the default config on the journey simulator's world (int(100_000 * scale)
sessions, at least 2,000, through the real featurizer); on those sessions, best wall time of
2 runs each: `predict_proba` once; `counterfactual` for every touchpoint (the report's fix
list); the same for every (touchpoint, family) pair (its top signals); and `impact` with the
report's bootstrap draws over all sessions, per day and per segment. `ratio` is each row's
seconds over scoring's; `rescored` the counterfactual rows scored (sessions x scopes with
friction).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from features.config import load_config
from features.featurize import Featurizer
from models.impact import Counterfactual, Scope, counterfactual, friction_map, impact
from models.report.config import ReportConfig
from models.report.tables import segment_columns
from pipelines.simulator import simulate, write_world
from training.config import TrainConfig
from training.train import train

SEED = 11


def _timed(work: Callable[[], Any], repeats: int = 2) -> tuple[Any, float]:
    """The result and the best wall time of `repeats` runs (the cores are shared: best is least disturbed)."""
    best = float("inf")
    out = None
    for _ in range(repeats):
        started = time.perf_counter()
        out = work()
        best = min(best, time.perf_counter() - started)
    return out, best


def run(scale: float) -> list[dict[str, Any]]:
    n_sessions = max(int(100_000 * scale), 2_000)
    world = simulate(n_sessions, seed=SEED)
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(write_world(world, Path(tmp))["config"])
    featurizer = Featurizer(config)
    table = featurizer(world.events).frame
    catalog = featurizer.catalog(list(world.events.columns)).to_records()
    model = train(table, TrainConfig(backtest_folds=0, bootstrap_rounds=0), catalog=catalog).model
    found = friction_map(model)
    touchpoints = [Scope(t) for t in found.touchpoints]
    risk, score_s = _timed(lambda: model.predict_proba(table))
    by_touchpoint: Counterfactual
    by_touchpoint, touchpoints_s = _timed(lambda: counterfactual(model, table, touchpoints, risk=risk))
    by_pair, pairs_s = _timed(lambda: counterfactual(model, table, found.pairs(), risk=risk))
    groups = pd.concat([table["session_start"].dt.floor("D").rename("day"), segment_columns(table)], axis=1)
    draws = ReportConfig().impact_draws
    _, bootstrap_s = _timed(lambda: impact(by_touchpoint, groups, draws=draws))
    return [
        {
            "benchmark": "impact",
            "step": step,
            "sessions": len(table),
            "scopes": scopes,
            "rescored": rescored,
            "seconds": seconds,
            "ratio": seconds / score_s,
        }
        for step, scopes, rescored, seconds in (
            ("predict_proba once", 1, len(table), score_s),
            (
                "counterfactual, every touchpoint",
                len(touchpoints),
                sum(map(len, by_touchpoint.rows)),
                touchpoints_s,
            ),
            (
                "counterfactual, every touchpoint x family",
                len(by_pair.scopes),
                sum(map(len, by_pair.rows)),
                pairs_s,
            ),
            (f"impact: {draws} bootstrap draws, all + day + segments", len(touchpoints), 0, bootstrap_s),
        )
    ]


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 0.02), indent=2))
