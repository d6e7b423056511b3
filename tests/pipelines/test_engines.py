"""The engines against the one featurizer: partitioned, forked or on Spark, the same table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from features.config import EventsConfig, FrictionConfig
from features.errors import ConfigError
from features.events import normalize_events
from features.featurize import Featurizer
from pipelines.engines import featurize_local, featurize_spark, partition_key, spark_session
from pipelines.simulate import simulate
from pipelines.streaming import featurize_streaming, plan_memory
from pipelines.writers import write_parquet

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@cache
def world() -> pd.DataFrame:
    """2,000 simulated sessions with a context column that varies by user (some missing)."""
    events = normalize_events(simulate(2000, seed=1).events, FrictionConfig().events).events
    user = events["user_id"].str.slice(1).astype(int).to_numpy()
    device = np.array(["mobile", "desktop", "tablet", None], dtype=object)[user % 4]
    return events.assign(device=pd.array(device, dtype="str"))


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    with spark_session("local[2]", shuffle_partitions=2) as session:
        yield session


def test_local_engine_in_processes_equals_one_batch() -> None:
    events = world()
    expected = Featurizer(FrictionConfig())(events).frame
    got = featurize_local(events, FrictionConfig(), workers=2, parallel_above=0)
    assert list(got.table["context__device"].cat.categories) == ["desktop", "mobile", "tablet"]
    pd.testing.assert_frame_equal(got.table, expected)


def test_local_engine_counts_add_up_over_partitions() -> None:
    events = world()
    whole = Featurizer(FrictionConfig())(events)
    got = featurize_local(events, FrictionConfig(), workers=2, parallel_above=0)
    counts = got.counts.counts
    assert dict(counts) == whole.counts
    assert counts["events_in"] == len(events)
    assert (
        counts["events_in"] == counts["events_used"] + counts["label_events"] + counts["events_after_cutoff"]
    )
    assert got.catalog.names == whole.feature_names
    assert got.manifest()["counts"] == whole.counts


def test_unknown_touchpoints_are_gathered_from_every_partition() -> None:
    events = world()
    touchpoint = np.where(events["user_id"].str.endswith("7"), "kiosk", "cart")
    touchpoint = np.where(events["user_id"].str.endswith("3"), "call_centre", touchpoint)
    given = events.assign(touchpoint=pd.array(touchpoint, dtype="str"))
    got = featurize_local(given, FrictionConfig(), workers=2, parallel_above=0)
    assert got.counts.unknown_touchpoints == ("call_centre", "kiosk")


def test_local_engine_leaves_the_input_untouched() -> None:
    events = world()
    before = events.copy()
    featurize_local(events, FrictionConfig(), workers=2, parallel_above=0)
    pd.testing.assert_frame_equal(events, before)


def test_local_engine_rejects_zero_workers() -> None:
    with pytest.raises(ConfigError, match="workers must be at least 1, got 0"):
        featurize_local(world(), FrictionConfig(), workers=0)


def test_partition_key_needs_an_id_column() -> None:
    assert partition_key(["session_id", "user_id"]) == "user_id"
    assert partition_key(["session_id", "timestamp"]) == "session_id"
    with pytest.raises(ConfigError, match=r"need `user_id` or `session_id`.*timestamp"):
        partition_key(["timestamp", "event"])


@pytest.mark.slow
def test_spark_engine_equals_local_engine_bit_for_bit(spark: SparkSession) -> None:
    events = world()
    local = featurize_local(events, FrictionConfig())  # in process: no fork beside the JVM's threads
    got = featurize_spark(events, FrictionConfig(), spark=spark)
    pd.testing.assert_frame_equal(got.table, local.table, check_exact=True)
    assert got.counts == local.counts  # summed from one trailer row per Spark group
    counts = got.counts.counts
    assert (
        counts["events_in"] == counts["events_used"] + counts["label_events"] + counts["events_after_cutoff"]
    )


@pytest.mark.slow
def test_spark_and_streaming_engines_agree_on_derived_sessions(spark: SparkSession, tmp_path: Path) -> None:
    """Sessions derived per user, with user-history features: in memory, streamed and on Spark."""
    events = world().drop(columns="session_id")
    path = write_parquet(events, tmp_path / "events.parquet")
    config = FrictionConfig(events=EventsConfig(context=["device"]))
    in_memory = featurize_local(events, config)
    assert (in_memory.table["session__prior_sessions"] > 0).any()
    plan = replace(plan_memory(path, 64), batch_rows=9_000, partition_rows=12_000, workers=1)
    streamed = featurize_streaming(path, config, tmp_path / "streamed.parquet", None, plan)
    on_spark = featurize_spark(path, config, spark=spark, buckets=3)
    assert streamed.partitions > 1
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "streamed.parquet"), in_memory.table, check_exact=True
    )
    pd.testing.assert_frame_equal(on_spark.table, in_memory.table, check_exact=True)
    assert streamed.features.counts == on_spark.counts == in_memory.counts


@pytest.mark.slow
def test_spark_engine_reads_canonical_parquet(spark: SparkSession, tmp_path: Path) -> None:
    events = world()
    path = write_parquet(events, tmp_path / "events.parquet")
    got = featurize_spark(path, FrictionConfig(), spark=spark, buckets=3)
    pd.testing.assert_frame_equal(got.table, Featurizer(FrictionConfig())(events).frame, check_exact=True)
