"""The reference next to `friction serve` in bench_serve: FastAPI validating the same score
request body (`serving.schemas.requests.ScoreRequest`) and returning a small JSON answer,
doing nothing else. Not a `bench_*` module: the runner does not run it on its own.

    uvicorn serve_reference:create_app --factory --app-dir tests/benchmarks
"""

from __future__ import annotations

from fastapi import FastAPI

from serving.schemas.requests import ScoreRequest


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/score")
    async def score(body: ScoreRequest) -> dict[str, object]:
        return {"session_id": body.session_id, "events": len(body.events), "risk": 0.0}

    return app
