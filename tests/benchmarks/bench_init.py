"""`friction init` end to end (the command, in a fresh process) on a large events file.

scale 1.0 = 10 M events, the size issue 18's bar names (under 30 s): init profiles a sample,
so its time should barely grow with the file. Synthetic events come from bench_readers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from bench_readers import synthetic_events

EVENTS_AT_SCALE_1 = 10_000_000
BAR_SECONDS = 30.0


def _init(events: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "init", "--events", str(events), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started


def run(scale: float) -> list[dict[str, Any]]:
    n = max(int(EVENTS_AT_SCALE_1 * scale), 1)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_init_") as tmp:
        folder = Path(tmp)
        table = pa.Table.from_pandas(synthetic_events(n), preserve_index=False)
        pq.write_table(table, folder / "events.parquet", compression="zstd")
        pa_csv.write_csv(table, folder / "events.csv")
        del table
        for name in ("events.parquet", "events.csv"):
            seconds = _init(folder / name, folder / f"{name}.toml")
            rows.append(
                {
                    "benchmark": f"init {name.split('.')[-1]}",
                    "events": n,
                    "seconds": round(seconds, 2),
                    "file_mb": round((folder / name).stat().st_size / 2**20, 1),
                    "under_bar": seconds < BAR_SECONDS,
                }
            )
    return rows


if __name__ == "__main__":
    print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0), indent=2))
