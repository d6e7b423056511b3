"""`FrictionModel` as files: identical round trip, hashes checked before parsing, no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.config import parse_config
from features.errors import FrictionError
from models.artifact import ARTIFACT_FILES, BASE_VALUE, HASHES_FILE, FrictionModel
from models.card import RiskBands
from models.errors import FeatureMismatchError, ModelIntegrityError


@pytest.fixture
def saved(model: FrictionModel, tmp_path: Path) -> Path:
    return model.save(tmp_path / "model")


def test_save_load_predict_is_identical(model: FrictionModel, saved: Path, scored_rows: pd.DataFrame) -> None:
    loaded = FrictionModel.load(saved)
    np.testing.assert_array_equal(loaded.predict_proba(scored_rows), model.predict_proba(scored_rows))
    np.testing.assert_array_equal(loaded.predict_raw(scored_rows), model.predict_raw(scored_rows))
    pd.testing.assert_frame_equal(loaded.contributions(scored_rows), model.contributions(scored_rows))
    assert loaded.manifest == model.manifest
    assert loaded.calibrator == model.calibrator
    assert loaded.card == model.card
    assert loaded.metrics["roc_auc"] == model.metrics["roc_auc"]


def test_saving_twice_gives_the_same_bytes(model: FrictionModel, saved: Path, tmp_path: Path) -> None:
    again = FrictionModel.load(saved).save(tmp_path / "again")
    for name in (*ARTIFACT_FILES, HASHES_FILE):
        assert (again / name).read_bytes() == (saved / name).read_bytes(), name


def test_the_directory_is_plain_text_files(saved: Path) -> None:
    assert sorted(p.name for p in saved.iterdir()) == sorted([*ARTIFACT_FILES, HASHES_FILE])
    for path in saved.iterdir():
        text = path.read_bytes().decode("utf-8")  # pickles are binary and would not decode
        if path.suffix == ".json":
            json.loads(text)
    assert (saved / "model.txt").read_text().startswith("tree\n")
    recorded = json.loads((saved / HASHES_FILE).read_text())
    assert recorded["algorithm"] == "sha256"
    assert sorted(recorded["files"]) == sorted(ARTIFACT_FILES)


def test_contributions_add_up_to_the_raw_score(model: FrictionModel, scored_rows: pd.DataFrame) -> None:
    contributions = model.contributions(scored_rows)
    assert list(contributions.columns) == [*model.manifest.names, BASE_VALUE]
    np.testing.assert_allclose(contributions.sum(axis=1), model.predict_raw(scored_rows), atol=1e-9)
    assert contributions.index.equals(scored_rows.index)


@pytest.mark.parametrize("name", [*ARTIFACT_FILES])
def test_a_changed_file_refuses_to_load(saved: Path, name: str) -> None:
    path = saved / name
    path.write_bytes(path.read_bytes().replace(b"\n", b"\n ", 1))
    with pytest.raises(ModelIntegrityError, match=rf"{name} differs from its sha256 in MANIFEST.json"):
        FrictionModel.load(saved)


def test_a_missing_file_refuses_to_load(saved: Path) -> None:
    (saved / "calibrator.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"missing file\(s\) calibrator.json"):
        FrictionModel.load(saved)


def test_an_extra_file_refuses_to_load(saved: Path) -> None:
    (saved / "model.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelIntegrityError, match=r"unexpected file model.pkl in the model folder"):
        FrictionModel.load(saved)


def test_a_missing_or_broken_hash_manifest_refuses_to_load(saved: Path) -> None:
    manifest = saved / HASHES_FILE
    manifest.write_text("{not json")
    with pytest.raises(ModelIntegrityError, match=r"MANIFEST\.json is not valid JSON"):
        FrictionModel.load(saved)
    manifest.unlink()
    with pytest.raises(ModelIntegrityError, match=r"MANIFEST\.json is missing"):
        FrictionModel.load(saved)


def test_a_consistently_rehashed_but_broken_file_is_still_refused(saved: Path) -> None:
    import hashlib

    (saved / "features.json").write_text('{"features": "nope"}')
    recorded = json.loads((saved / HASHES_FILE).read_text())
    recorded["files"]["features.json"] = hashlib.sha256((saved / "features.json").read_bytes()).hexdigest()
    (saved / HASHES_FILE).write_text(json.dumps(recorded))
    with pytest.raises(ModelIntegrityError, match="a model file does not parse"):
        FrictionModel.load(saved)


def test_save_replaces_a_model_but_not_other_folders(
    model: FrictionModel, saved: Path, tmp_path: Path
) -> None:
    assert FrictionModel.load(model.save(saved)).manifest == model.manifest
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(FrictionError, match=r"refusing to overwrite .*precious"):
        model.save(precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_missing_features_are_named(model: FrictionModel, scored_rows: pd.DataFrame) -> None:
    with pytest.raises(
        FeatureMismatchError, match=r"lacks 2 feature column\(s\).*`platform`, `cart__errors`"
    ):
        model.predict_proba(scored_rows.drop(columns=["cart__errors", "platform"]))


def test_a_text_value_in_a_numeric_feature_is_refused(
    model: FrictionModel, scored_rows: pd.DataFrame
) -> None:
    broken = scored_rows.assign(payment__errors=scored_rows["payment__errors"].astype("str"))
    with pytest.raises(FeatureMismatchError, match=r"`payment__errors` must be numeric, got dtype str"):
        model.predict_proba(broken)


def test_unseen_and_missing_categories_score_as_missing(
    model: FrictionModel, scored_rows: pd.DataFrame
) -> None:
    rows = scored_rows.head(50)
    unseen = rows.assign(platform="smart-fridge")
    missing = rows.assign(platform=pd.array([None] * len(rows), dtype="str"))
    np.testing.assert_array_equal(model.predict_proba(unseen), model.predict_proba(missing))
    as_category = rows.assign(platform=rows["platform"].astype("category"))
    np.testing.assert_array_equal(model.predict_proba(as_category), model.predict_proba(rows))


def test_bands_split_calibrated_risk(model: FrictionModel) -> None:
    bands = model.band(np.array([0.0, 0.19, 0.2, 0.49, 0.5, 1.0]))
    assert list(bands) == ["low", "low", "medium", "medium", "high", "high"]
    with pytest.raises(ValueError, match=r"`medium` \(0.6\) must be below `high` \(0.5\)"):
        RiskBands(medium=0.6, high=0.5)


def test_the_catalog_travels_with_the_manifest(scored_rows: pd.DataFrame, tmp_path: Path) -> None:
    from models.manifest import FeatureManifest

    records = [
        {
            "name": "payment__errors",
            "touchpoint": "payment",
            "meaning": "errors shown at payment",
            "unit": "count",
        },
        {"name": "not_a_feature", "touchpoint": None, "meaning": "ignored", "unit": "count"},
    ]
    manifest = FeatureManifest.from_table(scored_rows, catalog=records)
    assert manifest.catalog == {"payment__errors": records[0]}
    by_name = FeatureManifest.from_table(scored_rows, catalog={"cart__errors": {"unit": "count"}})
    assert by_name.catalog == {"cart__errors": {"unit": "count"}}
    assert FeatureManifest.model_validate_json(manifest.model_dump_json()) == manifest


def test_a_model_without_featurizer_config_says_how_to_score(model: FrictionModel, saved: Path) -> None:
    loaded = FrictionModel.load(saved)
    assert loaded.featurizer_config is None
    with pytest.raises(FrictionError, match=r"carries no featurizer config.*score a feature table"):
        loaded.featurizer()


def test_the_featurizer_config_travels_with_the_model_self_contained(
    model: FrictionModel, tmp_path: Path
) -> None:
    taxonomy = tmp_path / "shop.toml"
    taxonomy.write_text('funnel = ["shop"]\nrules = [{touchpoint = "shop", event = "view_item"}]\n')
    config = parse_config({"touchpoints": {"taxonomy": str(taxonomy), "funnel": ["shop"]}})
    saved = model.with_featurizer(config).save(tmp_path / "model")
    taxonomy.unlink()  # the model must not need the file any more
    loaded = FrictionModel.load(saved)
    assert loaded.featurizer_config is not None
    assert loaded.featurizer_config.touchpoints.inline
    assert loaded.featurizer().taxonomy_.touchpoints == ("shop", "other")
    assert loaded.featurizer() is loaded.featurizer()  # compiled once per model


def test_from_files_verifies_the_bytes_it_is_given(model: FrictionModel, scored_rows: pd.DataFrame) -> None:
    files = model.signed_files()
    rebuilt = FrictionModel.from_files(files)
    np.testing.assert_array_equal(rebuilt.predict_raw(scored_rows), model.predict_raw(scored_rows))
    tampered = files | {"calibrator.json": files["calibrator.json"].replace(b"{", b"{ ", 1)}
    with pytest.raises(ModelIntegrityError, match=r"executor: calibrator.json differs from its sha256"):
        FrictionModel.from_files(tampered, source="executor")
    unsigned = {name: data for name, data in files.items() if name != HASHES_FILE}
    with pytest.raises(ModelIntegrityError, match=r"MANIFEST\.json is missing"):
        FrictionModel.from_files(unsigned)
