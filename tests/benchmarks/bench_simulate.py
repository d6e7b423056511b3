"""Benchmark: the journey simulator, in memory and written to Parquet.

scale 1.0 = 1 M sessions (about 20 M events). Each measurement runs in a fresh process so
its peak RSS (resource.getrusage) is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

SESSIONS_AT_SCALE_1 = 1_000_000

_CHILD = """
import json, resource, sys, tempfile, time
from pathlib import Path
from pipelines.simulator import simulate, write_world

n, write = int(sys.argv[1]), sys.argv[2] == "write"
started = time.perf_counter()
world = simulate(n, seed=0)
seconds = time.perf_counter() - started
row = {"sessions": n, "events": len(world.events), "seconds": seconds}
if write:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        paths = write_world(world, Path(out))
        row["seconds"] = time.perf_counter() - started
        row["mb_on_disk"] = sum(p.stat().st_size for p in paths.values()) / 2**20
row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(row))
"""


def _measure(n_sessions: int, write: bool) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(n_sessions), "write" if write else "memory"],
        capture_output=True,
        text=True,
        check=True,
    )
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def run(scale: float) -> list[dict[str, Any]]:
    n_sessions = max(1, round(SESSIONS_AT_SCALE_1 * scale))
    rows = []
    for name, write in (("simulate", False), ("simulate_write", True)):
        row = _measure(n_sessions, write)
        rows.append(
            {
                "benchmark": name,
                "sessions": row["sessions"],
                "events": row["events"],
                "seconds": row["seconds"],
                "events_per_s": row["events"] / row["seconds"],
                "peak_rss_mb": row["peak_rss_mb"],
                **({"mb_on_disk": row["mb_on_disk"]} if write else {}),
            }
        )
    return rows


if __name__ == "__main__":
    print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 0.01), indent=2))
