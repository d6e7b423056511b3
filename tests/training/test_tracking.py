"""MLflow: runs, registry, aliases, the gate and `models:/NAME@champion`, against real
`mlflow server` processes (SQLite and PostgreSQL backends) and the embedded SQLite store."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.artifact import ARTIFACT_FILES, HASHES_FILE
from tests.mlflow_servers import MlflowServer
from tests.training.conftest import fast_config, world
from training.config import GateConfig, TrainConfig
from training.errors import RegistryError
from training.flow import train_and_track
from training.tracking import CHAMPION, TrackingSettings, load_model, promote, register

pytestmark = pytest.mark.slow

WEAK = ["browse__dwell_s", "acquisition_channel", "platform"]


def _unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@pytest.fixture
def settings(mlflow_server: MlflowServer) -> TrackingSettings:
    return TrackingSettings(tracking_uri=mlflow_server.uri, experiment=_unique("friction-test"))


def _client(settings: TrackingSettings):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.uri(), registry_uri=settings.uri())


def test_settings_default_to_a_project_local_sqlite_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    embedded = TrackingSettings(home=tmp_path / ".friction")
    assert embedded.uri() == f"sqlite:///{tmp_path / '.friction' / 'mlflow.db'}"
    assert embedded.artifact_root() == (tmp_path / ".friction" / "mlartifacts").as_uri()
    assert not (tmp_path / ".friction").exists()  # nothing is created until a store is used
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    configured = TrackingSettings(home=tmp_path / ".friction")
    assert configured.uri() == "http://127.0.0.1:5999"
    assert configured.artifact_root() is None


def test_a_run_records_params_metrics_inputs_artifacts_and_tags(
    settings: TrackingSettings, tmp_path: Path
) -> None:
    table, truth = world(3_000, 8)
    features_path = tmp_path / "features.parquet"
    table.to_parquet(features_path)
    config = fast_config()
    outcome = train_and_track(table, config, settings, truth=truth, features_path=features_path)
    run = _client(settings).get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["holdout_fraction"] == "0.2"
    assert run.data.params["lightgbm.learning_rate"] == "0.1"
    assert run.data.params["booster.objective"] == "binary"
    metrics = run.data.metrics
    for key in (
        "roc_auc",
        "pr_auc",
        "brier",
        "ece",
        "rule_baseline_roc_auc",
        "logreg_roc_auc",
        "oracle_roc_auc",
    ):
        assert metrics[key] == pytest.approx(outcome.result.model.metrics[key]), key
    assert "segment.platform.android.roc_auc" in metrics
    assert metrics["time.lightgbm_fit_s"] > 0
    tags = run.data.tags
    assert tags["friction.config_sha256"] == config.digest()
    # Trained from a file: the data is named by the file's own sha256 (what `sha256sum` says).
    file_digest = hashlib.sha256(features_path.read_bytes()).hexdigest()
    assert tags["friction.features_sha256"] == outcome.result.table_digest == file_digest
    assert outcome.result.model.card.training["features_sha256_of"] == "file"
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert inputs["features"].dataset.digest == file_digest[:32]
    assert str(features_path) in inputs["features"].dataset.source
    assert {t.key: t.value for t in inputs["holdout"].tags}["mlflow.data.context"] == "holdout"
    client = _client(settings)
    listed = {
        a.path
        for folder in ("model", "plots", "evaluation")
        for a in client.list_artifacts(run.info.run_id, folder)
    }
    assert {f"model/{name}" for name in (*ARTIFACT_FILES, HASHES_FILE)} <= listed
    assert {"plots/roc.png", "plots/calibration.png", "plots/precision_recall.png"} <= listed
    assert {"evaluation/holdout.parquet", "evaluation/feature_importance.csv"} <= listed
    holdout = Path(client.download_artifacts(run.info.run_id, "evaluation/holdout.parquet", str(tmp_path)))
    assert inputs["holdout"].dataset.digest == hashlib.sha256(holdout.read_bytes()).hexdigest()[:32]
    loaded = load_model(f"runs:/{outcome.run_id}/model", settings)
    np.testing.assert_array_equal(loaded.predict_proba(table), outcome.result.model.predict_proba(table))


def test_register_promote_through_the_gate_and_load_the_champion(settings: TrackingSettings) -> None:
    table, _ = world(10_000, 11)
    name = _unique("friction")
    weak = train_and_track(table, fast_config(features=WEAK), settings, register_as=name, promote_after=True)
    assert weak.version == 1
    assert weak.promotion is not None
    assert weak.promotion.promoted
    assert weak.promotion.champion == 1

    strong = train_and_track(table, fast_config(), settings, register_as=name, promote_after=True)
    assert strong.promotion is not None
    assert strong.promotion.promoted, strong.promotion.reason
    assert strong.promotion.previous_champion == 1
    assert "is now champion" in strong.promotion.message()

    worse = train_and_track(table, fast_config(features=WEAK), settings, register_as=name)
    decision = promote(name, settings)
    assert not decision.promoted
    assert decision.champion == 2
    assert "the champion stays" in decision.reason
    assert f"{CHAMPION} stays v2" in decision.message()

    client = _client(settings)
    assert client.get_model_version_by_alias(name, CHAMPION).version == "2"
    assert "the champion stays" in client.get_model_version(name, "3").tags["friction.gate"]
    champion = load_model(f"models:/{name}@{CHAMPION}", settings)
    np.testing.assert_array_equal(champion.predict_proba(table), strong.result.model.predict_proba(table))
    first = load_model(f"models:/{name}/1", settings)
    assert first.manifest.names == WEAK
    assert load_model(f"models:/{name}/latest", settings).manifest == worse.result.model.manifest
    # The margin decides: with none, the worse model is still refused; forcing overrides.
    assert not promote(name, settings, GateConfig(margin=0.0)).promoted
    forced = promote(name, settings, force=True)
    assert forced.promoted
    assert forced.reason.endswith("forced")
    assert promote(name, settings).reason == "already the champion"


def test_registry_errors_name_what_is_missing(settings: TrackingSettings) -> None:
    with pytest.raises(RegistryError, match=r"registered model `nobody-.*` has no versions"):
        promote(_unique("nobody"), settings)
    with pytest.raises(RegistryError, match=r"`models:/nobody@champion` does not resolve"):
        load_model("models:/nobody@champion", settings)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # SQLAlchemy deprecations inside MLflow's store
def test_embedded_store_runs_registers_and_serves_the_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = TrackingSettings(home=tmp_path / ".friction")
    table, _ = world(3_000, 8)
    outcome = train_and_track(
        table, fast_config(), settings, out=tmp_path / "model", register_as="friction", promote_after=True
    )
    assert (tmp_path / ".friction" / "mlflow.db").is_file()
    assert any((tmp_path / ".friction" / "mlartifacts").rglob("model.txt"))
    assert outcome.version == 1
    assert outcome.promotion is not None
    assert outcome.promotion.promoted
    champion = load_model("models:/friction@champion", settings)
    local = load_model(tmp_path / "model")
    np.testing.assert_array_equal(champion.predict_proba(table), local.predict_proba(table))
    assert register(outcome.run_id or "", "friction", settings) == 2


def test_registering_needs_tracking() -> None:
    table, _ = world(3_000, 8)
    with pytest.raises(ValueError, match="needs tracking"):
        train_and_track(table, TrainConfig(), track=False, register_as="x")


def test_train_and_track_without_tracking_only_saves(tmp_path: Path) -> None:
    table, _ = world(3_000, 8)
    outcome = train_and_track(table, fast_config(), track=False, out=tmp_path / "m")
    assert outcome.run_id is None
    assert outcome.model_dir == tmp_path / "m"
    assert isinstance(load_model(tmp_path / "m").predict_proba(pd.DataFrame(table)), np.ndarray)
