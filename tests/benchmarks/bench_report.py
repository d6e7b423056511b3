"""`friction report` at scale. scale 1.0 = 1 M sessions of the simulator's default world.

The world is built, featurized and a model trained (default config, on at most 100 k of its
sessions: training is not what is measured) in this process; then `friction report` runs as
its own process, twice, so wall time (imports included) and peak RSS (the child's own
`ru_maxrss`) are the report's alone:

- `report_features`: from the feature table only (journey from the funnel);
- `report_events`: with `--events` too (true transition graph and event timelines), which
  reads and re-maps every event.

Every table and ranking covers all sessions; only the SHAP plots sample (2,000 sessions).
The tree shape is reported because TreeSHAP's cost grows with trees x leaves x depth.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SESSIONS_AT_SCALE_1 = 1_000_000
TRAIN_SESSIONS = 100_000


def _tree_shape(model_dir: Path) -> dict[str, Any]:
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(model_dir / "model.txt"))
    trees = booster.dump_model()["tree_info"]

    def depth(node: dict[str, Any]) -> int:
        if "leaf_index" in node or "left_child" not in node:
            return 0
        return 1 + max(depth(node["left_child"]), depth(node["right_child"]))

    return {
        "trees": len(trees),
        "leaves_per_tree": sum(t["num_leaves"] for t in trees) / max(len(trees), 1),
        "max_depth": max((depth(t["tree_structure"]) for t in trees), default=0),
    }


# `friction report` in a fresh interpreter that prints its own peak RSS (kB on Linux) as it exits.
_CHILD = (
    "import atexit, resource, sys;"
    "atexit.register(lambda: print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
    " file=sys.stderr));"
    "sys.argv = ['friction', *sys.argv[1:]];"
    "from pipelines.cli import main; main()"
)


def _report(args: list[str]) -> tuple[float, float]:
    """Wall time (process start to exit, imports included) and peak RSS in MB of one report."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, "report", *args], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-2:] or "friction report failed")
    peak = [line for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB")][-1]
    return seconds, int(peak.split()[1]) / 1024.0


def run(scale: float) -> list[dict[str, Any]]:
    from features.config import load_config
    from features.featurize import Featurizer
    from pipelines.simulator import simulate, write_world
    from training.config import TrainConfig
    from training.flow import train_and_track

    n = max(int(SESSIONS_AT_SCALE_1 * scale), 2_000)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        world = simulate(n, seed=0)
        paths = write_world(world, folder / "world")
        config = load_config(paths["config"])
        featurizer = Featurizer(config)
        table = featurizer(world.events).frame
        del world
        features = folder / "features.parquet"
        table.to_parquet(features, index=False)
        sample = table.sample(n=min(len(table), TRAIN_SESSIONS), random_state=0)
        catalog = featurizer.catalog(list(pd_columns(paths["events"]))).to_records()
        train_and_track(
            sample,
            TrainConfig(),
            out=folder / "model",
            track=False,
            catalog=catalog,
            featurizer_config=config,
        )
        del table, sample
        shape = _tree_shape(folder / "model")
        base = ["--model", str(folder / "model"), "--features", str(features)]
        for name, extra in (("report_features", []), ("report_events", ["--events", str(paths["events"])])):
            seconds, peak = _report([*base, "--out", str(folder / name), *extra])
            rows.append(
                {
                    "benchmark": name,
                    "sessions": n,
                    "wall_s": seconds,
                    "sessions_per_s": n / seconds,
                    "peak_rss_mb": peak,
                    **shape,
                }
            )
    return rows


def pd_columns(events: Path) -> list[str]:
    import pyarrow.parquet as pq

    return [str(c) for c in pq.read_schema(events).names]


if __name__ == "__main__":
    import json

    print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 0.02), indent=1))
