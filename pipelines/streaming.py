"""The local engine for inputs larger than memory: spill by hash, featurize by partition, merge.

1. Spill. The input is read in batches (`EventStream`: normalized, bad rows quarantined
   exactly as `load_events` does); each batch's kept rows go by a hash of the partition key
   (`user_id`, or `session_id` without users: `engines.partition_key`) to one of `buckets`
   Parquet files in a temporary directory, so a user's sessions always meet in one bucket.
2. Featurize. Buckets (never split) are packed into partitions of at most `partition_rows`
   events, featurized by the one `Featurizer` in a pool of `workers` processes; each
   partition's rows come out sorted by session id, with the featurizer's counts.
3. Merge (pipelines/merge.py). The partitions' outputs are merged by session id into the
   output Parquet file, written by a `ParquetWriter` to a temporary file renamed at the end.
   Context columns get the sorted categories of the whole table: the file equals the
   in-memory engine's.

Memory (`plan_memory`): one input batch in the parent while spilling, one partition per
worker while featurizing, `merge_rows` rows per partition while merging. The constants are
peaks per row measured on simulated events (tests/benchmarks/bench_featurize.py). The budget
is for the data: each process's interpreter and imports (~200 MB, shared after the fork)
come on top. A small budget costs speed (more batches, partitions and row groups), not memory.
"""

from __future__ import annotations

import math
import resource
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.config import FrictionConfig
from features.errors import ConfigError, DataQualityError
from features.featurize import Featurizer
from features.labels import attach_survey_labels
from features.presets import plan_columns
from features.schema import NUMERIC_COLUMNS, TIMESTAMP_DTYPE
from pipelines.crashpoints import reached
from pipelines.engines import EngineOutput, PartCounts, bucket_of, partition_key
from pipelines.ingest import EventStream, IngestSummary
from pipelines.merge import arrow_table, merge_by_session
from pipelines.progress import NoProgress, Progress
from pipelines.readers import estimate_rows
from pipelines.writers import scratch_folder

__all__ = ["DEFAULT_MEMORY_BUDGET_MB", "MemoryPlan", "StreamedFeatures", "featurize_streaming", "plan_memory"]

DEFAULT_MEMORY_BUDGET_MB = 2048
# Peak bytes per event, measured on simulated events (tests/benchmarks/bench_featurize.py),
# rounded up: the whole input read, normalized, featurized and written (measured ~430 from
# Parquet at 5 M events; text inputs hold more per row before normalizing) ...
IN_MEMORY_BYTES_PER_ROW = 600
# ... one spilled partition read back, featurized and written, in one worker ...
_WORKER_BYTES_PER_ROW = 600
# ... and one raw batch with its normalized copy and its split into buckets.
_SPILL_BYTES_PER_ROW = 1_500
_OUTPUT_BYTES_PER_ROW = 5_000  # a feature row (~200 float64, 1.6 kB) in the merge: read, ordered, encoded
_BUCKETS_PER_PARTITION = 2  # finer buckets than partitions absorb a wrong size estimate
_MAX_BUCKETS = 2048
_CANONICAL_ORDER = ("session_id", "user_id", "timestamp", "event", "touchpoint", "page", "target")


@dataclass(frozen=True)
class MemoryPlan:
    """How an input is cut to stay within `budget_bytes` (all figures derived from it)."""

    budget_bytes: int
    workers: int
    estimated_rows: int
    batch_rows: int  # rows read and spilled at a time
    partition_rows: int  # most events one worker featurizes at once (one huge user can exceed it)
    buckets: int

    @property
    def fits_in_memory(self) -> bool:
        """Whether the in-memory path (faster: no spill, no merge) stays within the budget."""
        return self.estimated_rows * IN_MEMORY_BYTES_PER_ROW <= self.budget_bytes

    def merge_rows(self, partitions: int) -> int:
        """Rows buffered per partition while merging (a third of the budget for all of them)."""
        share = self.budget_bytes // (3 * max(partitions, 1) * _OUTPUT_BYTES_PER_ROW)
        return int(min(max(share, 64), 65_536))

    @property
    def output_rows(self) -> int:
        """Rows per row group of the output: merged rows are held until there are this many
        (a third of the budget), as each row group of ~200 columns has a fixed cost."""
        return int(min(max(self.budget_bytes // (3 * _OUTPUT_BYTES_PER_ROW), 1_024), 262_144))


def plan_memory(path: Path, budget_mb: float = DEFAULT_MEMORY_BUDGET_MB, workers: int = 2) -> MemoryPlan:
    """The cuts for `path` under a memory budget of `budget_mb` MiB shared by `workers` processes."""
    if budget_mb < 64:
        raise ConfigError(f"the memory budget must be at least 64 MB, got {budget_mb:g}")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    budget = int(budget_mb * 2**20)
    rows = estimate_rows(path)
    partition_rows = max(1_000, budget // (workers * _WORKER_BYTES_PER_ROW))
    wanted = math.ceil(rows / partition_rows) * _BUCKETS_PER_PARTITION
    return MemoryPlan(
        budget_bytes=budget,
        workers=workers,
        estimated_rows=rows,
        batch_rows=int(min(max(budget // _SPILL_BYTES_PER_ROW, 1_000), 1_000_000)),
        partition_rows=partition_rows,
        buckets=int(min(max(wanted, workers * _BUCKETS_PER_PARTITION), _MAX_BUCKETS)),
    )


@dataclass(frozen=True)
class StreamedFeatures:
    """What `featurize_streaming` wrote, and the counts the features manifest needs."""

    ingest: IngestSummary
    features: EngineOutput  # its `table` is empty (the rows are in the output file), dtypes kept
    sessions: int
    labelled: int
    positives: int
    partitions: int
    plan: MemoryPlan


@dataclass(frozen=True)
class _Part:
    """One partition's featurized output, written sorted by session id."""

    path: Path
    rows: int
    counts: PartCounts
    categories: dict[str, set[str]]
    sessions_in: int
    users_in: int
    labelled: int
    positives: int


@dataclass
class _Spill:
    """The buckets being written: one open Parquet writer per bucket, a row group per batch."""

    root: Path
    buckets: int
    key: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    files: dict[int, list[Path]] = field(default_factory=dict)
    _writers: dict[int, pq.ParquetWriter] = field(default_factory=dict)

    def write(self, bucket: int, piece: pa.Table) -> None:
        writer = self._writers.get(bucket)
        if writer is not None and not writer.schema.equals(piece.schema):
            writer.close()  # a JSON Lines batch with other columns: a new file for them
            writer = None
        if writer is None:
            files = self.files.setdefault(bucket, [])
            files.append(self.root / f"bucket-{bucket:04d}-{len(files):03d}.parquet")
            writer = self._writers[bucket] = pq.ParquetWriter(files[-1], piece.schema, compression="lz4")
        writer.write_table(piece)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


def featurize_streaming(
    path: Path,
    config: FrictionConfig,
    out: Path,
    quarantine_path: Path | None,
    plan: MemoryPlan,
    surveys: pd.DataFrame | None = None,
    progress: Progress | None = None,
    workdir: Path | None = None,
) -> StreamedFeatures:
    """Features of the events file `path`, written to `out` within `plan`'s memory budget.

    `surveys` (with a survey label config) label each partition: a user's sessions are all
    in one partition, so the join by user sees them all. The temporary files live in
    `workdir` (default: a folder beside `out`) and are removed at the end.
    """
    progress = progress or NoProgress()
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = scratch_folder(out, workdir)
    try:
        stream = EventStream(path, config, quarantine_path, plan.batch_rows)
        (scratch / "events").mkdir()
        spill = _Spill(scratch / "events", plan.buckets)
        try:
            _spill(stream, config, spill, plan, progress)
        finally:
            spill.close()
        ingest = stream.finish()
        reached("streaming:spilled")
        # Partitions fit the budget, and there are enough of them to keep every worker busy.
        groups = _pack(spill.rows, min(plan.partition_rows, -(-int(spill.rows.sum()) // plan.workers)))
        parts = _featurize_all(spill, groups, config, surveys, scratch / "features", plan, progress)
        progress.stage("Merging partitions by session id", sum(p.rows for p in parts))
        categories = {
            name: sorted(set().union(*(p.categories.get(name, set()) for p in parts)))
            for name in set().union(*(p.categories for p in parts))
        }
        files = [(p.path, p.rows) for p in parts]
        dtypes = merge_by_session(
            files, categories, out, plan.merge_rows(len(parts)), plan.output_rows, progress
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    made = Featurizer(config).plan(spill.columns)
    counts = PartCounts.total(p.counts for p in parts)
    empty = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
    return StreamedFeatures(
        ingest=replace(
            ingest,
            sessions=sum(p.sessions_in for p in parts) if "session_id" in spill.columns else None,
            users=sum(p.users_in for p in parts) if "user_id" in spill.columns else None,
        ),
        features=EngineOutput(empty, counts, made.catalog, made.skipped),
        sessions=sum(p.rows for p in parts),
        labelled=sum(p.labelled for p in parts),
        positives=sum(p.positives for p in parts),
        partitions=len(parts),
        plan=plan,
    )


# --- 1. spill -----------------------------------------------------------------------------


def _spill(
    stream: EventStream, config: FrictionConfig, spill: _Spill, plan: MemoryPlan, progress: Progress
) -> None:
    progress.stage(f"Reading {stream.path.name} into {spill.buckets} buckets", plan.estimated_rows)
    _allow_open_files(spill.buckets + 64)
    spill.rows = np.zeros(spill.buckets, np.int64)
    context_order = list(plan_columns(config.events).context)
    read = 0
    for events in stream:
        key = partition_key(events.columns)
        if spill.key is None:
            spill.key = key
        elif key != spill.key:
            raise DataQualityError(
                f"rows from {read:,} on have no `{spill.key}` column, which earlier rows had: "
                f"the events cannot be partitioned by it; give every row a `{spill.key}` key, "
                "or raise --memory-budget so the input is featurized in one piece"
            )
        spill.columns = _union(spill.columns, list(events.columns), context_order)
        bucket = bucket_of(events, spill.buckets, key)
        order = np.argsort(bucket, kind="stable")
        sizes = np.bincount(bucket, minlength=spill.buckets)
        table = arrow_table(events).take(pa.array(order))
        start = 0
        for index, size in enumerate(sizes.tolist()):
            if size:
                spill.write(index, table.slice(start, size))
                start += size
        spill.rows += sizes
        del events, table
        pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed batches otherwise
        progress.advance(stream.rows_in - read)
        read = stream.rows_in


def _allow_open_files(wanted: int) -> None:
    """Raise the soft limit of open files (often 1,024) toward `wanted`, as far as the hard one allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


def _union(known: list[str], new: list[str], context_order: Sequence[str]) -> list[str]:
    """Columns of all batches so far, in the order one normalized frame of them would have."""
    names = dict.fromkeys([*known, *new])
    canonical = (*_CANONICAL_ORDER, *NUMERIC_COLUMNS)

    def rank(name: str) -> tuple[int, int]:
        if name in canonical:
            return (0, canonical.index(name))
        return (1, context_order.index(name) if name in context_order else len(context_order))

    return sorted(names, key=rank)


def _pack(rows: np.ndarray, limit: int) -> list[list[int]]:
    """Consecutive non-empty buckets grouped into partitions of at most `limit` rows."""
    groups: list[list[int]] = []
    held = limit  # forces a new group at the first bucket
    for bucket, size in enumerate(rows.tolist()):
        if not size:
            continue
        if held + size > limit:
            groups.append([])
            held = 0
        groups[-1].append(bucket)
        held += size
    return groups


# --- 2. featurize -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    spill: _Spill
    groups: list[list[int]]
    config: FrictionConfig
    surveys: pd.DataFrame | None
    folder: Path
    batch_rows: int


# Set just before the pool forks: workers inherit the job rather than unpickling it.
_FORKED: _Job | None = None


def _featurize_all(
    spill: _Spill,
    groups: list[list[int]],
    config: FrictionConfig,
    surveys: pd.DataFrame | None,
    folder: Path,
    plan: MemoryPlan,
    progress: Progress,
) -> list[_Part]:
    global _FORKED
    folder.mkdir(parents=True)
    workers = plan.workers
    # Row groups of the size the merge reads, so it never holds more than that per partition.
    job = _Job(spill, groups, config, surveys, folder, batch_rows=plan.merge_rows(len(groups)))
    progress.stage(f"Featurizing {len(groups)} partitions", len(groups))
    if workers == 1 or len(groups) == 1:
        parts = []
        for index in range(len(groups)):
            parts.append(_featurize_group(job, index))
            progress.advance()
        return parts
    _FORKED = job
    found: dict[int, _Part] = {}
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
            pending = {pool.submit(_featurize_forked, index): index for index in range(len(groups))}
            for done in as_completed(pending):
                found[pending[done]] = done.result()
                progress.advance()
    finally:
        _FORKED = None
    return [found[index] for index in range(len(groups))]


def _featurize_forked(index: int) -> _Part:
    assert _FORKED is not None, "only called in workers forked by featurize_streaming"
    return _featurize_group(_FORKED, index)


def _featurize_group(job: _Job, index: int) -> _Part:
    events = _read_partition(job.spill, job.groups[index])
    features = Featurizer(job.config)(events)
    frame = features.frame
    if job.surveys is not None:
        frame = attach_survey_labels(frame, job.surveys, job.config.label)
    context = [name for name in frame.columns if isinstance(frame[name].dtype, pd.CategoricalDtype)]
    categories = {name: set(frame[name].cat.categories.astype(str)) for name in context}
    frame = frame.astype({name: "str" for name in context})
    target = job.folder / f"part-{index:05d}.parquet"
    pq.write_table(arrow_table(frame), target, row_group_size=job.batch_rows, compression="lz4")
    known = frame["label_known"].to_numpy(dtype=bool)
    return _Part(
        path=target,
        rows=len(frame),
        counts=PartCounts.of(features),
        categories=categories,
        sessions_in=int(events["session_id"].nunique()) if "session_id" in events else 0,
        users_in=int(events["user_id"].nunique()) if "user_id" in events else 0,
        labelled=int(known.sum()),
        positives=int((frame["label"].to_numpy()[known] == 1).sum()),
    )


def _read_partition(spill: _Spill, buckets: list[int]) -> pd.DataFrame:
    """A partition's events in the columns (and column order) of the whole input."""
    tables = [pq.read_table(file) for b in buckets for file in spill.files[b]]
    table = pa.concat_tables(tables, promote_options="default")
    frame: pd.DataFrame = table.to_pandas()
    missing = {name: _empty_column(name, len(frame)) for name in spill.columns if name not in frame}
    return frame.assign(**missing)[spill.columns] if missing else frame[spill.columns]


def _empty_column(name: str, rows: int) -> Any:
    if name in NUMERIC_COLUMNS:
        return np.full(rows, np.nan)
    if name == "timestamp":
        return pd.Series(pd.NaT, index=range(rows), dtype=TIMESTAMP_DTYPE)
    return pd.Series(pd.NA, index=range(rows), dtype="str")
