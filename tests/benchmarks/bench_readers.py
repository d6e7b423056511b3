"""Read + normalize throughput and peak memory, per input format.

`run(scale)` writes `int(2_000_000 * scale)` synthetic events as Parquet, CSV and JSON Lines,
then reads and normalizes each file in a fresh process, so each row's peak RSS is that
format's own (it includes the interpreter and imports, about 150 MB).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

FULL_EVENTS = 2_000_000
FORMATS = {"parquet": "events.parquet", "csv": "events.csv", "jsonl": "events.jsonl"}
_EVENTS = np.array(["page_view", "click", "scroll", "add_to_cart", "search", "checkout", "support_chat"])
_PAGES = np.array(["/", "/search", "/product/42", "/cart", "/checkout", "/help"])


def synthetic_events(n: int, seed: int = 7) -> pd.DataFrame:
    """Sessions of about 20 events, seconds apart; clicks have a position, views a load time."""
    rng = np.random.default_rng(seed)
    session = np.sort(rng.integers(0, max(n // 20, 1), n))
    start = np.datetime64("2024-03-01T00:00:00", "us") + (session * 97_000_000).astype("timedelta64[us]")
    gaps = rng.exponential(8e6, n).astype(np.int64)
    stamps = start + gaps.astype("timedelta64[us]")
    event = _EVENTS[rng.integers(0, len(_EVENTS), n)]
    click = event == "click"
    return pd.DataFrame(
        {
            "session_id": np.char.add("s", session.astype(str)),
            "user_id": np.char.add("u", (session // 3).astype(str)),
            "timestamp": pd.DatetimeIndex(stamps).tz_localize("UTC"),
            "event": event,
            "page": _PAGES[rng.integers(0, len(_PAGES), n)],
            "x": np.where(click, rng.integers(0, 1400, n), np.nan),
            "y": np.where(click, rng.integers(0, 900, n), np.nan),
            "load_ms": np.where(event == "page_view", rng.gamma(2.0, 400.0, n).round(), np.nan),
            "platform": np.where(session % 3 == 0, "ios", "web"),
        }
    )


def write_inputs(events: pd.DataFrame, folder: Path) -> None:
    table = pa.Table.from_pandas(events, preserve_index=False)
    pq.write_table(table, folder / FORMATS["parquet"], compression="zstd")
    # Text formats carry ISO 8601 strings, as exports do.
    iso = events.assign(timestamp=events["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    pa_csv.write_csv(pa.Table.from_pandas(iso, preserve_index=False), folder / FORMATS["csv"])
    iso.to_json(folder / FORMATS["jsonl"], orient="records", lines=True)


def measure(path: str) -> dict[str, Any]:
    """Runs in the child: read + normalize one file, with the process's peak RSS."""
    from features.config import EventsConfig
    from features.events import normalize_events
    from pipelines.readers import read_events

    started = time.perf_counter()
    normalized = normalize_events(read_events(Path(path)), EventsConfig(context=["platform"]))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": normalized.summary.rows_kept, "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    # VmHWM starts afresh at exec; ru_maxrss would carry over the parent's peak on Linux.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(scale: float) -> list[dict[str, Any]]:
    n = max(int(FULL_EVENTS * scale), 1)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_readers_") as tmp:
        folder = Path(tmp)
        write_inputs(synthetic_events(n), folder)
        for fmt, name in FORMATS.items():
            code = f"import json, bench_readers as b; print(json.dumps(b.measure({str(folder / name)!r})))"
            done = subprocess.run(
                [sys.executable, "-c", code],
                cwd=Path(__file__).parent,
                capture_output=True,
                text=True,
                check=True,
            )
            got = json.loads(done.stdout.strip().splitlines()[-1])
            assert got["rows"] == n, f"{fmt}: {got['rows']} rows kept of {n}"
            rows.append(
                {
                    "benchmark": f"read+normalize {fmt}",
                    "events": n,
                    "seconds": round(got["seconds"], 3),
                    "events_per_s": round(n / got["seconds"]),
                    "peak_rss_mb": round(got["peak_rss_mb"], 1),
                    "file_mb": round((folder / name).stat().st_size / 2**20, 1),
                }
            )
    return rows


if __name__ == "__main__":
    print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0), indent=2))
