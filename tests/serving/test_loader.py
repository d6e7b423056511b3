"""Model loading: playbook, MLflow switches, hot reload (directory and registry alias), and
versions that must never serve."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from features.errors import ConfigError
from models.artifact import FrictionModel
from models.registry import MLFLOW_SAFE_ENVIRONMENT
from serving.app import create_app
from serving.errors import ModelLoadError
from serving.heap import SERVING_THRESHOLDS, thaw_heap
from serving.loader import ModelHolder, load_served, resolve
from serving.metrics import Metrics
from serving.playbook import load_playbook
from serving.served import ServedModel
from tests.serving.apps import http_client, make_settings
from tests.worlds import SmallWorld, TrainedWorld

pytestmark = pytest.mark.anyio

PLAYBOOK = {"payment": "offer_alternative_payment", "rage_clicks": "open_chat"}


@pytest.fixture(scope="module")
def playbook_model(world: SmallWorld, world_model: TrainedWorld) -> FrictionModel:
    return world_model.model.with_featurizer(world.config.model_copy(update={"playbook": PLAYBOOK}))


@pytest.fixture
def model_dir(world_model: TrainedWorld, tmp_path: Path) -> Path:
    return world_model.model.save(tmp_path / "served")


@pytest.fixture
def failures() -> Iterator[list[logging.LogRecord]]:
    """Error records of the serving logger (it does not propagate to the root)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.ERROR)
    logger = logging.getLogger("friction.serving")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def _count(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


# -- playbook ------------------------------------------------------------------------------------


def test_playbook_from_the_model_and_its_precedence(playbook_model: FrictionModel) -> None:
    book = load_playbook(playbook_model)
    assert book.actions == PLAYBOOK
    assert book.action("payment", "rage_clicks") == "offer_alternative_payment"  # touchpoint first
    assert book.action("cart", "rage_clicks") == "open_chat"
    assert book.action("cart", "errors") is None
    assert book.action(None, "duration_s") is None


def test_playbook_file_replaces_the_models(playbook_model: FrictionModel, tmp_path: Path) -> None:
    path = tmp_path / "friction.toml"
    path.write_text('[playbook]\ncart = "fix_cart"\ndead_clicks = "open_chat"\n')
    assert load_playbook(playbook_model, path).actions == {"cart": "fix_cart", "dead_clicks": "open_chat"}


def test_unknown_playbook_key_is_a_startup_error(playbook_model: FrictionModel, tmp_path: Path) -> None:
    path = tmp_path / "friction.toml"
    path.write_text('[playbook]\npaymnet = "offer_alternative_payment"\n')
    with pytest.raises(
        ConfigError, match=r"`paymnet` is neither a touchpoint nor a signal family .*did you mean `payment`"
    ):
        load_playbook(playbook_model, path)
    directory = playbook_model.save(tmp_path / "model")
    with pytest.raises(ModelLoadError, match="paymnet"):
        load_served(str(directory), path)


async def test_drivers_carry_the_playbook_action(
    playbook_model: FrictionModel, world: SmallWorld, tmp_path: Path
) -> None:
    from tests.serving.bodies import score_body

    directory = playbook_model.save(tmp_path / "model")
    app = create_app(make_settings(str(directory)))
    table = world.table
    sid = str(table.loc[table["payment__errors"] > 1, "session_id"].iloc[0])
    body = score_body(world.world.events, sid, tuple(world.config.events.context_columns()))
    async with app.router.lifespan_context(app), http_client(app) as client:
        drivers = (await client.post("/v1/score", json=body | {"top": 6})).json()["drivers"]
        info = (await client.get("/v1/model")).json()
    assert info["playbook"] == PLAYBOOK
    for driver in drivers:
        expected = "offer_alternative_payment" if driver["touchpoint"] == "payment" else None
        if expected is None and driver["family"] == "rage_clicks":
            expected = "open_chat"
        assert driver["action"] == expected, driver
    assert any(d["action"] == "offer_alternative_payment" for d in drivers)


# -- loading -------------------------------------------------------------------------------------


def test_app_turns_mlflow_unsafe_switches_off(
    world_model: TrainedWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in MLFLOW_SAFE_ENVIRONMENT:
        monkeypatch.setenv(key, "true")
    create_app(make_settings(str(world_model.path)))
    assert {key: os.environ[key] for key in MLFLOW_SAFE_ENVIRONMENT} == {
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        "MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS": "false",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


def test_a_model_without_featurizer_never_serves(world_model: TrainedWorld, tmp_path: Path) -> None:
    bare = dataclasses.replace(world_model.model, featurizer_config=None).save(tmp_path / "bare")
    with pytest.raises(ModelLoadError, match="carries no featurizer config"):
        load_served(str(bare), None)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model directory .*nowhere: cannot read MANIFEST.json"):
        load_served(str(tmp_path / "nowhere"), None)


async def test_startup_fails_when_the_model_cannot_serve(tmp_path: Path) -> None:
    app = create_app(make_settings(str(tmp_path / "nowhere")))
    with pytest.raises(ModelLoadError):
        async with app.router.lifespan_context(app):
            pass


async def test_a_serving_worker_freezes_its_heap(world_model: TrainedWorld, served: ServedModel) -> None:
    app = create_app(make_settings(str(world_model.path), freeze_heap=True))
    app.state.holder.set(served)
    before = gc.get_threshold()
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 10_000  # the model, the featurizer, the libraries
        assert gc.get_threshold() == SERVING_THRESHOLDS  # young objects collected less often
    assert gc.get_freeze_count() == 0  # handed back on shutdown
    assert gc.get_threshold() == before


def test_a_swapped_in_model_is_frozen_too(model_dir: Path) -> None:
    holder = ModelHolder(str(model_dir), None, Metrics(), freeze_heap=True)
    try:
        assert holder.refresh()
        assert gc.get_freeze_count() > 10_000
    finally:
        thaw_heap()


# -- hot reload ------------------------------------------------------------------------------------


def test_reload_swaps_in_a_new_version_whole(model_dir: Path, playbook_model: FrictionModel) -> None:
    metrics = Metrics()
    holder = ModelHolder(str(model_dir), None, metrics)
    assert holder.refresh()
    first = holder.current
    assert first is not None
    assert not holder.refresh()  # same version: nothing to do
    assert holder.current is first
    playbook_model.save(model_dir)  # a new version, replacing the directory atomically
    assert holder.refresh()
    second = holder.current
    assert second is not None
    assert second.version != first.version
    assert second.version == resolve(str(model_dir)).version
    assert second.playbook.actions == PLAYBOOK
    assert _count(metrics, "friction_model_reloads_total") == 2.0
    assert (
        metrics.registry.get_sample_value(
            "friction_model_info", {"name": "served", "version": second.version}
        )
        == 1
    )
    assert (
        metrics.registry.get_sample_value("friction_model_info", {"name": "served", "version": first.version})
        is None
    )


def test_a_broken_version_never_serves_and_is_counted(
    model_dir: Path, playbook_model: FrictionModel, failures: list[logging.LogRecord]
) -> None:
    metrics = Metrics()
    holder = ModelHolder(str(model_dir), None, metrics)
    holder.refresh()
    good = holder.current
    playbook_model.save(model_dir)  # a new version...
    (model_dir / "metrics.json").write_text('{"tampered": true}\n')  # ...whose file fails its hash
    assert not holder.refresh()
    assert holder.current is good
    assert _count(metrics, "friction_model_reload_failures_total") == 1.0
    [record] = failures
    fields = record.fields  # type: ignore[attr-defined]
    assert "metrics.json differs from its sha256" in fields["reason"]


async def test_the_poller_reloads_while_serving(model_dir: Path, playbook_model: FrictionModel) -> None:
    app = create_app(make_settings(str(model_dir), reload_interval_s=0.1))
    async with app.router.lifespan_context(app), http_client(app) as client:
        before = (await client.get("/readyz")).json()["model"]["version"]
        playbook_model.save(model_dir)
        after = before
        for _ in range(100):  # bounded: 10 s at most
            await asyncio.sleep(0.1)
            after = (await client.get("/readyz")).json()["model"]["version"]
            if after != before:
                break
        assert after == resolve(str(model_dir)).version != before
        model = (await client.get("/v1/model")).json()
        assert model["playbook"] == PLAYBOOK


@pytest.mark.slow
async def test_registry_alias_is_followed(
    world_model: TrainedWorld, playbook_model: FrictionModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real MLflow registry (embedded SQLite): moving `champion` swaps the served version."""
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    client.create_registered_model("friction-test")
    for model, folder in ((world_model.model, "v1"), (playbook_model, "v2")):
        client.create_model_version("friction-test", source=model.save(tmp_path / folder / "model").as_uri())
    client.set_registered_model_alias("friction-test", "champion", "1")
    holder = ModelHolder("models:/friction-test@champion", None, Metrics())
    assert holder.refresh()
    assert holder.current is not None
    assert (holder.current.name, holder.current.version) == ("friction-test", "1")
    client.set_registered_model_alias("friction-test", "champion", "2")
    assert holder.refresh()
    assert holder.current.version == "2"
    assert holder.current.playbook.actions == PLAYBOOK
    app = create_app(make_settings("models:/friction-test@champion"))
    async with app.router.lifespan_context(app), http_client(app) as api:
        ready = (await api.get("/readyz")).json()
    assert ready == {"status": "ready", "model": {"name": "friction-test", "version": "2"}, "store": "ready"}
