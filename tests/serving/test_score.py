"""`POST /v1/score` and `/v1/score/batch`: batch parity, explanations, playbook, behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.explain import top_drivers
from models.impact import Scope, counterfactual, scope_of_feature
from pipelines.cli import app as cli
from serving.served import ServedModel
from tests.serving.bodies import histories, score_body
from tests.worlds import SmallWorld, TrainedWorld

pytestmark = pytest.mark.anyio

PARITY_SESSIONS = 60


@pytest.fixture(scope="module")
def history(world: SmallWorld) -> dict[str, dict[str, Any]]:
    return histories(world.table)


@pytest.fixture(scope="module")
def sample(world: SmallWorld) -> list[str]:
    """Sessions of every kind: returning users, dissatisfied ones (label events), payment errors."""
    table = world.table
    rng = np.random.default_rng(7)
    picks = set(rng.choice(table["session_id"].to_numpy(), PARITY_SESSIONS // 2, replace=False).tolist())
    picks |= set(table.loc[table["session__prior_sessions"] > 0, "session_id"].head(10))
    picks |= set(table.loc[table["label"] == 1, "session_id"].head(10))
    picks |= set(table.loc[table["payment__errors"] > 0, "session_id"].head(10))
    return sorted(picks)


def _body(
    world: SmallWorld, history: dict[str, dict[str, Any]], session_id: str, **extra: Any
) -> dict[str, Any]:
    context = tuple(world.config.events.context_columns())
    return score_body(world.world.events, session_id, context, history[session_id], **extra)


async def test_scores_equal_batch_scoring_exactly(
    client: httpx.AsyncClient,
    world: SmallWorld,
    world_model: TrainedWorld,
    history: dict[str, dict[str, Any]],
    sample: list[str],
) -> None:
    table = world.table.set_index("session_id", drop=False).loc[sample]
    expected = world_model.model.predict_proba(table)
    bands = world_model.model.band(expected)
    body = {"sessions": [_body(world, history, sid, explain=False) for sid in sample]}
    response = await client.post("/v1/score/batch", json=body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["session_id"] for r in results] == sample
    assert [r["risk"] for r in results] == expected.tolist()
    assert [r["band"] for r in results] == bands.tolist()
    # One at a time, the same numbers.
    for sid, risk in list(zip(sample, expected.tolist(), strict=True))[:8]:
        single = await client.post("/v1/score", json=_body(world, history, sid))
        assert single.status_code == 200
        assert single.json()["risk"] == risk


async def test_score_body_has_drivers_with_words_and_model(
    client: httpx.AsyncClient, world: SmallWorld, history: dict[str, dict[str, Any]], served: ServedModel
) -> None:
    sid = str(world.table.loc[world.table["payment__errors"] > 1, "session_id"].iloc[0])
    response = await client.post("/v1/score", json=_body(world, history, sid, top=4))
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"name": served.name, "version": served.version}
    assert body["events"] == int((world.world.events["session_id"] == sid).sum())
    drivers = body["drivers"]
    assert 1 <= len(drivers) <= 4
    assert [d["contribution"] for d in drivers] == sorted((d["contribution"] for d in drivers), reverse=True)
    assert all(d["contribution"] > 0 and d["risk_points"] > 0 for d in drivers)
    assert set(drivers[0]) == {
        "touchpoint", "feature", "family", "value", "contribution", "risk_points", "sentence",
        "risk_without", "action",
    }  # fmt: skip
    payment = [d for d in drivers if d["touchpoint"] == "payment"]
    assert payment, drivers  # two payment errors drive this session's risk
    assert "payment" in payment[0]["sentence"]


async def test_a_payment_error_driver_says_the_risk_without_it(
    client: httpx.AsyncClient,
    world: SmallWorld,
    world_model: TrainedWorld,
    history: dict[str, dict[str, Any]],
) -> None:
    """A session with payment errors: its payment-error driver's `risk_without` is the risk the
    counterfactual gives with them removed, lower than the session's; exposure drivers have none."""
    model = world_model.model
    table = world.table.set_index("session_id", drop=False)
    sessions = table.loc[table["payment__errors"] > 1, "session_id"].head(10).tolist()
    body = {"sessions": [_body(world, history, s, top=6, explain=True) for s in sessions]}
    response = await client.post("/v1/score/batch", json=body)
    assert response.status_code == 200, response.text
    errors = exposure = 0
    for sid, result in zip(sessions, response.json()["results"], strict=True):
        cf = counterfactual(model, table.loc[[sid]], [Scope("payment", "errors")])
        for driver in result["drivers"]:
            scope = scope_of_feature(model, driver["feature"])
            if scope is None:
                exposure += 1
                assert driver["risk_without"] is None, driver
            elif driver["feature"] == "payment__errors":
                errors += 1
                assert driver["risk_without"] == cf.risk_without(0)[0]
                assert driver["risk_without"] < result["risk"]
    assert errors
    assert exposure


async def test_drivers_equal_the_batch_explanation(
    client: httpx.AsyncClient,
    world: SmallWorld,
    world_model: TrainedWorld,
    history: dict[str, dict[str, Any]],
    sample: list[str],
) -> None:
    chosen = sample[:20]
    table = world.table.set_index("session_id", drop=False).loc[chosen]
    model = world_model.model
    raw = model.predict_raw(table)
    expected = top_drivers(model, table, model.contributions(table), k=3, raw=raw, what_if=True)
    response = await client.post(
        "/v1/score/batch", json={"sessions": [_body(world, history, s) for s in chosen]}
    )
    assert response.status_code == 200
    for result, drivers in zip(response.json()["results"], expected, strict=True):
        got = [
            (d["feature"], d["touchpoint"], d["family"], d["value"], d["sentence"]) for d in result["drivers"]
        ]
        assert got == [(d.feature, d.touchpoint, d.family, d.value, d.sentence) for d in drivers]
        assert [d["contribution"] for d in result["drivers"]] == [d.contribution for d in drivers]
        assert [d["risk_without"] for d in result["drivers"]] == [d.risk_without for d in drivers]


async def test_explain_false_skips_drivers(
    client: httpx.AsyncClient, world: SmallWorld, history: dict[str, dict[str, Any]], sample: list[str]
) -> None:
    with_drivers = (await client.post("/v1/score", json=_body(world, history, sample[0]))).json()
    without = (await client.post("/v1/score", json=_body(world, history, sample[0], explain=False))).json()
    assert without["drivers"] is None
    assert without["risk"] == with_drivers["risk"]
    assert isinstance(with_drivers["drivers"], list)


async def test_batch_gives_each_session_its_own_explain_and_top(
    client: httpx.AsyncClient, world: SmallWorld, history: dict[str, dict[str, Any]], sample: list[str]
) -> None:
    bodies = [_body(world, history, sample[0], top=1), _body(world, history, sample[1], explain=False)]
    results = (await client.post("/v1/score/batch", json={"sessions": bodies})).json()["results"]
    single = (await client.post("/v1/score", json=bodies[0])).json()
    assert results[0] == single
    assert len(results[0]["drivers"]) <= 1
    assert results[1]["drivers"] is None


async def test_renaming_the_session_keeps_its_score(
    client: httpx.AsyncClient, world: SmallWorld, history: dict[str, dict[str, Any]], sample: list[str]
) -> None:
    for sid in sample[:5]:
        original = (await client.post("/v1/score", json=_body(world, history, sid))).json()
        body = _body(world, history, sid) | {"session_id": "zz-renamed"}
        renamed = (await client.post("/v1/score", json=body)).json()
        assert renamed["session_id"] == "zz-renamed"
        assert renamed["risk"] == original["risk"]
        assert renamed["drivers"] == original["drivers"]


def _until_payment(world: SmallWorld) -> list[tuple[str, list[dict[str, Any]]]]:
    """Sessions that reached payment without trouble, cut at their first payment page view."""
    events = world.world.events
    pages = events["page"].astype(str)
    errors = events[(events["event"] == "error")]["session_id"].unique()
    on_payment = events[(pages == "/checkout/payment") & (events["event"] == "page_view")]
    out = []
    for sid, rows in on_payment.groupby("session_id", observed=True, sort=True):
        if sid in set(errors) or len(out) >= 25:
            continue
        session = events[events["session_id"] == sid]
        cut = session.loc[: rows.index[0]]
        out.append((str(sid), [_event_json(r) for r in cut.to_dict("records")]))
    return out


def _event_json(record: dict[str, Any]) -> dict[str, Any]:
    event = {"timestamp": pd.Timestamp(record["timestamp"]).isoformat(), "event": str(record["event"])}
    return event | {"page": str(record["page"])}


async def _risks_with_payment_errors(client: httpx.AsyncClient, world: SmallWorld) -> list[list[float]]:
    """Per session cut at payment: the risk with 0, 1, 2, 3 payment errors added (2 s apart)."""
    context = {name: "web" if name == "platform" else None for name in world.config.events.context_columns()}
    sessions = _until_payment(world)
    assert len(sessions) >= 10
    out = []
    for sid, events in sessions:
        risks = []
        last = pd.Timestamp(events[-1]["timestamp"])
        for errors in range(4):
            extra = [
                {
                    "timestamp": (last + pd.Timedelta(seconds=2 * (k + 1))).isoformat(),
                    "event": "error",
                    "page": "/checkout/payment",
                    "target": "payment_declined",
                }
                for k in range(errors)
            ]
            body = {"session_id": sid, "events": events + extra, "context": context, "explain": False}
            response = await client.post("/v1/score", json=body)
            assert response.status_code == 200, response.text
            risks.append(response.json()["risk"])
        out.append(risks)
    return out


async def test_payment_errors_raise_the_risk(client: httpx.AsyncClient, world: SmallWorld) -> None:
    for risks in await _risks_with_payment_errors(client, world):
        assert risks[1] > risks[0], risks  # the first payment error always raises it
        assert min(risks[1:]) > risks[0], risks  # and more never bring it back to where it was


@pytest.mark.xfail(
    strict=True,
    reason="the risk is monotone in every friction count now (`[train] monotone_friction`), but an "
    "added error event also raises `session__events` and `session__pace_epm`, shape features left "
    "unconstrained, whose learned dips still lower the risk of 4 of 25 sessions by up to ~5 points",
)
async def test_more_payment_errors_never_lower_the_risk(client: httpx.AsyncClient, world: SmallWorld) -> None:
    for risks in await _risks_with_payment_errors(client, world):
        assert risks == sorted(risks), risks


async def test_scores_equal_friction_score_exactly(
    client: httpx.AsyncClient,
    world: SmallWorld,
    world_model: TrainedWorld,
    history: dict[str, dict[str, Any]],
    sample: list[str],
    tmp_path: Path,
) -> None:
    """`friction score --explain` on the world's events file, and the API on the same sessions."""
    out = tmp_path / "scores.parquet"
    command = ["score", "--model", str(world_model.path), "--events", str(world.paths["events"])]
    result = CliRunner().invoke(cli, [*command, "--out", str(out), "--explain"])
    assert result.exit_code == 0, result.output
    batch = pd.read_parquet(out).set_index("session_id").loc[sample]
    response = await client.post(
        "/v1/score/batch", json={"sessions": [_body(world, history, s) for s in sample]}
    )
    results = response.json()["results"]
    assert [r["risk"] for r in results] == batch["risk"].tolist()
    assert [r["band"] for r in results] == batch["band"].tolist()
    for result_row, (_, row) in zip(results, batch.iterrows(), strict=True):
        features = [row[f"driver_{i}_feature"] for i in (1, 2, 3) if not pd.isna(row[f"driver_{i}_feature"])]
        assert [d["feature"] for d in result_row["drivers"]] == features
        sentences = [row[f"driver_{i}_sentence"] for i in range(1, len(features) + 1)]
        assert [d["sentence"] for d in result_row["drivers"]] == sentences
        without = [row[f"driver_{i}_risk_without"] for i in range(1, len(features) + 1)]
        assert [d["risk_without"] for d in result_row["drivers"]] == [
            None if pd.isna(w) else w for w in without
        ]
    assert any(d["risk_without"] is not None for r in results for d in r["drivers"])


async def test_the_openapi_schema_documents_risk_without(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["DriverOut"]
    field = schema["properties"]["risk_without"]
    assert "risk_without" in schema["required"]  # always sent; null for exposure
    assert {"type": "null"} in field["anyOf"]
    assert "exposure" in field["description"]
