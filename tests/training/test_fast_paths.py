"""The shortcuts that keep the work around LightGBM's fit small give the reference answers:
split matrices equal `FeatureManifest.matrix`, the holdout frame equals `iloc`, one-sort
ranking metrics equal scikit-learn's, the block-per-column read equals pandas' default read,
the oracle by position equals the lookup by id, the file digest is `sha256sum`'s."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from features.digests import file_sha256
from models.errors import FeatureMismatchError
from models.manifest import FeatureManifest, feature_columns
from tests.training.conftest import world
from training.baselines import oracle_scores
from training.data import labelled_order, read_feature_table
from training.design import design_parts, rows_frame
from training.evaluate import Scorer, evaluate
from training.metrics import binary_metrics, descending, ranking_scores


def _mixed_table(rng: np.random.Generator, n: int) -> pd.DataFrame:
    table, _ = world(2_000, 3)
    table = table.head(n).copy()
    table["flag"] = rng.random(n) < 0.3  # bool feature
    table["count"] = pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(0, 9, n)), dtype="Int64")
    table["platform"] = table["platform"].astype("category")  # category and str context columns
    table.loc[table.index[:5], "acquisition_channel"] = None
    return table


def test_split_matrices_are_rows_of_the_manifest_matrix(rng: np.random.Generator) -> None:
    table = _mixed_table(rng, 1_500)
    manifest = FeatureManifest.from_table(table.iloc[:1_000], feature_columns(table))
    # Scoring rows with unseen categories (new levels become missing codes) is covered too.
    table.loc[table.index[-3:], "customer_type"] = "unseen"
    parts = [np.sort(rng.choice(len(table), size, replace=False)) for size in (700, 300, 1)]
    reference = manifest.matrix(table)
    for part, got in zip(parts, design_parts(manifest, table, parts), strict=True):
        assert got.flags.f_contiguous
        np.testing.assert_array_equal(got, reference[part])  # NaN-aware, exact


def test_split_matrices_refuse_a_table_the_manifest_does_not_fit(rng: np.random.Generator) -> None:
    table = _mixed_table(rng, 200)
    manifest = FeatureManifest.from_table(table, feature_columns(table))
    with pytest.raises(FeatureMismatchError, match="lacks 1 feature column"):
        design_parts(manifest, table.drop(columns=["flag"]), [np.arange(10)])


@pytest.mark.parametrize("decimals", [None, 2, 0])  # continuous, many ties, two values
def test_one_sort_ranking_scores_equal_scikit_learns(rng: np.random.Generator, decimals: int | None) -> None:
    y = (rng.random(5_000) < 0.15).astype(np.float64)
    score = rng.random(5_000) + 0.4 * y
    if decimals is not None:
        score = np.round(score, decimals)
    order = descending(score)
    roc_auc, pr_auc = ranking_scores(y[order], score[order])
    assert roc_auc == pytest.approx(roc_auc_score(y, score), rel=1e-12)
    assert pr_auc == pytest.approx(average_precision_score(y, score), rel=1e-12)


def test_segment_metrics_reuse_the_sort_and_still_equal_scikit_learns(rng: np.random.Generator) -> None:
    n = 3_000
    y = (rng.random(n) < 0.2).astype(np.float64)
    holdout = pd.DataFrame({"label": y, "platform": rng.choice(["web", "ios", "android"], n)})
    coarse = np.round(rng.random(n) + 0.3 * y, 1)
    coarse[rng.random(n) < 0.1] = np.nan  # a scorer that misses some sessions (the oracle)
    scorers = {"model": Scorer(np.clip(rng.random(n) * 0.5 + 0.3 * y, 0, 1)), "rule": Scorer(coarse, False)}
    segments = evaluate(holdout, scorers, ["platform"]).segments
    for row in segments.to_dict("records"):
        scores = scorers[row["scorer"]].scores
        keep = (holdout["platform"] == row["value"]).to_numpy() & np.isfinite(scores)
        assert row["sessions"] == keep.sum()
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y[keep], scores[keep]), rel=1e-12)
        assert row["pr_auc"] == pytest.approx(average_precision_score(y[keep], scores[keep]), rel=1e-12)
        alone = binary_metrics(y[keep], scores[keep], scorers[row["scorer"]].probability)
        assert {k: row[k] for k in alone} == pytest.approx(alone, nan_ok=True)


def test_a_single_class_has_undefined_ranking_scores() -> None:
    metrics = binary_metrics(np.zeros(4), np.array([0.1, 0.2, 0.3, 0.4]))
    assert np.isnan(metrics["roc_auc"])
    assert np.isnan(metrics["pr_auc"])


@pytest.mark.parametrize("distinct_starts", [3, 300, 1_000_000])  # all tied .. hardly any ties
def test_labelled_order_is_by_start_then_session_id(rng: np.random.Generator, distinct_starts: int) -> None:
    n = 2_000
    start = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, distinct_starts, n), "s")
    table = pd.DataFrame(
        {
            "session_id": pd.array([f"s{i}" for i in rng.permutation(n)], dtype="str"),
            "user_id": pd.array(rng.integers(0, 50, n).astype(str), dtype="str"),
            "session_start": start,
            "label": rng.integers(0, 2, n).astype(np.float64),
            "label_known": rng.random(n) < 0.7,
        }
    )
    known = table[table["label_known"]]
    reference = known.sort_values(["session_start", "session_id"], kind="stable").index.to_numpy()
    np.testing.assert_array_equal(labelled_order(table), reference)


def test_the_feature_table_reads_as_pandas_default_read(tmp_path: Path) -> None:
    table, _ = world(2_000, 3)
    table = table.assign(platform=table["platform"].astype("category"))
    path = tmp_path / "features.parquet"
    table.to_parquet(path, index=False)
    for columnar in (False, True):
        got = read_feature_table(path, columnar=columnar)
        pd.testing.assert_frame_equal(got, pd.read_parquet(path))
        pd.testing.assert_frame_equal(got, table)


def test_the_holdout_frame_shares_the_matrix_and_equals_iloc(rng: np.random.Generator) -> None:
    table = _mixed_table(rng, 1_000)
    manifest = FeatureManifest.from_table(table, feature_columns(table))
    at = np.sort(rng.choice(len(table), 300, replace=False))
    [matrix] = design_parts(manifest, table, [at])
    frame = rows_frame(table, at, manifest, matrix)
    pd.testing.assert_frame_equal(frame, table.iloc[at], check_exact=True)
    assert np.shares_memory(frame["payment__errors"].to_numpy(), matrix)  # float64: not copied again
    assert not np.shares_memory(frame["count"].to_numpy(dtype=np.float64, na_value=np.nan), matrix)


def test_the_oracle_reads_aligned_truth_by_position_and_other_truth_by_id() -> None:
    table, truth = world(2_000, 3)
    rows = np.array([4, 0, 7])
    aligned = oracle_scores(table, truth, rows)  # the simulator's order: no lookup
    np.testing.assert_array_equal(aligned, truth["p_true"].to_numpy()[rows])
    repeated = pd.concat([truth.iloc[::-1], truth.assign(p_true=-1.0)])  # shuffled, ids twice
    np.testing.assert_array_equal(oracle_scores(table, repeated, rows), aligned)  # the first row counts
    np.testing.assert_array_equal(oracle_scores(table.iloc[rows], repeated), aligned)


def test_a_feature_tables_digest_is_its_files_sha256(tmp_path: Path) -> None:
    table, _ = world(500, 3)
    path = tmp_path / "features.parquet"
    table.to_parquet(path, index=False)
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    folder = tmp_path / "parts"
    folder.mkdir()
    table.iloc[:200].to_parquet(folder / "part-0.parquet")
    table.iloc[200:].to_parquet(folder / "part-1.parquet")
    digest = file_sha256(folder)
    (folder / "part-1.parquet").rename(folder / "part-2.parquet")
    assert file_sha256(folder) != digest  # the parts' names count, not only their bytes
