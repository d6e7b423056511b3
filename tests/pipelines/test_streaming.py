"""The streaming local engine: spilled by hash, featurized by partition, merged — the same table
and counts as the in-memory engine, with the same quarantine, in bounded pieces."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import EventsConfig, FrictionConfig, QualityConfig, load_config
from features.errors import ConfigError, DataQualityError
from features.events import normalize_events
from features.featurize import Featurizer
from features.labels import LabelConfig, SurveyLabelConfig
from pipelines.cli import app
from pipelines.engines import featurize_local
from pipelines.features_job import run_features
from pipelines.ingest import load_events
from pipelines.progress import TerminalProgress
from pipelines.simulate import simulate, write_world
from pipelines.streaming import MemoryPlan, _pack, featurize_streaming, plan_memory
from pipelines.writers import write_parquet

FIXTURES = Path(__file__).parents[1] / "fixtures"
SIMULATED_CONTEXT = ["platform", "acquisition_channel", "customer_type"]
CONFIG = FrictionConfig(events=EventsConfig(context=[*SIMULATED_CONTEXT, "device"]))


@cache
def events() -> pd.DataFrame:
    """1,500 simulated sessions, a context column varying by user (some missing), rows shuffled
    so that every batch holds pieces of many sessions."""
    simulated = normalize_events(
        simulate(1500, seed=11).events, EventsConfig(context=SIMULATED_CONTEXT)
    ).events
    user = simulated["user_id"].str.slice(1).astype(int).to_numpy()
    device = np.array(["mobile", "desktop", "tablet", None], dtype=object)[user % 4]
    shuffled = simulated.assign(device=pd.array(device, dtype="str")).sample(frac=1.0, random_state=3)
    return shuffled.reset_index(drop=True)


def small_plan(rows: int, workers: int = 2) -> MemoryPlan:
    """A plan cutting `rows` events into ~5 batches and ~4 partitions of 3 buckets each."""
    return MemoryPlan(
        budget_bytes=64 * 2**20,
        workers=workers,
        estimated_rows=rows,
        batch_rows=rows // 5 + 1,
        partition_rows=rows // 4 + 1,
        buckets=12,
    )


@pytest.fixture(scope="session")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_parquet(events(), tmp_path_factory.mktemp("streaming") / "events.parquet")


@pytest.fixture(scope="session")
def derived_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same events without session ids: sessions are derived per user, with history."""
    folder = tmp_path_factory.mktemp("derived")
    return write_parquet(events().drop(columns="session_id"), folder / "events.parquet")


def test_streamed_table_equals_the_in_memory_engine(events_file: Path, tmp_path: Path) -> None:
    streamed = featurize_streaming(
        events_file, CONFIG, tmp_path / "f.parquet", None, small_plan(len(events()))
    )
    got = pd.read_parquet(tmp_path / "f.parquet")
    expected = featurize_local(events(), CONFIG).table
    assert streamed.partitions > 1
    assert list(got["context__device"].cat.categories) == ["desktop", "mobile", "tablet"]
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert streamed.sessions == len(expected)
    assert streamed.features.table.dtypes.astype(str).to_dict() == expected.dtypes.astype(str).to_dict()


def test_derived_sessions_with_user_history_match(derived_file: Path, tmp_path: Path) -> None:
    plain = events().drop(columns="session_id")
    featurize_streaming(derived_file, CONFIG, tmp_path / "f.parquet", None, small_plan(len(plain), workers=1))
    got = pd.read_parquet(tmp_path / "f.parquet")
    expected = Featurizer(CONFIG)(plain).frame
    assert (expected["session__prior_sessions"] > 0).mean() > 0.2  # history is really exercised
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_counts_add_up_and_equal_one_batch(events_file: Path, tmp_path: Path) -> None:
    streamed = featurize_streaming(
        events_file, CONFIG, tmp_path / "f.parquet", None, small_plan(len(events()))
    )
    counts = streamed.features.counts.counts
    whole = Featurizer(CONFIG)(events())
    assert dict(counts) == whole.counts
    kept = counts["events_used"] + counts["label_events"] + counts["events_after_cutoff"]
    assert kept == counts["events_in"] == streamed.ingest.rows_kept == len(events())
    assert counts["label_events"] > 0
    assert streamed.ingest.sessions == events()["session_id"].nunique()
    assert streamed.ingest.users == events()["user_id"].nunique()


def test_run_features_writes_the_same_file_and_manifest_both_ways(events_file: Path, tmp_path: Path) -> None:
    paths = {}
    for name, streaming in (("memory", False), ("streamed", True)):
        out = tmp_path / name / "features.parquet"
        run_features(
            CONFIG, events_file, out, tmp_path / name / "q.parquet", streaming=streaming, memory_budget_mb=64
        )
        paths[name] = out
    pd.testing.assert_frame_equal(
        pd.read_parquet(paths["streamed"]), pd.read_parquet(paths["memory"]), check_exact=True
    )
    manifests = {name: json.loads(p.with_suffix(".manifest.json").read_text()) for name, p in paths.items()}
    assert manifests["streamed"]["engine"].startswith("local (streamed: ")
    for key in ("counts", "rows", "dtypes", "features", "skipped_signals", "unknown_touchpoints", "input"):
        assert manifests["streamed"][key] == manifests["memory"][key], key
    counts = manifests["streamed"]["counts"]
    assert counts["events_in"] == manifests["streamed"]["rows"]["kept"]
    assert (
        counts["events_in"] == counts["events_used"] + counts["label_events"] + counts["events_after_cutoff"]
    )


def test_survey_labels_join_within_partitions(tmp_path: Path) -> None:
    world = simulate(800, seed=4)
    paths = write_world(world, tmp_path / "world")
    survey = SurveyLabelConfig(path=paths["surveys"])
    config = load_config(paths["config"]).model_copy(
        update={"label": LabelConfig(kind="survey", survey=survey)}
    )
    tables = {}
    for name, streaming in (("memory", False), ("streamed", True)):
        out = tmp_path / name / "features.parquet"
        summary = run_features(config, paths["events"], out, tmp_path / "q.parquet", streaming=streaming)
        tables[name] = (pd.read_parquet(out), summary)
    assert tables["memory"][1].labelled > 0
    assert tables["streamed"][1].labelled == tables["memory"][1].labelled
    assert tables["streamed"][1].positives == tables["memory"][1].positives
    pd.testing.assert_frame_equal(tables["streamed"][0], tables["memory"][0], check_exact=True)


def test_quarantine_is_the_one_load_events_writes(tmp_path: Path) -> None:
    config = FrictionConfig(quality=QualityConfig(max_bad_row_rate=1.0))
    source = FIXTURES / "events_malformed.jsonl"
    _, expected = load_events(source, config, quarantine_path=tmp_path / "whole.parquet")
    plan = replace(small_plan(8), batch_rows=2, buckets=3)
    streamed = featurize_streaming(
        source, config, tmp_path / "f.parquet", tmp_path / "streamed.parquet", plan
    )
    got = streamed.ingest
    assert (got.rows_in, got.rows_kept, got.rows_quarantined) == (
        expected.rows_in,
        expected.rows_kept,
        expected.rows_quarantined,
    )
    assert got.rows_in == got.rows_kept + got.rows_quarantined
    assert got.problems == expected.problems
    assert (got.first_event, got.last_event) == (expected.first_event, expected.last_event)
    whole, batched = (
        pd.read_parquet(tmp_path / "whole.parquet"),
        pd.read_parquet(tmp_path / "streamed.parquet"),
    )
    # JSON batches hold only their own lines' keys, so columns can come in another order.
    pd.testing.assert_frame_equal(batched, whole, check_like=True)


def test_bad_row_limit_fails_after_writing_the_quarantine(tmp_path: Path) -> None:
    config = FrictionConfig(quality=QualityConfig(max_bad_row_rate=0.0))
    plan = replace(small_plan(8), batch_rows=3, buckets=2)
    with pytest.raises(DataQualityError, match=r"rows are malformed.*max_bad_row_rate = 0\.00%"):
        featurize_streaming(
            FIXTURES / "events_malformed.jsonl", config, tmp_path / "f.parquet", tmp_path / "q.csv", plan
        )
    assert len(pd.read_csv(tmp_path / "q.csv")) > 0
    assert not (tmp_path / "f.parquet").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".spill")]  # temp files removed


def test_memory_plan_follows_the_budget(events_file: Path) -> None:
    rows = len(events())
    roomy, tight = plan_memory(events_file, 4096), plan_memory(events_file, 64)
    assert roomy.estimated_rows == tight.estimated_rows == rows  # Parquet: counted from metadata
    assert roomy.fits_in_memory
    assert tight.partition_rows < roomy.partition_rows
    assert tight.batch_rows < roomy.batch_rows
    assert tight.buckets >= 2 * tight.workers
    with pytest.raises(ConfigError, match="memory budget must be at least 64 MB, got 10"):
        plan_memory(events_file, 10)


def test_buckets_pack_into_partitions_without_splitting_one() -> None:
    assert _pack(np.array([5, 0, 3, 9, 1, 1]), limit=8) == [[0, 2], [3], [4, 5]]
    assert _pack(np.array([0, 0]), limit=8) == []


def test_cli_streams_an_input_over_its_memory_budget(tmp_path: Path) -> None:
    world = simulate(6500, seed=8)  # ~133 k events: over 64 MB at IN_MEMORY_BYTES_PER_ROW (600)
    paths = write_world(world, tmp_path / "world")
    assert not plan_memory(paths["events"], 64).fits_in_memory
    out = tmp_path / "features.parquet"
    args = ["features", "--config", str(paths["config"]), "--events", str(paths["events"]), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--memory-budget", "64"])
    assert result.exit_code == 0, result.output
    assert "━" not in result.output  # no progress bar when the output is not a terminal
    manifest = json.loads(out.with_suffix(".manifest.json").read_text())
    assert manifest["engine"].startswith("local (streamed: ")
    expected = Featurizer(load_config(paths["config"]))(
        load_events(paths["events"], load_config(paths["config"]), None)[0]
    ).frame
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected, check_exact=True)
    too_small = CliRunner().invoke(app, [*args, "--memory-budget", "10"])
    assert too_small.exit_code == 2
    assert "--memory-budget" in too_small.output  # typer names the option it refused


def test_terminal_progress_is_silent_off_a_terminal(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with TerminalProgress() as progress:
        featurize_streaming(
            events_file, CONFIG, tmp_path / "f.parquet", None, small_plan(len(events())), progress=progress
        )
    assert capsys.readouterr().err == ""


def test_batches_that_disagree_on_the_partition_key_are_refused(tmp_path: Path) -> None:
    """A JSON Lines batch without `user_id` after batches with it cannot be partitioned by user."""
    lines = [
        {"session_id": "s1", "user_id": "u1", "timestamp": "2026-01-01T10:00:00Z", "event": "page_view"},
        {"session_id": "s1", "user_id": "u1", "timestamp": "2026-01-01T10:00:05Z", "event": "click"},
        {"session_id": "s2", "timestamp": "2026-01-01T11:00:00Z", "event": "page_view"},
        {"session_id": "s2", "timestamp": "2026-01-01T11:00:09Z", "event": "click"},
    ]
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    plan = replace(small_plan(4), batch_rows=2, buckets=2)
    with pytest.raises(DataQualityError, match=r"rows from 2 on have no `user_id` column"):
        featurize_streaming(source, FrictionConfig(), tmp_path / "f.parquet", None, plan)
    # In one batch the same rows are fine (missing users are allowed row by row).
    featurize_streaming(source, FrictionConfig(), tmp_path / "f.parquet", None, replace(plan, batch_rows=4))
    assert len(pd.read_parquet(tmp_path / "f.parquet")) == 2
