"""`friction features` on the local engine: events -> one row of moment features per session,
written atomically as Parquet plus a manifest JSON."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.config import FrictionConfig
from features.featurize import Featurizer
from features.labels import attach_survey_labels
from pipelines.engines import featurize_local, featurize_spark
from pipelines.ingest import IngestSummary, load_events
from pipelines.readers import read_events
from pipelines.writers import write_json, write_parquet

__all__ = ["FeaturesSummary", "file_digest", "run_features"]


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

    def as_rows(self) -> dict[str, Any]:
        return {
            "rows read": self.ingest.rows_in,
            "rows quarantined": self.ingest.rows_quarantined,
            "sessions": self.sessions,
            "features": self.features,
            "labelled sessions": self.labelled,
            "dissatisfied (labelled)": self.positives,
            "wrote features": str(self.output),
            "wrote manifest": str(self.manifest),
            "seconds": self.seconds,
        }


def file_digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files in name order."""
    digest = hashlib.sha256()
    for part in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if part.is_file():
            with part.open("rb") as handle:  # streamed: inputs can be larger than memory
                digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def run_features(
    config: FrictionConfig,
    events_path: Path,
    out: Path,
    quarantine: Path,
    engine: str = "local",
    spark_master: str | None = None,
) -> FeaturesSummary:
    started = time.perf_counter()
    events, ingest = load_events(events_path, config, quarantine_path=quarantine)
    if engine == "spark":
        table = featurize_spark(events, config, master=spark_master or "local[2]")
    else:
        table = featurize_local(events, config)
    plan = Featurizer(config).plan(list(events.columns))
    if config.label.kind == "survey" and config.label.survey is not None:
        table = attach_survey_labels(table, read_events(config.label.survey.path), config.label)
    write_parquet(table, out)
    manifest_path = out.with_suffix(".manifest.json")
    manifest = {
        "features": plan.catalog.to_records(),
        "skipped_signals": dict(plan.skipped),
        "dtypes": {name: str(dtype) for name, dtype in table.dtypes.items()},
        "rows": {
            "in": ingest.rows_in,
            "kept": ingest.rows_kept,
            "quarantined": ingest.rows_quarantined,
            "sessions": len(table),
        },
        "input": {"path": str(events_path), "sha256": file_digest(events_path)},
        "config": config.model_dump(mode="json"),
        "engine": engine if spark_master is None else f"{engine} ({spark_master})",
    }
    write_json(manifest, manifest_path)
    labelled = table["label_known"].to_numpy(dtype=bool)
    return FeaturesSummary(
        ingest=ingest,
        sessions=len(table),
        features=len(plan.catalog.names),
        labelled=int(labelled.sum()),
        positives=int(table["label"].to_numpy()[labelled].sum()),
        output=out,
        manifest=manifest_path,
        seconds=time.perf_counter() - started,
    )
