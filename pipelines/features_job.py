"""`friction features` on the local engine: events -> one row of moment features per session,
written atomically as Parquet plus a manifest JSON."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.config import FrictionConfig
from features.coverage import Coverage, measure_coverage
from features.digests import file_sha256
from features.errors import ConfigError
from features.events import normalize_events
from features.labels import attach_survey_labels
from pipelines.crashpoints import reached
from pipelines.engines import EngineOutput, featurize_local, featurize_spark
from pipelines.ingest import IngestSummary, load_events
from pipelines.progress import NoProgress, Progress
from pipelines.readers import iter_event_batches, read_events
from pipelines.streaming import DEFAULT_MEMORY_BUDGET_MB, featurize_streaming, plan_memory
from pipelines.writers import commit_together, json_text, staged_path, write_parquet_file

__all__ = ["FeaturesSummary", "run_features"]


@dataclass(frozen=True)
class FeaturesSummary:
    ingest: IngestSummary
    sessions: int
    features: int
    labelled: int
    positives: int
    output: Path
    manifest: Path
    seconds: float
    coverage: Coverage | None = None
    coverage_sampled: bool = False  # measured on the first rows only (the streamed path)

    def as_rows(self) -> dict[str, Any]:
        unidentifiable = self.ingest.rows_unidentifiable
        coverage = self.coverage.as_rows() if self.coverage is not None else {}
        if coverage and self.coverage_sampled:
            coverage = {f"{key} (sample)": value for key, value in coverage.items()}
        counts = {
            "rows read": self.ingest.rows_in,
            "rows quarantined": self.ingest.rows_quarantined,
            **({"rows unidentifiable (no user or session id)": unidentifiable} if unidentifiable else {}),
            "sessions": self.sessions,
            "features": self.features,
            "labelled sessions": self.labelled,
            "dissatisfied (labelled)": self.positives,
        }
        written = {
            "wrote features": str(self.output),
            "wrote manifest": str(self.manifest),
            "seconds": self.seconds,
        }
        return counts | coverage | written


def run_features(
    config: FrictionConfig,
    events_path: Path,
    out: Path,
    quarantine: Path,
    engine: str = "local",
    spark_master: str | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    progress: Progress | None = None,
    streaming: bool | None = None,
) -> FeaturesSummary:
    """Featurize `events_path` into `out` (Parquet) and its manifest JSON beside it.

    The local engine reads the input whole when it fits `memory_budget_mb` (MiB), else it
    streams it (pipelines/streaming.py); `streaming` forces one way or the other.
    Both write the same table.
    """
    started = time.perf_counter()
    progress = progress or NoProgress()
    surveys = None
    if config.label.kind == "survey" and config.label.survey is not None:
        if not config.label.survey.path.exists():
            raise ConfigError(
                f"[label.survey] path {config.label.survey.path} does not exist; give the survey "
                "responses (a relative path is taken from the config's folder)"
            )
        surveys = read_events(config.label.survey.path)
    manifest_path = out.with_suffix(".manifest.json")
    with staged_path(out) as staged_table, staged_path(manifest_path) as staged_manifest:
        memory = plan_memory(events_path, memory_budget_mb) if engine == "local" else None
        coverage: Coverage | None
        if memory is not None and (streaming if streaming is not None else not memory.fits_in_memory):
            coverage, sampled = _sampled_coverage(events_path, config), True
            streamed = featurize_streaming(
                events_path, config, staged_table, quarantine, memory, surveys, progress
            )
            ingest, output = streamed.ingest, streamed.features
            sessions, labelled, positives = streamed.sessions, streamed.labelled, streamed.positives
            how = f"local (streamed: {streamed.partitions} partitions, memory budget {memory_budget_mb:g} MB)"
        else:
            progress.stage(f"Featurizing {events_path.name} ({engine} engine)", None)
            events, ingest = load_events(events_path, config, quarantine_path=quarantine)
            coverage = measure_coverage(events, config)
            sampled = False
            if engine == "spark":
                output = featurize_spark(events, config, master=spark_master or "local[2]")
            else:
                output = featurize_local(events, config)
            del events
            table = output.table
            if surveys is not None:
                table = attach_survey_labels(table, surveys, config.label)
                output = EngineOutput(table, output.counts, output.catalog, output.skipped_signals)
            write_parquet_file(table, staged_table)
            known = table["label_known"].to_numpy(dtype=bool)
            sessions, labelled = len(table), int(known.sum())
            positives = int((table["label"][known] == 1).sum())
            how = engine if spark_master is None else f"{engine} ({spark_master})"
        reached("features:table-staged")
        manifest = output.manifest() | {
            "dtypes": {str(name): str(dtype) for name, dtype in output.table.dtypes.items()},
            "rows": {
                "in": ingest.rows_in,
                "kept": ingest.rows_kept,
                "quarantined": ingest.rows_quarantined,
                "unidentifiable": ingest.rows_unidentifiable,
                "sessions": sessions,
            },
            "input": {"path": str(events_path), "sha256": file_sha256(events_path)},
            # What `train`, `score` and `report` check the table against (pipelines/feature_table.py).
            "table": {"sha256": file_sha256(staged_table), "bytes": staged_table.stat().st_size},
            "config": config.model_dump(mode="json"),
            "engine": how,
            "coverage": None if coverage is None else coverage.as_json() | {"sampled": sampled},
        }
        staged_manifest.write_text(json_text(manifest), encoding="utf-8")
        reached("features:manifest-staged")
        commit_together({out: staged_table, manifest_path: staged_manifest})
    return FeaturesSummary(
        ingest=ingest,
        sessions=sessions,
        features=len(output.catalog.names),
        labelled=labelled,
        positives=positives,
        output=out,
        manifest=manifest_path,
        seconds=time.perf_counter() - started,
        coverage=coverage,
        coverage_sampled=sampled,
    )


# Rows the streamed path measures coverage on: the input is larger than memory.
_COVERAGE_SAMPLE_ROWS = 1_000_000


def _sampled_coverage(events_path: Path, config: FrictionConfig) -> Coverage | None:
    """Coverage of the file's first rows, for an input that is streamed rather than read whole."""
    first = next(iter_event_batches(events_path, _COVERAGE_SAMPLE_ROWS), None)
    if first is None:
        return None  # an empty input: the streamed run says so itself
    events = normalize_events(first, config.events).events
    return measure_coverage(events, config)
