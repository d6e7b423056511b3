"""The featurizer's throughput on simulated events, the local engine in memory and streamed,
and one session's latency as the API scores it.

scale = 1.0 is 10 M events. Throughput is one call on one core (the engines parallelize
over partitions); `peak_rss_mb` is the process's peak resident memory during that call
(the kernel's high-water mark is reset just before it), `input_mb` the events frame.

The engine rows run `friction features --engine local` (`run_features`: Parquet in, features
and manifest out) in a fresh process each: in memory, streamed with the default memory
budget, and streamed with a budget smaller than the input frame. Their `peak_tree_pss_mb`
is the peak proportional set size of the process and its forked workers together, sampled
every 50 ms (PSS counts pages shared after a fork once); it includes the interpreter and
imports (~200 MB). Ratios compare each row with the in-memory row of the same run.

Wall-clock figures suffer when other processes share the cores; the CPU-time columns
(`cpu_seconds`, `median_cpu_ms`) show what the featurizer itself costs.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.config import EventsConfig, FrictionConfig
from features.featurize import Featurizer
from pipelines.features_job import run_features
from pipelines.simulator import simulate
from pipelines.writers import write_parquet

TARGET_EVENTS = 10_000_000
EVENTS_PER_SESSION = 20.5  # the simulator's average, to size the world
SHUFFLED_EVENTS = 2_000_000  # the sort path is measured on at most this many
LATENCY_EVENTS = 50
LATENCY_CALLS = 2_000
SEED = 7
CONTEXT = ["platform", "acquisition_channel", "customer_type"]
# Engine runs: (label, streamed, memory budget in MB; None = the default budget). A fixed
# small budget shows the streamed peak staying flat as the input grows.
ENGINE_RUNS: tuple[tuple[str, bool, int | None], ...] = (
    ("in memory", False, None),
    ("streamed, default budget", True, None),
    ("streamed, 256 MB budget", True, 256),  # below the input at scale 1.0 (10 M events, ~800 MB)
)


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


class _TreeMemory:
    """Peak PSS of this process plus its descendants, sampled in a background thread."""

    def __init__(self, every_s: float = 0.05) -> None:
        self.every_s, self.peak_kb = every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _tree(os.getpid())))
            self._stop.wait(self.every_s)


def _tree(pid: int) -> list[int]:
    pids, k = [pid], 0
    while k < len(pids):
        for task in Path(f"/proc/{pids[k]}/task").glob("*/children"):
            with contextlib.suppress(OSError):  # the task ended meanwhile
                pids += [int(c) for c in task.read_text().split()]
        k += 1
    return pids


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:  # the process ended between listing and reading
        pass
    return 0


class _StageClock:
    """A `Progress` that records the seconds each stage of a job took."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stage: tuple[str, float] | None = None

    def stage(self, description: str, total: int | None) -> None:
        self.close()
        self._stage = (description.split()[0].lower(), time.perf_counter())

    def advance(self, amount: int = 1) -> None:
        pass

    def close(self) -> None:
        if self._stage is not None:
            name, started = self._stage
            self.seconds[f"{name}_s"] = time.perf_counter() - started
            self._stage = None


def _engine_run(events_path: Path, streamed: bool, budget_mb: int) -> dict[str, Any]:
    """One `run_features` in this (fresh) process: seconds and peak memory of the process tree."""
    config = FrictionConfig(events=EventsConfig(context=CONTEXT))
    out = events_path.parent / f"features-{os.getpid()}.parquet"
    clock = _StageClock()
    with _TreeMemory() as memory:
        started, cpu = time.perf_counter(), time.process_time()
        summary = run_features(
            config,
            events_path,
            out,
            out.with_suffix(".q.parquet"),
            memory_budget_mb=budget_mb,
            streaming=streamed,
            progress=clock,
        )
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        clock.close()
    manifest = json.loads(summary.manifest.read_text())
    return {
        "events": summary.ingest.rows_in,
        "sessions": summary.sessions,
        "seconds": seconds,
        "events_per_s": summary.ingest.rows_in / seconds,
        "parent_cpu_seconds": cpu_seconds,
        "peak_tree_pss_mb": memory.peak_kb / 1024,
        "peak_parent_rss_mb": _peak_mb(True),  # VmHWM: ru_maxrss would carry the launcher's peak over exec
        "memory_budget_mb": budget_mb,
        "engine": manifest["engine"],
        **clock.seconds,
    }


def _engines(events: pd.DataFrame) -> list[dict[str, Any]]:
    """The local engine in memory and streamed, each in a fresh process, on one Parquet input."""
    from pipelines.streaming import DEFAULT_MEMORY_BUDGET_MB

    input_mb = events.memory_usage(deep=True).sum() / 2**20
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as folder:
        path = write_parquet(events, Path(folder) / "events.parquet")
        for label, streamed, budget in ENGINE_RUNS:
            budget_mb = DEFAULT_MEMORY_BUDGET_MB if budget is None else budget
            args = [sys.executable, __file__, "--engine", str(path), str(int(streamed)), str(budget_mb)]
            done = subprocess.run(
                args, capture_output=True, text=True, check=False, cwd=Path(__file__).parent
            )
            if done.returncode != 0:
                rows.append({"benchmark": f"local engine ({label})", "error": done.stderr.strip()[-300:]})
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({"benchmark": f"local engine ({label})", "input_mb": input_mb, **row})
    base = rows[0]
    for row in rows[1:]:
        if "error" not in row and "error" not in base:
            row["speed_vs_in_memory"] = row["events_per_s"] / base["events_per_s"]
            row["memory_vs_in_memory"] = row["peak_tree_pss_mb"] / base["peak_tree_pss_mb"]
    return rows


def run(scale: float) -> list[dict[str, Any]]:
    n_sessions = max(10, round(TARGET_EVENTS * scale / EVENTS_PER_SESSION))
    events = simulate(n_sessions, seed=SEED).events
    engine_rows = _engines(events)
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
    return rows + engine_rows


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--engine":
        print(json.dumps(_engine_run(Path(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4]))))
    else:
        print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 0.01), indent=2))
