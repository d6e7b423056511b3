"""serving: the risk API (FastAPI). `serving.app.create_app(settings)` builds it.

    POST /v1/score                    one session's events so far -> risk, band, drivers, actions
    POST /v1/score/batch              several sessions, each answered as /v1/score would
    POST /v1/sessions/{id}/events     append events to a live session -> its risk now
    GET  /v1/sessions/{id}            its risk from the events appended so far
    GET  /v1/model                    name, version, features, thresholds, metrics, playbook
    GET  /healthz, /readyz, /metrics  probes (503 until a model is loaded), Prometheus

Modules: settings (FRICTION_* environment), app (wiring, lifespan), deps (what routes read
of the app's state), routes/ (one router per resource), schemas/ (requests and responses
apart), security (API keys, JSON only: the /v1 routes' route class), body_limit, limits
(settings' limits, 422 naming the field), columns (request -> the featurizer's one-session
fast path), scoring (model's featurizer, LightGBM, calibrator, TreeSHAP drivers), playbook,
loader (load, smoke score, hot reload), metrics, observe (request ids, JSON access log),
handlers (error bodies), store (sessions).
"""
