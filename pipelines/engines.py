"""The feature engines: the same `Featurizer` over partitions of users, locally or on Spark.

History features need every session of a user in one batch, so both engines partition by
a hash of `user_id` (of `session_id` when there is no user column) and never split a user.
Each partition is featurized on its own; the results are concatenated and brought to the
exact form of `Featurizer(config)(events).frame`: rows by session id, context columns as
`category` with the sorted categories of the whole table. Every engine returns an
`EngineOutput`: the table, the catalog, and the featurizer's counts summed over partitions
(on Spark, each group sends its counts back in one trailer row). Inputs larger than memory
go through pipelines/streaming.py, which uses the same partitioning and counts.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.catalog import CATEGORY, Catalog
from features.config import FrictionConfig
from features.errors import ConfigError
from features.featurize import FeatureSet, Featurizer
from features.schema import TIMESTAMP_DTYPE

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import SparkSession
    from pyspark.sql.types import DataType, StructType

__all__ = [
    "PARALLEL_ABOVE_ROWS",
    "EngineOutput",
    "PartCounts",
    "bucket_of",
    "featurize_local",
    "featurize_spark",
    "partition_key",
    "spark_session",
]

# The featurizer does ~1.5M events/s in one process; on 2 shared cores, 4.2M events took 2.8 s
# in one batch and 3.7 s in 2 processes (cutting partitions, pickling results back), so
# processes only pay for very large inputs on more cores.
PARALLEL_ABOVE_ROWS = 5_000_000
_BUCKET = "__friction_bucket"
_COUNTS = "__friction_counts"  # Spark: a trailer row per group carries the group's counts as JSON


@dataclass(frozen=True)
class PartCounts:
    """What the featurizer counted on one partition (or, summed, on all of them).

    events_in = events_used + label_events + events_after_cutoff (features/featurize.py).
    """

    counts: Mapping[str, int]
    unknown_touchpoints: tuple[str, ...] = ()

    @classmethod
    def of(cls, features: FeatureSet) -> PartCounts:
        return cls(dict(features.counts), tuple(sorted(features.unknown_touchpoints)))

    @classmethod
    def total(cls, parts: Iterable[PartCounts]) -> PartCounts:
        counts: dict[str, int] = {}
        unknown: set[str] = set()
        for part in parts:
            for name, value in part.counts.items():
                counts[name] = counts.get(name, 0) + int(value)
            unknown.update(part.unknown_touchpoints)
        return cls(counts, tuple(sorted(unknown)))

    def to_json(self) -> str:
        data = {"counts": dict(self.counts), "unknown_touchpoints": list(self.unknown_touchpoints)}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> PartCounts:
        data = json.loads(text)
        return cls({k: int(v) for k, v in data["counts"].items()}, tuple(data["unknown_touchpoints"]))


@dataclass(frozen=True)
class EngineOutput:
    """An engine's feature table with the featurizer's counts summed over its partitions."""

    table: pd.DataFrame
    counts: PartCounts
    catalog: Catalog
    skipped_signals: Mapping[str, str]

    def manifest(self) -> dict[str, Any]:
        """The featurizer's part of the features manifest."""
        return {
            "features": self.catalog.to_records(),
            "skipped_signals": dict(self.skipped_signals),
            "unknown_touchpoints": list(self.counts.unknown_touchpoints),
            "counts": dict(self.counts.counts),
        }


def partition_key(columns: pd.Index | list[str]) -> str:
    """The column whose hash partitions events: whole users, or whole sessions without users."""
    for name in ("user_id", "session_id"):
        if name in columns:
            return name
    raise ConfigError(f"events need `user_id` or `session_id` to be partitioned; they have: {list(columns)}")


def bucket_of(events: pd.DataFrame, n: int, key: str | None = None) -> np.ndarray:
    """Bucket of each row in [0, n) by a hash of `key` (default `partition_key`); rows
    without a key share one bucket. The same key always lands in the same bucket."""
    keys = events[key or partition_key(events.columns)].to_numpy(dtype=object, na_value="")
    return (pd.util.hash_array(keys) % np.uint64(n)).astype(np.int64)


def _finish(parts: list[pd.DataFrame], schema: dict[str, str]) -> pd.DataFrame:
    """Concatenated partitions in the whole-frame form: sorted by session id, context categorical."""
    context = [name for name, dtype in schema.items() if dtype == CATEGORY]
    plain = [part.astype({name: object for name in context}) for part in parts]
    table = pd.concat(plain, ignore_index=True) if plain else pd.DataFrame(columns=list(schema))
    table = table.sort_values("session_id", kind="stable", ignore_index=True)
    # Built as `FeatureSet.frame` builds them, so categories (sorted) and dtypes match exactly.
    for name in context:
        table[name] = pd.Categorical(table[name].to_numpy(dtype=object))
    return table


def _featurize_part(events: pd.DataFrame, config: FrictionConfig) -> tuple[pd.DataFrame, PartCounts]:
    features = Featurizer(config)(events)
    return features.frame, PartCounts.of(features)


# Set just before the pool forks: workers inherit the events and cut their own partition,
# rather than the parent copying every partition and pickling it over.
_FORKED: tuple[pd.DataFrame, list[np.ndarray], FrictionConfig] | None = None


def _featurize_forked(index: int) -> tuple[pd.DataFrame, PartCounts]:
    assert _FORKED is not None, "only called in workers forked by featurize_local"
    events, parts, config = _FORKED
    return _featurize_part(events.take(parts[index]), config)


def featurize_local(
    events: pd.DataFrame,
    config: FrictionConfig,
    workers: int = 2,
    parallel_above: int = PARALLEL_ABOVE_ROWS,
) -> EngineOutput:
    """Features of canonical events, user buckets featurized in `workers` forked processes.

    The table equals `Featurizer(config)(events).frame`; inputs of `parallel_above` rows or
    fewer (or `workers` <= 1) are featurized in this process in one batch.
    """
    global _FORKED
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    featurizer = Featurizer(config)
    plan = featurizer.plan(list(events.columns))
    if workers == 1 or len(events) <= parallel_above:
        features = featurizer(events)
        return EngineOutput(features.frame, PartCounts.of(features), plan.catalog, plan.skipped)
    bucket = bucket_of(events, workers * 2)  # more buckets than workers evens out skewed users
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(1, workers * 2))
    parts = [rows for rows in np.split(order, bounds) if len(rows)]
    _FORKED = (events, parts, config)
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
            results = list(pool.map(_featurize_forked, range(len(parts))))
    finally:
        _FORKED = None
    table = _finish([frame for frame, _ in results], featurizer.schema(list(events.columns)))
    return EngineOutput(table, PartCounts.total(c for _, c in results), plan.catalog, plan.skipped)


# --- Spark --------------------------------------------------------------------------------


@contextmanager
def spark_session(master: str = "local[2]", shuffle_partitions: int = 4) -> Iterator[SparkSession]:
    """A Spark session for feature jobs, stopped on exit; workers run this interpreter."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(master)
        .appName("friction-features")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    try:
        yield spark
    finally:
        spark.stop()


def _spark_type(dtype: str) -> DataType:
    from pyspark.sql import types as st

    types: dict[str, DataType] = {
        "str": st.StringType(),
        CATEGORY: st.StringType(),
        TIMESTAMP_DTYPE: st.LongType(),  # epoch microseconds, see `_to_spark`
        "float64": st.DoubleType(),
        "bool": st.BooleanType(),
    }
    if dtype not in types:
        raise ConfigError(f"no Spark type for dtype {dtype!r}; known: {', '.join(types)}")
    return types[dtype]


def _spark_schema(schema: dict[str, str]) -> StructType:
    from pyspark.sql import types as st

    return st.StructType([st.StructField(name, _spark_type(dtype), True) for name, dtype in schema.items()])


def _from_spark(batch: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """A pandas batch out of Spark back in its pandas dtypes (times from epoch microseconds)."""
    out: dict[str, Any] = {}
    for name in batch.columns:
        dtype = schema.get(name)
        values = batch[name]
        if dtype == TIMESTAMP_DTYPE:
            out[name] = pd.to_datetime(values.to_numpy(dtype=np.int64), unit="us", utc=True).astype(
                TIMESTAMP_DTYPE
            )
        elif dtype == "str":
            out[name] = values.astype("str")
        else:
            out[name] = values
    return pd.DataFrame(out)


def _to_spark(frame: pd.DataFrame) -> pd.DataFrame:
    """Times as int64 epoch microseconds: pyspark's own time conversion warns under pandas 3."""
    times = frame.select_dtypes(include=["datetimetz"]).columns
    return frame.assign(
        **{name: frame[name].dt.as_unit("us").dt.tz_convert(None).to_numpy().view(np.int64) for name in times}
    )


def _events_schema(columns: list[str]) -> dict[str, str]:
    floats = {"x", "y", "load_ms", "value"}
    return {
        name: TIMESTAMP_DTYPE if name == "timestamp" else "float64" if name in floats else "str"
        for name in columns
    }


def _featurize_group(
    config: FrictionConfig, columns: list[str], out_schema: dict[str, str]
) -> Any:  # a function of one pandas group, as `applyInPandas` takes it
    in_schema = _events_schema(columns)
    context = [name for name, dtype in out_schema.items() if dtype == CATEGORY]

    def featurize_group(batch: pd.DataFrame) -> pd.DataFrame:
        events = _from_spark(batch[columns], in_schema)
        features = Featurizer(config)(events)
        rows = _to_spark(features.frame.astype({name: object for name in context}))
        return pd.concat([rows.assign(**{_COUNTS: None}), _trailer(out_schema, PartCounts.of(features))])

    return featurize_group


def _trailer(schema: dict[str, str], counts: PartCounts) -> pd.DataFrame:
    """One row carrying a group's counts; its other fields are placeholders of the right type."""
    filler: dict[str, Any] = {"float64": np.nan, "bool": False, TIMESTAMP_DTYPE: 0}
    row = {name: [filler.get(dtype)] for name, dtype in schema.items()}
    return pd.DataFrame(row | {_COUNTS: [counts.to_json()]})


def featurize_spark(
    events: pd.DataFrame | Path | str,
    config: FrictionConfig,
    master: str = "local[2]",
    spark: SparkSession | None = None,
    buckets: int = 8,
) -> EngineOutput:
    """Features of canonical events (a frame or a Parquet path) computed on Spark.

    Runs the same `Featurizer` on each user bucket through `groupBy().applyInPandas`; the
    table equals `featurize_local`'s. A session is started on `master` (and stopped) unless
    `spark` is given.
    """
    if spark is None:
        with spark_session(master) as owned:
            return featurize_spark(events, config, spark=owned, buckets=buckets)
    from pyspark.sql import functions as sf
    from pyspark.sql import types as st

    if isinstance(events, pd.DataFrame):
        frame: SparkFrame = spark.createDataFrame(
            _to_spark(events), schema=_spark_schema(_events_schema(list(events.columns)))
        )
    else:
        frame = spark.read.parquet(str(events))
        stamps = [f.name for f in frame.schema.fields if isinstance(f.dataType, st.TimestampType)]
        frame = frame.withColumns({name: sf.unix_micros(name) for name in stamps})
    columns = list(frame.columns)
    featurizer = Featurizer(config)
    plan = featurizer.plan(columns)
    out_schema = featurizer.schema(columns)
    key = sf.coalesce(sf.col(partition_key(columns)), sf.lit(""))
    spark_schema = _spark_schema(out_schema).add(_COUNTS, st.StringType(), True)
    result = (
        frame.withColumn(_BUCKET, sf.pmod(sf.hash(key), sf.lit(buckets)))
        .groupBy(_BUCKET)
        .applyInPandas(_featurize_group(config, columns, out_schema), schema=spark_schema)
        .toPandas()
    )
    trailer = result[_COUNTS].notna().to_numpy()
    counts = PartCounts.total(PartCounts.from_json(text) for text in result.loc[trailer, _COUNTS])
    rows = result.loc[~trailer].drop(columns=_COUNTS).reset_index(drop=True)
    table = _finish([_from_spark(rows, out_schema)], out_schema)
    return EngineOutput(table, counts, plan.catalog, plan.skipped)
