"""`[train]` in friction.toml: validated into a `TrainConfig`, errors that name the key, and
`friction train --config` trains with it."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import load_config
from features.errors import ConfigError
from models.artifact import FrictionModel
from pipelines.cli import app
from tests.worlds import SmallWorld
from training.config import TrainConfig, train_config_from

runner = CliRunner()

# Fast trees (seconds on the small world) that differ from every default they set.
TRAIN_TABLE = """
[train]
seed = 3
holdout_fraction = 0.3
calibration = "platt"
segments = ["platform"]
top_fractions = [0.2]

[train.lightgbm]
learning_rate = 0.2
num_leaves = 5
min_child_samples = 20
num_boost_round = 40
num_threads = 1
extra = { max_depth = 4 }

[train.bands]
medium = 0.1
high = 0.3

[train.gate]
metric = "log_loss"
margin = 0.01
"""


def _with_train_table(small: SmallWorld, folder: Path, table: str) -> Path:
    """The world's friction.toml plus `table`, beside it (relative paths stay valid), named per test."""
    path = small.paths["config"].with_name(f"friction-{folder.name}.toml")
    path.write_text(small.paths["config"].read_text() + table)
    return path


def _error(table: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as caught:
        train_config_from(table, "friction.toml")
    return str(caught.value)


def test_a_full_table_sets_every_section() -> None:
    config = train_config_from(tomllib.loads(TRAIN_TABLE)["train"], "friction.toml")
    assert config.holdout_fraction == 0.3
    assert config.calibration == "platt"
    assert config.segments == ["platform"]
    assert (config.lightgbm.num_leaves, config.lightgbm.num_boost_round) == (5, 40)
    assert config.lightgbm.to_lightgbm(1_000)["max_depth"] == 4
    assert (config.bands.medium, config.bands.high) == (0.1, 0.3)
    assert (config.gate.metric, config.gate.margin) == ("log_loss", 0.01)
    assert config.validation_fraction == TrainConfig().validation_fraction  # unset keys keep defaults


def test_an_empty_table_is_the_defaults() -> None:
    assert train_config_from({}, "friction.toml") == TrainConfig()


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            {"holdout_fractoin": 0.1},
            "unknown key `train.holdout_fractoin` (did you mean `holdout_fraction`?)",
        ),
        (
            {"lightgbm": {"num_leavs": 7}},
            "unknown key `train.lightgbm.num_leavs` (did you mean `num_leaves`?)",
        ),
        (
            {"bands": {"hihg": 0.4}},
            "unknown key `train.bands.hihg` (did you mean `high`?); allowed here: high, medium",
        ),
        ({"tune": {"timeout": 60}}, "unknown key `train.tune.timeout` (did you mean `timeout_s`?)"),
    ],
)
def test_unknown_keys_are_named_with_a_hint(table: dict[str, object], expected: str) -> None:
    message = _error(table)
    assert message.startswith("friction.toml: ")
    assert expected in message


BAD_VALUES = [
    (
        {"lightgbm": {"num_leaves": 0}},
        '`train.lightgbm.num_leaves`: must be an integer >= 2 or "auto" (got 0)',
    ),
    ({"holdout_fraction": 1.5}, "`train.holdout_fraction`: Input should be less than 1 (got 1.5)"),
    (
        {"calibration": "isotonik"},
        "`train.calibration`: Input should be 'auto', 'none', 'isotonic' or 'platt' (got 'isotonik') "
        "(did you mean `isotonic`?)",
    ),
    ({"segments": "platform"}, "`train.segments`: Input should be a valid list (got 'platform')"),
    ({"segments": ["platform", 3]}, "`train.segments[1]`: Input should be a valid string (got 3)"),
    ({"bands": {"medium": 0.6, "high": 0.5}}, "`train.bands`: `medium` (0.6) must be below `high` (0.5)"),
    ({"top_fractions": [0.05, 2.0]}, "`train`: `top_fractions` must lie in (0, 1]; got [2.0]"),
    (
        {"lightgbm": {"extra": {"max_depth": [4]}}},
        "`train.lightgbm.extra.max_depth`: must be a number, a string or a boolean (got [4])",
    ),
    (
        {"lightgbm": {"extra": {"num_leaves": 9}}},
        "`train.lightgbm.extra`: ['num_leaves'] cannot be passed through `extra`",
    ),
    ({"lightgbm": {"extra": {"objective": "regression"}}}, "['objective'] cannot be passed through `extra`"),
]


@pytest.mark.parametrize(("table", "expected"), BAD_VALUES)
def test_bad_values_name_the_key_and_the_value(table: dict[str, object], expected: str) -> None:
    assert expected in _error(table)


def test_every_problem_is_reported_once() -> None:
    message = _error({"lightgbm": {"num_leaves": 0, "extra": {"a": [1]}}, "seed": "x"})
    assert message.count("; friction.toml: ") == 2  # three problems, one each (not one per union member)


def test_the_readmes_train_table_documents_the_defaults() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    documented = next(block for block in readme.split("```toml\n") if block.startswith("[train]"))
    table = tomllib.loads(documented.split("```")[0])["train"]
    assert train_config_from(table, "README.md") == TrainConfig()
    assert set(table) == set(TrainConfig.model_fields) - {"features"}  # every key but the commented one


def test_the_digest_follows_the_table() -> None:
    assert train_config_from({"seed": 1}).digest() != train_config_from({}).digest()
    assert train_config_from({"seed": 1}).digest() == TrainConfig(seed=1).digest()


def test_the_friction_toml_train_table_passes_through_load_config(world: SmallWorld, tmp_path: Path) -> None:
    path = _with_train_table(world, tmp_path, TRAIN_TABLE)
    assert train_config_from(load_config(path).train).lightgbm.num_leaves == 5


def test_cli_train_reads_the_train_table(world: SmallWorld, tmp_path: Path) -> None:
    config = _with_train_table(world, tmp_path, TRAIN_TABLE)
    features = tmp_path / "features.parquet"
    world.table.to_parquet(features, index=False)
    env = {"FRICTION_HOME": str(tmp_path / "store"), "MLFLOW_TRACKING_URI": ""}
    args = ["train", "--config", str(config), "--features", str(features), "--out", str(tmp_path / "model")]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    model = FrictionModel.load(tmp_path / "model")
    card = model.card
    assert card.training["config"] == train_config_from(load_config(config).train).model_dump(mode="json")
    assert (card.params["num_leaves"], card.params["max_depth"], card.params["seed"]) == (5, 4, 3)
    assert card.best_iteration <= 40
    assert (card.bands.medium, card.bands.high) == (0.1, 0.3)
    assert model.calibrator.kind == "platt"
    split = card.training["split"]
    assert split["holdout_sessions"] == pytest.approx(0.3 * split["labelled_sessions"], abs=1)
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert {s["segment"] for s in metrics["segments"]} == {"platform"}
    assert "precision_at_20pct" in metrics


def test_cli_train_refuses_a_bad_train_table_in_one_line_before_reading_features(
    world: SmallWorld,
    tmp_path: Path,
) -> None:
    config = _with_train_table(world, tmp_path, "\n[train.lightgbm]\nnum_leafs = 7\n")
    features = tmp_path / "features.parquet"
    features.write_text("not parquet: never read, the config fails first")
    args = ["train", "--config", str(config), "--features", str(features)]
    result = runner.invoke(
        app, args, env={"FRICTION_HOME": str(tmp_path / "store"), "MLFLOW_TRACKING_URI": ""}
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"friction train: error: {config}: unknown key `train.lightgbm.num_leafs` "
        "(did you mean `num_leaves`?); allowed here: bagging_fraction, bagging_freq, cat_smooth, extra, "
        "extra_trees, feature_fraction, lambda_l2, learning_rate, max_bin, min_child_samples, "
        "monotone_constraints_method, num_boost_round, num_leaves, num_threads"
    ]


def _label_dropped(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["label"])


def _nothing_labelled(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(label_known=False)


def _all_satisfied(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(label=table["label"].where(~table["label_known"], 0.0))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_label_dropped, "the feature table has no `label` column; training needs session_id, user_id, s"),
        (
            _nothing_labelled,
            "no labelled sessions: all 6,000 sessions have label_known = false; check the [label]",
        ),
        (_all_satisfied, "labelled sessions have label 0; a model needs both classes"),
    ],
)
def test_cli_train_names_what_is_wrong_with_the_labels_in_one_line(
    world: SmallWorld,
    tmp_path: Path,
    change: Callable[[pd.DataFrame], pd.DataFrame],
    expected: str,
) -> None:
    features = tmp_path / "features.parquet"
    change(world.table).to_parquet(features, index=False)
    args = ["train", "--config", str(world.paths["config"]), "--features", str(features)]
    result = runner.invoke(
        app, args, env={"FRICTION_HOME": str(tmp_path / "store"), "MLFLOW_TRACKING_URI": ""}
    )
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("friction train: error: ")
    assert expected in line
