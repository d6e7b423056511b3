"""`friction score`: scores from events and from features, local and Spark identical, explanations
that add up, and one-line errors for bad inputs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.artifact import CALIBRATOR_FILE, FrictionModel
from models.errors import ModelIntegrityError
from models.explain import scope_names, top_drivers
from pipelines.cli import app
from pipelines.engines import spark_session
from pipelines.scoring import _score_feature_batches, run_score, score_in_chunks, score_table
from pipelines.writers import write_parquet
from tests.worlds import SmallWorld, TrainedWorld

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

runner = CliRunner()
TOP = 2


@dataclasses.dataclass(frozen=True)
class Inputs:
    events: Path  # raw events of a slice of the world's users
    features: Path  # their feature table, built by the model's featurizer
    table: pd.DataFrame


@pytest.fixture(scope="module")
def inputs(world: SmallWorld, world_model: TrainedWorld, tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    folder = tmp_path_factory.mktemp("scoring")
    events = world.world.events
    users = events["user_id"].drop_duplicates().iloc[:250]
    sliced = events[events["user_id"].isin(users)].reset_index(drop=True)
    table = world_model.model.featurizer()(sliced).frame
    return Inputs(
        write_parquet(sliced, folder / "events.parquet"),
        write_parquet(table, folder / "features.parquet"),
        table,
    )


def _score(args: list[str]) -> pd.DataFrame:
    result = runner.invoke(app, ["score", *args])
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("--out") + 1])
    return pd.read_parquet(out)


@pytest.fixture(scope="module")
def local_scores(
    inputs: Inputs, world_model: TrainedWorld, tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("local") / "scores.parquet"
    model = str(world_model.path)
    return _score(
        ["--model", model, "--events", str(inputs.events), "--out", str(out), "--explain", "--top", "2"]
    )


def test_scores_hold_risk_band_raw_and_explanations_that_add_up(
    local_scores: pd.DataFrame, inputs: Inputs, world_model: TrainedWorld
) -> None:
    model, table = world_model.model, inputs.table.sort_values("session_id", ignore_index=True)
    scores = local_scores
    assert len(scores) == len(table) > 300
    assert scores["session_id"].tolist() == table["session_id"].tolist()
    np.testing.assert_array_equal(scores["risk"].to_numpy(), model.predict_proba(table))
    np.testing.assert_array_equal(scores["raw"].to_numpy(), model.predict_raw(table))
    assert set(scores["band"]) <= {"low", "medium", "high"}
    scopes = [f"contribution__{scope}" for scope in scope_names(model)]
    total = scores[scopes].sum(axis=1) + scores["base"]
    np.testing.assert_allclose(total.to_numpy(), scores["raw"].to_numpy(), rtol=0, atol=1e-9)
    assert str(scores["session_start"].dtype) == "datetime64[us, UTC]"
    raw = model.predict_raw(table)
    drivers = top_drivers(model, table, model.contributions(table), k=TOP, raw=raw, what_if=True)
    for row in (0, 7, len(table) - 1):
        for i, driver in enumerate(drivers[row], start=1):
            assert scores.loc[row, f"driver_{i}_sentence"] == driver.sentence
            assert scores.loc[row, f"driver_{i}_feature"] == driver.feature
            assert scores.loc[row, f"driver_{i}_contribution"] == driver.contribution
    assert "driver_3_feature" not in scores.columns
    # Each friction driver's risk without its friction; none for exposure drivers.
    for i in range(1, TOP + 1):
        expected = [d[i - 1].risk_without if len(d) >= i else None for d in drivers]
        got = scores[f"driver_{i}_risk_without"].tolist()
        assert [None if pd.isna(w) else w for w in got] == expected
    friction = scores["driver_1_risk_without"].notna()
    assert friction.any()
    assert (~friction & scores["driver_1_feature"].notna()).any()
    assert (scores.loc[friction, "driver_1_risk_without"] < scores.loc[friction, "risk"]).mean() > 0.9


def test_scores_from_features_equal_scores_from_events(
    local_scores: pd.DataFrame, inputs: Inputs, world_model: TrainedWorld, tmp_path: Path
) -> None:
    from_features = run_score(
        world_model.model, tmp_path / "s.parquet", features=inputs.features, explain=True, top=TOP
    )
    assert from_features.sessions == len(local_scores)
    pd.testing.assert_frame_equal(pd.read_parquet(from_features.output), local_scores, check_exact=True)


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    with spark_session("local[2]", shuffle_partitions=2) as session:
        yield session


@pytest.mark.slow
def test_spark_scores_equal_local_scores(
    local_scores: pd.DataFrame, inputs: Inputs, world_model: TrainedWorld, tmp_path: Path, spark: SparkSession
) -> None:
    model = FrictionModel.load(world_model.path)
    for source in ({"events": inputs.events}, {"features": inputs.features}):
        out = tmp_path / "spark.parquet"
        summary = run_score(model, out, explain=True, top=TOP, engine="spark", spark=spark, **source)
        assert summary.sessions == len(local_scores)
        pd.testing.assert_frame_equal(pd.read_parquet(out), local_scores, check_exact=True)


def test_scores_without_explain_are_the_short_form(
    inputs: Inputs, world_model: TrainedWorld, tmp_path: Path
) -> None:
    out = tmp_path / "plain.parquet"
    scores = _score(["--model", str(world_model.path), "--features", str(inputs.features), "--out", str(out)])
    assert list(scores.columns) == [
        "session_id",
        "user_id",
        "session_start",
        "session_end",
        "risk",
        "band",
        "raw",
    ]


def test_executors_refuse_model_files_that_fail_their_hashes(
    world_model: TrainedWorld, inputs: Inputs
) -> None:
    files = world_model.model.signed_files()
    tampered = files | {CALIBRATOR_FILE: files[CALIBRATOR_FILE] + b"\n"}
    score = _score_feature_batches(tampered, {}, explain=False, top=TOP)
    with pytest.raises(ModelIntegrityError, match=f"{CALIBRATOR_FILE} differs from its sha256"):
        next(score(iter([inputs.table.head(3)])))


# -- one-line errors ----------------------------------------------------------------------------


def _fails(args: list[str], *expected: str) -> None:
    result = runner.invoke(app, ["score", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("friction score: error: ")
    for text in expected:
        assert text in lines[0]


def test_a_missing_model_is_one_line(inputs: Inputs, tmp_path: Path) -> None:
    _fails(
        [
            "--model",
            str(tmp_path / "nope"),
            "--features",
            str(inputs.features),
            "--out",
            str(tmp_path / "s.parquet"),
        ],
        "not a model directory",
    )


def test_events_need_a_model_that_carries_its_featurizer(
    inputs: Inputs, world_model: TrainedWorld, world: SmallWorld, tmp_path: Path
) -> None:
    bare = dataclasses.replace(world_model.model, featurizer_config=None).save(tmp_path / "bare")
    out = str(tmp_path / "s.parquet")
    _fails(
        ["--model", str(bare), "--events", str(inputs.events), "--out", out], "carries no featurizer config"
    )
    # A feature table needs no featurizer, and --config supplies one for events.
    assert run_score(FrictionModel.load(bare), tmp_path / "s.parquet", features=inputs.features).sessions > 0
    scores = _score(
        [
            "--model",
            str(bare),
            "--events",
            str(inputs.events),
            "--out",
            out,
            "--config",
            str(world.paths["config"]),
        ]
    )
    assert len(scores) == len(inputs.table)


def test_exactly_one_input_is_required(inputs: Inputs, world_model: TrainedWorld, tmp_path: Path) -> None:
    base = ["--model", str(world_model.path), "--out", str(tmp_path / "s.parquet")]
    _fails(base, "exactly one input")
    _fails([*base, "--events", str(inputs.events), "--features", str(inputs.features)], "exactly one input")


@pytest.mark.parametrize("engine", ["local", "spark"])
def test_feature_tables_that_do_not_fit_the_model_are_named(
    inputs: Inputs, world_model: TrainedWorld, tmp_path: Path, engine: str
) -> None:
    extra = write_parquet(inputs.table.assign(payment__mystery=1.0), tmp_path / "extra.parquet")
    missing = write_parquet(inputs.table.drop(columns=["payment__errors"]), tmp_path / "missing.parquet")
    base = ["--model", str(world_model.path), "--out", str(tmp_path / "s.parquet"), "--engine", engine]
    _fails([*base, "--features", str(extra)], "does not know", "`payment__mystery`")
    _fails([*base, "--features", str(missing)], "lacks 1 feature column", "`payment__errors`")
    assert not (tmp_path / "s.parquet").exists()


def test_a_config_override_that_changes_the_features_is_refused(
    inputs: Inputs, world_model: TrainedWorld, world: SmallWorld, tmp_path: Path
) -> None:
    config = tmp_path / "friction.toml"
    config.write_text(world.paths["config"].read_text() + '\n[signals]\ndisabled = ["errors"]\n')
    out = str(tmp_path / "s.parquet")
    args = [
        "--model",
        str(world_model.path),
        "--events",
        str(inputs.events),
        "--out",
        out,
        "--config",
        str(config),
    ]
    _fails(args, "lacks", "__errors`")
    # The same override is refused with a feature table, which is already featurized.
    _fails(
        [
            "--model",
            str(world_model.path),
            "--features",
            str(inputs.features),
            "--out",
            out,
            "--config",
            str(config),
        ],
        "--config applies to --events only",
    )


def test_scoring_in_slices_changes_nothing(inputs: Inputs, world_model: TrainedWorld) -> None:
    whole = score_table(world_model.model, inputs.table, explain=True, top=TOP)
    sliced = score_in_chunks(world_model.model, inputs.table, explain=True, top=TOP, rows=100)
    pd.testing.assert_frame_equal(sliced, whole, check_exact=True)
