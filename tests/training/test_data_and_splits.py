"""Labelled sessions and splits: clear errors; time-ordered splits, user-disjoint on request."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import SchemaError
from tests.training.conftest import world
from training.data import labelled_sessions, table_digest
from training.errors import TrainingDataError
from training.splits import backtest_blocks, split_labelled


def test_by_default_the_holdout_is_the_latest_sessions_and_nothing_is_dropped() -> None:
    table, _ = world(6_000, 11)
    rows = labelled_sessions(table)
    splits = split_labelled(rows, 0.2, 0.2)
    train, valid, holdout = splits.train, splits.valid, splits.holdout
    assert train["session_start"].max() <= valid["session_start"].min()
    assert valid["session_start"].max() <= holdout["session_start"].min()
    assert len(holdout) == int(np.ceil(0.2 * len(rows)))
    assert list(holdout["session_id"]) == list(rows.tail(len(holdout))["session_id"])
    # Returning customers keep their earlier sessions in training, as the served model knows them.
    assert set(train["user_id"]) & set(holdout["user_id"])
    assert len(train) + len(valid) + len(holdout) == len(rows)
    summary = splits.summary
    assert summary["dropped_sessions"] == 0
    assert summary["dropped"] == {}
    assert 0 < summary["holdout_returning_share"] <= 1
    assert summary["parts"]["holdout"]["sessions"] == len(holdout)
    assert summary["parts"]["train"]["dissatisfied"] == int(train["label"].sum())


def test_user_disjoint_holdout_drops_returning_users_and_says_why() -> None:
    table, _ = world(6_000, 11)
    rows = labelled_sessions(table)
    splits = split_labelled(rows, 0.2, 0.2, validation_user_disjoint=True, holdout_user_disjoint=True)
    train, valid, holdout = splits.train, splits.valid, splits.holdout
    assert not set(train["user_id"]) & set(holdout["user_id"])
    assert not set(valid["user_id"]) & set(holdout["user_id"])
    assert not set(train["user_id"]) & set(valid["user_id"])
    dropped = splits.summary["dropped"]
    assert set(dropped) == {"holdout_users_in_training_period", "validation_users_in_train"}
    assert splits.summary["dropped_sessions"] == sum(dropped.values()) > 0
    assert splits.summary["dropped_sessions"] == len(rows) - len(train) - len(valid) - len(holdout)


def test_by_default_validation_may_share_users_with_train() -> None:
    table, _ = world(6_000, 11)
    splits = split_labelled(labelled_sessions(table), 0.2, 0.2, holdout_user_disjoint=True)
    assert set(splits.train["user_id"]) & set(splits.valid["user_id"])
    assert not set(splits.train["user_id"]) & set(splits.holdout["user_id"])


def test_missing_user_ids_are_distinct_people() -> None:
    table, _ = world(2_000, 3)
    anonymous = table.assign(user_id=pd.array([None] * len(table), dtype="str"))
    splits = split_labelled(labelled_sessions(anonymous), 0.2, 0.2, holdout_user_disjoint=True)
    assert splits.summary["dropped_sessions"] == 0
    assert splits.summary["holdout_returning_share"] == 0


@pytest.mark.parametrize("folds", [1, 3, 4])
def test_backtest_folds_learn_only_from_the_past(folds: int) -> None:
    blocks = backtest_blocks(1_003, folds)
    assert len(blocks) == folds
    tested = np.concatenate([test for _, test in blocks])
    for past, test in blocks:
        assert past.max() < test.min()  # every test block lies after all it learnt from
        np.testing.assert_array_equal(past, np.arange(test.min()))
    np.testing.assert_array_equal(tested, np.arange(tested.min(), 1_003))  # contiguous, no overlap


def test_labelled_sessions_keeps_known_labels_sorted_by_start() -> None:
    table, _ = world(2_000, 3)
    shuffled = table.sample(frac=1.0, random_state=1)
    rows = labelled_sessions(shuffled)
    assert rows["label_known"].all()
    assert rows["session_start"].is_monotonic_increasing
    assert len(rows) == int(table["label_known"].sum())
    assert len(shuffled) == len(table)  # the input is untouched


def test_missing_label_column_is_named() -> None:
    table, _ = world(2_000, 3)
    with pytest.raises(SchemaError, match=r"no `label` column"):
        labelled_sessions(table.drop(columns=["label"]))


def test_misspelt_meta_column_gets_a_hint() -> None:
    table, _ = world(2_000, 3)
    with pytest.raises(SchemaError, match=r"did you mean `sessionstart`"):
        labelled_sessions(table.rename(columns={"session_start": "sessionstart"}))


def test_no_labelled_sessions_is_a_clear_error() -> None:
    table, _ = world(2_000, 3)
    unknown = table.assign(label=np.nan, label_known=False)
    with pytest.raises(TrainingDataError, match=r"no labelled sessions: all 2,000 sessions"):
        labelled_sessions(unknown)


def test_a_single_class_is_a_clear_error() -> None:
    table, _ = world(2_000, 3)
    happy = table.assign(label=np.where(table["label_known"], 0.0, np.nan))
    with pytest.raises(TrainingDataError, match=r"have label 0; a model needs both classes"):
        labelled_sessions(happy)


def test_labels_must_be_binary() -> None:
    table, _ = world(2_000, 3)
    scored = table.assign(label=np.where(table["label_known"], 3.0, np.nan))
    scored.loc[scored.index[0], ["label", "label_known"]] = [0.0, True]
    with pytest.raises(TrainingDataError, match=r"`label` must be 0 or 1; found \[3.0\]"):
        labelled_sessions(scored)


def test_too_few_sessions_per_class_names_the_split() -> None:
    table, _ = world(2_000, 3)
    with pytest.raises(TrainingDataError, match=r"the holdout split has .* each split needs at least 30"):
        split_labelled(labelled_sessions(table), 0.05, 0.2, min_per_class=30)


def test_table_digest_changes_with_any_value() -> None:
    table, _ = world(2_000, 3)
    changed = table.copy()
    changed.loc[changed.index[-1], "payment__errors"] += 1.0
    assert table_digest(table) == table_digest(table.copy())
    assert table_digest(table) != table_digest(changed)
