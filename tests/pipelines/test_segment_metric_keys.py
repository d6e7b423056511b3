"""Item 24 of issue 20: segment values come from the data (a referrer URL as the acquisition
channel); logged to MLflow they must become valid, distinct metric keys, with the raw values
in an artifact table, instead of crashing `train` after the fit."""

from __future__ import annotations

import secrets
from pathlib import Path

import pandas as pd
import pytest

from tests.mlflow_servers import MlflowServer, mlflow_sqlite_server  # noqa: F401
from training.config import LightGBMParams, TrainConfig
from training.flow import train_and_track
from training.synthetic import synthetic_feature_table
from training.tracking import TrackingSettings

pytestmark = pytest.mark.slow

# Values a spreadsheet-exported referrer column holds; the last two differ only where a
# slug would make them equal.
HOSTILE = ["https://t.co/ref", "../../etc", "a b", "a_b"]


def test_segment_values_from_the_data_become_distinct_valid_keys(
    mlflow_sqlite_server: MlflowServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    from mlflow import MlflowClient

    table, truth = synthetic_feature_table(3_000, seed=8)
    channel = table["acquisition_channel"].astype(object).to_numpy().copy()
    every = 2 * len(HOSTILE)  # half the sessions, spread over time (the holdout is the latest)
    for i, value in enumerate(HOSTILE):
        channel[i::every] = value
    table = table.assign(acquisition_channel=pd.array(channel, dtype="str"))
    lightgbm = LightGBMParams(learning_rate=0.1, num_leaves=15, min_child_samples=20, num_threads=1)
    config = TrainConfig(lightgbm=lightgbm, early_stopping_rounds=20, segments=["acquisition_channel"])
    settings = TrackingSettings(
        tracking_uri=mlflow_sqlite_server.uri, experiment=f"friction-keys-{secrets.token_hex(4)}"
    )
    outcome = train_and_track(table, config, settings, truth=truth)
    assert outcome.run_id is not None
    client = MlflowClient(tracking_uri=settings.uri())
    run = client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    keys = pd.read_csv(
        client.download_artifacts(outcome.run_id, "evaluation/segment_keys.csv", str(tmp_path))
    )
    by_value = dict(zip(keys["value"], keys["metric_key_prefix"], strict=True))
    assert set(HOSTILE) <= set(by_value)
    assert len(set(by_value.values())) == len(by_value)  # collision-free: "a b" and "a_b" differ
    assert by_value["a_b"] == "segment.acquisition_channel.a_b"  # plain values stay readable
    for value in HOSTILE:
        assert f"{by_value[value]}.roc_auc" in run.data.metrics, value
    assert "//" not in " ".join(run.data.metrics)
