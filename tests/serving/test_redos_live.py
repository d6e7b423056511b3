"""A model whose taxonomy has a catastrophic rule (`^/(a+)+$`) is served by the real server
process; a session whose page backtracks ~2**40 times on Python's `re` is answered at once,
and `/healthz` answers while it runs (issue 20, item 2: the patterns run on RE2)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import pytest

from features.featurize import Featurizer
from features.taxonomy import TouchpointRule
from tests.serving.processes import request_json, serving_process, session_bodies
from tests.worlds import SmallWorld, train_world_model
from training.config import LightGBMParams, TrainConfig

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

RULE = "^/(a+)+$"
PAGE = "/" + "a" * 40 + "!"
# Generous: the answer takes milliseconds; a backtracking engine would take hours.
ANSWER_BOUND_S = 2.0
REQUESTS = 20  # in a row, so that /healthz is polled while they run


@pytest.fixture(scope="module")
def catastrophic_model(world: SmallWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    touchpoints = world.config.touchpoints
    rules = [*touchpoints.rules, TouchpointRule(touchpoint="home", url=RULE)]
    config = world.config.model_copy(update={"touchpoints": touchpoints.model_copy(update={"rules": rules})})
    table = Featurizer(config)(world.world.events).frame
    shop = dataclasses.replace(world, config=config, table=table)
    lightgbm = LightGBMParams(learning_rate=0.2, num_leaves=7, min_child_samples=40, num_threads=1)
    trained = train_world_model(
        shop,
        tmp_path_factory.mktemp("redos") / "model",
        TrainConfig(lightgbm=lightgbm, early_stopping_rounds=10),
    )
    return trained.path


def test_the_catastrophic_page_is_answered_and_healthz_stays_up(
    catastrophic_model: Path, world: SmallWorld, tmp_path: Path
) -> None:
    carried = json.loads((catastrophic_model / "featurizer.json").read_text())
    assert RULE in json.dumps(carried)  # the served model runs the rule itself
    assert len(PAGE) == 42
    body = session_bodies(world.world.events, world.config.events.context_columns(), length=5, limit=1)[0]
    body["events"] = [event | {"page": PAGE} for event in body["events"]]
    health: list[int] = []
    stop = threading.Event()

    def poll_healthz(url: str) -> None:
        while not stop.is_set():
            health.append(request_json(f"{url}/healthz", key=None, timeout=5)[0])
            time.sleep(0.01)

    with serving_process(str(catastrophic_model), tmp_path) as server:
        request_json(f"{server.url}/v1/score", body)  # warm: the first request builds caches
        poller = threading.Thread(target=poll_healthz, args=(server.url,), daemon=True)
        poller.start()
        try:
            timings, answers = [], []
            for _ in range(REQUESTS):
                started = time.perf_counter()
                answers.append(request_json(f"{server.url}/v1/score", body, timeout=30))
                timings.append(time.perf_counter() - started)
        finally:
            stop.set()
            poller.join(timeout=10)
    status, answer = answers[-1]
    assert status == 200, answer
    assert 0.0 <= answer["risk"] <= 1.0
    assert {code for code, _ in answers} == {200}
    assert max(timings) < ANSWER_BOUND_S, f"slowest answer {max(timings):.3f} s"
    assert health
    assert set(health) == {200}
