"""The featurizer's throughput on simulated events, and one session's latency as the API scores it.

scale = 1.0 is 10 M events. Throughput is one call on one core (the engines parallelize
over partitions); `peak_rss_mb` is the process's peak resident memory during that call
(the kernel's high-water mark is reset just before it), `input_mb` the events frame.
Wall-clock figures suffer when other processes share the cores; the CPU-time columns
(`cpu_seconds`, `median_cpu_ms`) show what the featurizer itself costs.
"""

from __future__ import annotations

import gc
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.featurize import Featurizer
from pipelines.simulator import simulate

TARGET_EVENTS = 10_000_000
EVENTS_PER_SESSION = 20.5  # the simulator's average, to size the world
SHUFFLED_EVENTS = 2_000_000  # the sort path is measured on at most this many
LATENCY_EVENTS = 50
LATENCY_CALLS = 2_000
SEED = 7


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark for this process (Linux); False when not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mb(reset: bool) -> float:
    if reset:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _throughput(featurizer: Featurizer, events: pd.DataFrame, label: str) -> dict[str, Any]:
    """Two calls: the first pays for the process's first use of its memory (slow on VMs
    whose memory the host backs lazily), the second is the steady state an engine running
    partition after partition sees."""
    gc.collect()
    started = time.perf_counter()
    featurizer(events)
    cold = time.perf_counter() - started
    gc.collect()
    reset = _reset_peak()
    started, cpu = time.perf_counter(), time.thread_time()
    result = featurizer(events)
    seconds, cpu_seconds = time.perf_counter() - started, time.thread_time() - cpu
    return {
        "benchmark": f"featurize ({label})",
        "events": len(events),
        "sessions": len(result),
        "features": len(result.feature_names),
        "seconds": seconds,
        "events_per_s": len(events) / seconds,
        "cpu_seconds": cpu_seconds,
        "seconds_first_call": cold,
        "peak_rss_mb": _peak_mb(reset),
        "input_mb": events.memory_usage(deep=True).sum() / 2**20,
    }


def _one_session(events: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A 50-event session as the API hands it over: column arrays, plus the user's history."""
    sizes = events.groupby("session_id", observed=True).size()
    session = sizes.index[sizes >= LATENCY_EVENTS][0]
    rows = events[events["session_id"] == session].head(LATENCY_EVENTS)
    columns: dict[str, np.ndarray] = {}
    for name in rows.columns:
        column = rows[name]
        if name == "timestamp":
            columns[name] = column.to_numpy(dtype="datetime64[us]")
        elif column.dtype.kind == "f":
            columns[name] = column.to_numpy()
        else:
            columns[name] = column.to_numpy(dtype=object)
    history = {
        "user_id": columns["user_id"][:1],
        "prior_sessions": np.array([4.0]),
        "last_session_end": columns["timestamp"][:1] - np.timedelta64(3, "D"),
    }
    return columns, history


def _latency(featurizer: Featurizer, events: pd.DataFrame) -> dict[str, Any]:
    columns, history = _one_session(events)
    frame = pd.DataFrame(columns).astype({k: "str" for k, v in columns.items() if v.dtype == object})
    for _ in range(200):  # warm the taxonomy caches, as a running API has
        featurizer(columns, history)
    timings, cpu = np.empty(LATENCY_CALLS), np.empty(LATENCY_CALLS)
    for k in range(LATENCY_CALLS):
        started, cpu_started = time.perf_counter(), time.thread_time()
        featurizer(columns, history)
        timings[k], cpu[k] = time.perf_counter() - started, time.thread_time() - cpu_started
    frame_timings = np.empty(LATENCY_CALLS // 4)
    for k in range(len(frame_timings)):
        started = time.perf_counter()
        featurizer(frame, history)
        frame_timings[k] = time.perf_counter() - started
    return {
        "benchmark": "featurize one session (API path: column arrays + history)",
        "events": LATENCY_EVENTS,
        "median_ms": float(np.median(timings) * 1e3),
        "p95_ms": float(np.quantile(timings, 0.95) * 1e3),
        "median_cpu_ms": float(np.median(cpu) * 1e3),
        "median_ms_dataframe_input": float(np.median(frame_timings) * 1e3),
    }


def run(scale: float) -> list[dict[str, Any]]:
    n_sessions = max(10, round(TARGET_EVENTS * scale / EVENTS_PER_SESSION))
    events = simulate(n_sessions, seed=SEED).events
    featurizer = Featurizer()
    featurizer(events.head(10_000))  # compile the page rules' cache outside the timings
    rows = [_throughput(featurizer, events, "categorical columns, as simulated")]
    text = events.astype(
        {c: "str" for c in events.columns if isinstance(events[c].dtype, pd.CategoricalDtype)}
    )
    del events
    rows.append(_throughput(featurizer, text, "str columns, as the adapter gives them"))
    shuffled = text.head(SHUFFLED_EVENTS).sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    rows.append(_throughput(featurizer, shuffled, "str columns, rows shuffled: sort path"))
    del shuffled
    rows.append(_latency(featurizer, text))
    return rows


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 0.01), indent=2))
