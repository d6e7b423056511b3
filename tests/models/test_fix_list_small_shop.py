"""On the small-shop profile (3,000 sessions, core columns only, a three-week payment incident),
trained with the config it ships, the incident's touchpoint heads the report's fix list."""

from __future__ import annotations

from pathlib import Path

from features.config import load_config
from features.featurize import Featurizer
from models.artifact import FrictionModel
from models.report import ReportConfig, build_report
from pipelines.simulator import PROFILES, simulate, write_world
from training.config import train_config_from
from training.flow import train_and_track


def test_the_incident_touchpoint_heads_the_fix_list(tmp_path: Path) -> None:
    world = simulate(profile="small-shop", seed=11)
    config = load_config(write_world(world, tmp_path)["config"])
    featurizer = Featurizer(config)
    table = featurizer(world.events).frame
    train_and_track(
        table,
        train_config_from(config.train),
        out=tmp_path / "model",
        track=False,
        catalog=featurizer.catalog(list(world.events.columns)).to_records(),
        featurizer_config=config,
    )
    model = FrictionModel.load(tmp_path / "model")
    report = build_report(model, table, None, ReportConfig(plot_sample=200, dependence_features=0))
    moments = report.tables["moments"]
    incident = PROFILES["small-shop"].incident.touchpoint
    assert report.top_moments(1) == [incident], moments.head(3).to_string()
    first, second = moments["avoided"].iloc[:2]
    assert moments["avoided_low"].iloc[0] > second  # ahead beyond its own uncertainty
    assert first > 0
