"""The request path's shortcuts give the answers of the plain paths they replace: LightGBM's
single-row predictor, bodies validated from their bytes (and documented as before), timestamps
converted in bulk."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from serving.served import ServedModel
from serving.single_row import RowPredictor
from tests.serving.bodies import body, only_error
from tests.worlds import SmallWorld

pytestmark = pytest.mark.anyio

ROWS = 400


@pytest.fixture(scope="module")
def design_rows(world: SmallWorld, served: ServedModel) -> np.ndarray:
    """Design rows of real sessions, and the same rows with values scaled or missing (NaN)."""
    matrix = served.model.manifest.matrix(world.table.head(ROWS), strict=False)
    rng = np.random.default_rng(3)
    scale = rng.choice([0.0, 0.5, 2.0, np.nan], size=matrix.shape, p=[0.1, 0.2, 0.2, 0.5])
    varied = np.where(np.isnan(scale), np.nan, matrix * np.nan_to_num(scale, nan=1.0))
    return np.ascontiguousarray(np.vstack([matrix, varied]))


def test_single_row_path_is_booster_predict_bit_for_bit(served: ServedModel, design_rows: np.ndarray) -> None:
    booster = served.model.booster
    raw = booster.predict(design_rows, raw_score=True, num_threads=1)
    contributions = booster.predict(design_rows, pred_contrib=True, num_threads=1)
    assert np.array_equal(np.concatenate([served.raw_row(row) for row in design_rows]), raw)
    assert np.array_equal(np.vstack([served.contrib_row(row) for row in design_rows]), contributions)


def test_row_predictor_refuses_rows_it_cannot_read(served: ServedModel) -> None:
    predict = RowPredictor(served.model.booster, "raw")
    width = served.model.booster.num_feature()
    for wrong in (np.zeros(width + 1), np.zeros(width, dtype=np.float32), np.zeros((width, 2))[:, 0]):
        with pytest.raises(ValueError, match=f"C-contiguous float64 row of {width} values"):
            predict(wrong)


async def test_openapi_documents_the_bodies_routes_read_themselves(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for path, model in (
        ("/v1/score", "ScoreRequest"),
        ("/v1/score/batch", "BatchScoreRequest"),
        ("/v1/sessions/{session_id}/events", "AppendRequest"),
    ):
        operation = document["paths"][path]["post"]
        assert operation["requestBody"] == {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
        }
        assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/HTTPValidationError"
        }
        assert model in schemas
    assert {"EventIn", "HistoryIn", "ValidationError", "HTTPValidationError"} <= set(schemas)
    assert schemas["EventIn"]["properties"]["timestamp"] == {
        "type": "string",
        "format": "date-time",
        "title": "Timestamp",
    }
    assert schemas["EventIn"]["additionalProperties"] is False


async def test_the_key_is_checked_before_the_body_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/score", content=b'{"session_id": ', headers={"Content-Type": "application/json", "X-API-Key": ""}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("stamp", [1772445600, None, ["2026-03-02T10:00:00Z"]])
async def test_timestamps_must_be_text(client: httpx.AsyncClient, stamp: Any) -> None:
    events = [{"timestamp": stamp, "event": "page_view", "page": "/"}]
    error = only_error(await client.post("/v1/score", json=body(events=events)))
    assert error == {
        "type": "timestamp_type",
        "loc": ["body", "events", 0, "timestamp"],
        "msg": "must be an ISO 8601 timestamp, e.g. 2026-11-23T10:00:00Z "
        "(epoch numbers are refused, as JSON numbers and as text)",
    }


async def test_naive_offset_and_utc_timestamps_score_alike(client: httpx.AsyncClient) -> None:
    """A naive time is UTC; one naive event among aware ones takes the per-event path."""

    def at(*stamps: str) -> dict[str, Any]:
        events = [e | {"timestamp": s} for e, s in zip(body()["events"], stamps, strict=True)]
        return body(events=events)

    utc = at("2026-03-02T10:00:00Z", "2026-03-02T10:00:04Z", "2026-03-02T10:00:09Z")
    shifted = at("2026-03-02T12:00:00+02:00", "2026-03-02T07:00:04-03:00", "2026-03-02T10:00:09+00:00")
    mixed = at("2026-03-02T10:00:00", "2026-03-02T10:00:04Z", "2026-03-02 10:00:09")
    answers = [(await client.post("/v1/score", json=b)).json() for b in (utc, shifted, mixed)]
    assert all("risk" in a for a in answers), answers
    assert answers[1] == answers[0]
    assert answers[2] == answers[0]
