"""Prometheus metrics of the risk API, in a registry of the app's own (no global state).

With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR (an empty folder, before the
workers start): prometheus_client then keeps every value in files there, and `/metrics`
merges all workers' files on each scrape.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
RISK_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry()
        labels = ("route", "method", "status")
        self.requests = Counter(
            "friction_http_requests",
            "HTTP requests by route template and status",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "friction_http_request_duration_seconds",
            "HTTP request latency by route template and status",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.risk = Histogram(
            "friction_risk_score",
            "Calibrated risk of the sessions scored",
            buckets=RISK_BUCKETS,
            registry=self.registry,
        )
        self.batch_sessions = Histogram(
            "friction_score_batch_sessions",
            "Sessions of concurrent requests scored together (serving.batcher)",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.reloads = Counter(
            "friction_model_reloads", "Model versions swapped in after startup", registry=self.registry
        )
        self.reload_failures = Counter(
            "friction_model_reload_failures",
            "Model versions that failed to load or to pass the smoke score (never served)",
            registry=self.registry,
        )
        self.model_info = Gauge(
            "friction_model_info",
            "The model version being served (value 1)",
            ("name", "version"),
            multiprocess_mode="liveall",
            registry=self.registry,
        )
        # (route, method, status) -> its request counter and latency histogram; bounded: route
        # templates, methods and status codes are each a small fixed set.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        found = self._children.get(key)
        if found is None:  # `labels` resolves a child per call: once per label set is enough
            code = str(status)
            found = self._children[key] = (
                self.requests.labels(route, method, code),
                self.latency.labels(route, method, code),
            )
        found[0].inc()
        found[1].observe(seconds)

    def serving(self, name: str, version: str) -> None:
        """Mark `name` `version` as the one served (and no other)."""
        self.model_info.clear()
        self.model_info.labels(name, version).set(1)

    def close(self) -> None:
        """On a worker's shutdown: drop its live gauges (the model it served) from the folder."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def exposition(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)
